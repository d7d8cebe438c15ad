// AssemblyScript source of the capture kernels, compiled at build time by scripts/build-kernels.mjs
// with the guest's shared memory imported. Every pointer is a byte offset into that one memory, so a
// run of adjacent dirty pages moves into the staging slab with a single `memory.copy`, which V8
// lowers to memmove: the per-call overhead that holds JavaScript per-page copies to a third of
// memcpy is gone. Scattered single pages are copied four at a time, interleaved: one page at a time
// waits for each page's DRAM and TLB misses in turn, four streams keep several misses in flight.
// A capture is two calls: `collect` takes the dirty bits and describes the runs, `copyRuns` copies
// them (in a large capture the caller copies the long runs itself, see LARGE_CAPTURE_BYTES).
//
// The module must hold no data segments: an imported memory would get them written over guest pages
// at every instantiation. The build script refuses a module that has any.

// The result block the caller reads after a call: three u32.
const RESULT_PAGES: usize = 0;
const RESULT_BYTES: usize = 4;
const RESULT_COMPLETE: usize = 8;

// A run descriptor: first page, page count, byte offset in the slab (three u32).
const RUN_BYTES: usize = 12;

// Set bits at positions >= bit (none when bit is 32).
function bitsFrom(bit: u32): u32 {
  return bit >= 32 ? 0 : 0xffffffff << bit;
}

function writeRun(runsPtr: usize, run: u32, start: u32, len: u32, offset: usize): void {
  const entry = runsPtr + <usize>run * RUN_BYTES;
  store<u32>(entry, start);
  store<u32>(entry, len, 4);
  store<u32>(entry, <u32>offset, 8);
}

function writeResult(resultPtr: usize, used: u32, pageShift: u32, complete: u32): void {
  store<u32>(resultPtr + RESULT_PAGES, used);
  store<u32>(resultPtr + RESULT_BYTES, used << pageShift);
  store<u32>(resultPtr + RESULT_COMPLETE, complete);
}

// Copies four pages (a multiple of 64 bytes each) with their loads interleaved.
function copy4(
  d0: usize,
  s0: usize,
  d1: usize,
  s1: usize,
  d2: usize,
  s2: usize,
  d3: usize,
  s3: usize,
  n: usize,
): void {
  for (let i: usize = 0; i < n; i += 64) {
    const a0 = v128.load(s0 + i);
    const a1 = v128.load(s0 + i, 16);
    const a2 = v128.load(s0 + i, 32);
    const a3 = v128.load(s0 + i, 48);
    const b0 = v128.load(s1 + i);
    const b1 = v128.load(s1 + i, 16);
    const b2 = v128.load(s1 + i, 32);
    const b3 = v128.load(s1 + i, 48);
    v128.store(d0 + i, a0);
    v128.store(d0 + i, a1, 16);
    v128.store(d0 + i, a2, 32);
    v128.store(d0 + i, a3, 48);
    v128.store(d1 + i, b0);
    v128.store(d1 + i, b1, 16);
    v128.store(d1 + i, b2, 32);
    v128.store(d1 + i, b3, 48);
    const c0 = v128.load(s2 + i);
    const c1 = v128.load(s2 + i, 16);
    const c2 = v128.load(s2 + i, 32);
    const c3 = v128.load(s2 + i, 48);
    const e0 = v128.load(s3 + i);
    const e1 = v128.load(s3 + i, 16);
    const e2 = v128.load(s3 + i, 32);
    const e3 = v128.load(s3 + i, 48);
    v128.store(d2 + i, c0);
    v128.store(d2 + i, c1, 16);
    v128.store(d2 + i, c2, 32);
    v128.store(d2 + i, c3, 48);
    v128.store(d3 + i, e0);
    v128.store(d3 + i, e1, 16);
    v128.store(d3 + i, e2, 32);
    v128.store(d3 + i, e3, 48);
  }
}

/**
 * The second pass of a capture: copies into the slab the runs of the table that are at most
 * `maxRunPages` long (the caller copies longer ones itself, or passes 0xffffffff). Scattered single
 * pages are copied four at a time.
 */
export function copyRuns(
  guestPtr: usize,
  pageShift: u32,
  slabPtr: usize,
  runsPtr: usize,
  runs: u32,
  maxRunPages: u32,
): void {
  const pageSize = (<usize>1) << pageShift;
  let r: u32 = 0;
  while (r < runs) {
    const e = runsPtr + <usize>r * RUN_BYTES;
    if (
      maxRunPages !== 0 &&
      r + 4 <= runs &&
      load<u32>(e, 4) === 1 &&
      load<u32>(e, 16) === 1 &&
      load<u32>(e, 28) === 1 &&
      load<u32>(e, 40) === 1
    ) {
      copy4(
        slabPtr + load<u32>(e, 8),
        guestPtr + ((<usize>load<u32>(e)) << pageShift),
        slabPtr + load<u32>(e, 20),
        guestPtr + ((<usize>load<u32>(e, 12)) << pageShift),
        slabPtr + load<u32>(e, 32),
        guestPtr + ((<usize>load<u32>(e, 24)) << pageShift),
        slabPtr + load<u32>(e, 44),
        guestPtr + ((<usize>load<u32>(e, 36)) << pageShift),
        pageSize,
      );
      r += 4;
    } else {
      const len = load<u32>(e, 4);
      if (len <= maxRunPages) {
        memory.copy(
          slabPtr + load<u32>(e, 8),
          guestPtr + ((<usize>load<u32>(e)) << pageShift),
          (<usize>len) << pageShift,
        );
      }
      r++;
    }
  }
}

/**
 * The first pass of a capture: swaps the dirty bitmap (one atomic exchange per non-zero word) and
 * describes the dirty pages as runs of adjacent pages with their offsets in the slab. Returns the
 * number of runs written at `runsPtr`; `copyRuns` copies them next. A page is copied after its bit
 * was taken, which is all a concurrent writer needs. When the slab would overflow, the bits of the
 * pages left out are put back and RESULT_COMPLETE is 0.
 */
export function collect(
  pageCount: u32,
  pageShift: u32,
  bitmapPtr: usize,
  slabPages: u32,
  runsPtr: usize,
  resultPtr: usize,
): u32 {
  const words = (pageCount + 31) >> 5;
  const tail = pageCount & 31;
  let runs: u32 = 0;
  let start: u32 = 0;
  let len: u32 = 0;
  let used: u32 = 0;
  let complete: u32 = 1;
  for (let w: u32 = 0; w < words && complete !== 0; w++) {
    const wordPtr = bitmapPtr + ((<usize>w) << 2);
    if (atomic.load<u32>(wordPtr) === 0) continue;
    let bits = atomic.xchg<u32>(wordPtr, 0);
    // Bits past the last page belong to no page.
    if (w === words - 1 && tail !== 0) bits &= (1 << tail) - 1;
    while (bits !== 0) {
      const bit = ctz<u32>(bits);
      let count = ctz<u32>(~(bits >> bit));
      const free = slabPages - used - len;
      if (count > free) {
        // The slab is full: the pages left out stay dirty for the next capture.
        atomic.or<u32>(wordPtr, bits & bitsFrom(bit + free));
        complete = 0;
        count = free;
        bits = 0;
        if (count === 0) break;
      }
      const page = (w << 5) + bit;
      if (len !== 0 && page === start + len) {
        len += count;
      } else {
        if (len !== 0) {
          writeRun(runsPtr, runs, start, len, (<usize>used) << pageShift);
          runs++;
          used += len;
        }
        start = page;
        len = count;
      }
      bits &= ~(bitsFrom(bit) ^ bitsFrom(bit + count));
    }
  }
  if (len !== 0) {
    writeRun(runsPtr, runs, start, len, (<usize>used) << pageShift);
    runs++;
    used += len;
  }
  writeResult(resultPtr, used, pageShift, complete);
  return runs;
}

// Whether two equally long regions (a multiple of 64 bytes) hold the same bytes.
function same(a: usize, b: usize, length: usize): bool {
  for (let i: usize = 0; i < length; i += 64) {
    const d0 = v128.xor(v128.load(a + i), v128.load(b + i));
    const d1 = v128.xor(v128.load(a + i, 16), v128.load(b + i, 16));
    const d2 = v128.xor(v128.load(a + i, 32), v128.load(b + i, 32));
    const d3 = v128.xor(v128.load(a + i, 48), v128.load(b + i, 48));
    if (v128.any_true(v128.or(v128.or(d0, d1), v128.or(d2, d3)))) return false;
  }
  return true;
}

// Copies a finished run into the slab, then refreshes the shadow FROM THE SLAB: the shadow must hold
// exactly the bytes this capture shipped, so a write that lands after the copy still differs from it.
function flushScanned(
  guestPtr: usize,
  shadowPtr: usize,
  pageShift: u32,
  slabPtr: usize,
  runsPtr: usize,
  run: u32,
  start: u32,
  len: u32,
  used: u32,
): void {
  const offset = (<usize>used) << pageShift;
  const bytes = (<usize>len) << pageShift;
  const at = (<usize>start) << pageShift;
  memory.copy(slabPtr + offset, guestPtr + at, bytes);
  memory.copy(shadowPtr + at, slabPtr + offset, bytes);
  writeRun(runsPtr, run, start, len, offset);
}

/**
 * Scan mode: a page is dirty if its bit is set or it differs from the shadow copy. Gathers like
 * `gather` and refreshes the shadow of every gathered page from the slab.
 */
export function scanGather(
  guestPtr: usize,
  pageShift: u32,
  pageCount: u32,
  bitmapPtr: usize,
  shadowPtr: usize,
  slabPtr: usize,
  slabPages: u32,
  runsPtr: usize,
  resultPtr: usize,
): u32 {
  const pageSize = (<usize>1) << pageShift;
  let runs: u32 = 0;
  let start: u32 = 0;
  let len: u32 = 0;
  let used: u32 = 0;
  let complete: u32 = 1;
  let bits: u32 = 0;
  let wordPtr: usize = bitmapPtr;
  for (let page: u32 = 0; page < pageCount; page++) {
    const bit = page & 31;
    if (bit === 0) {
      wordPtr = bitmapPtr + ((<usize>(page >> 5)) << 2);
      bits = atomic.load<u32>(wordPtr) === 0 ? 0 : atomic.xchg<u32>(wordPtr, 0);
    }
    const at = (<usize>page) << pageShift;
    const dirty = ((bits >> bit) & 1) !== 0 || !same(guestPtr + at, shadowPtr + at, pageSize);
    if (dirty) {
      if (used + len === slabPages) {
        // The slab is full: this page and the flagged pages after it in this word stay dirty; pages
        // that differ from the shadow are found again by the next scan.
        const rest = bits & bitsFrom(bit);
        if (rest !== 0) atomic.or<u32>(wordPtr, rest);
        complete = 0;
        break;
      }
      if (len !== 0 && page === start + len) {
        len++;
      } else {
        start = page;
        len = 1;
      }
    } else if (len !== 0) {
      flushScanned(guestPtr, shadowPtr, pageShift, slabPtr, runsPtr, runs, start, len, used);
      runs++;
      used += len;
      len = 0;
    }
  }
  if (len !== 0) {
    flushScanned(guestPtr, shadowPtr, pageShift, slabPtr, runsPtr, runs, start, len, used);
    runs++;
    used += len;
  }
  writeResult(resultPtr, used, pageShift, complete);
  return runs;
}
