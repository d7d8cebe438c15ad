// AssemblyScript source of the XBZRLE WebAssembly kernel (compiled by scripts/build-wasm.mjs, not by tsc).
// The encoder compares 16 bytes per SIMD instruction: a plain byte loop, in JavaScript or here,
// cannot keep up with QEMU's word-at-a-time C encoder. Output is byte-identical to the pure-JS
// fallback in ../codecs/xbzrle-js.ts; the tests hold the two against each other.

// The largest run length a two-byte ULEB128 can carry (QEMU's 14-bit limit).
const MAX_RUN: i32 = 16383;

// Where the JavaScript side may place its buffers: after the (empty) static data, 16-byte aligned.
export function scratchBase(): usize {
  return (__heap_base + 15) & ~(<usize>15);
}

function ulebSize(value: i32): i32 {
  return value > 127 ? 2 : 1;
}

function putUleb(out: usize, d: i32, value: i32): i32 {
  if (value > 127) {
    store<u8>(out + <usize>d, <u8>((value & 0x7f) | 0x80));
    store<u8>(out + <usize>d + 1, <u8>(value >> 7));
    return d + 2;
  }
  store<u8>(out + <usize>d, <u8>value);
  return d + 1;
}

// First index >= i where the pages differ, or len.
function scanEqual(o: usize, n: usize, i: i32, len: i32): i32 {
  while (i + 64 <= len) {
    const p = <usize>i;
    const e0 = i8x16.eq(v128.load(o + p), v128.load(n + p));
    const e1 = i8x16.eq(v128.load(o + p, 16), v128.load(n + p, 16));
    const e2 = i8x16.eq(v128.load(o + p, 32), v128.load(n + p, 32));
    const e3 = i8x16.eq(v128.load(o + p, 48), v128.load(n + p, 48));
    if (!i8x16.all_true(v128.and(v128.and(e0, e1), v128.and(e2, e3)))) break;
    i += 64;
  }
  while (i + 16 <= len) {
    const p = <usize>i;
    const m = i8x16.bitmask(i8x16.eq(v128.load(o + p), v128.load(n + p)));
    if (m !== 0xffff) return i + ctz<i32>(~m);
    i += 16;
  }
  while (i < len && load<u8>(o + <usize>i) === load<u8>(n + <usize>i)) i++;
  return i;
}

// First index >= i where the pages are equal, or len.
function scanDiff(o: usize, n: usize, i: i32, len: i32): i32 {
  while (i + 16 <= len) {
    const p = <usize>i;
    const m = i8x16.bitmask(i8x16.eq(v128.load(o + p), v128.load(n + p)));
    if (m !== 0) return i + ctz<i32>(m);
    i += 16;
  }
  while (i < len && load<u8>(o + <usize>i) !== load<u8>(n + <usize>i)) i++;
  return i;
}

// Encodes new (at n) against old (at o), both len bytes, into out. Returns the delta length, 0 for an
// unchanged page, or -1 when the delta would exceed limit bytes or a changed run exceeds 14 bits.
export function encode(o: usize, n: usize, len: i32, out: usize, limit: i32): i32 {
  let i: i32 = 0;
  let d: i32 = 0;
  while (i < len) {
    let zStart = i;
    i = scanEqual(o, n, i, len);
    if (i >= len) break;
    let z = i - zStart;
    let nzStart = i;
    // Unchanged runs longer than 14 bits are split by sending one unchanged byte as a literal.
    while (z > MAX_RUN) {
      if (z === MAX_RUN + 1) {
        z = MAX_RUN;
        nzStart = i - 1;
        break;
      }
      if (d + 4 > limit) return -1;
      d = putUleb(out, d, MAX_RUN);
      d = putUleb(out, d, 1);
      store<u8>(out + <usize>d, load<u8>(n + <usize>(zStart + MAX_RUN)));
      d += 1;
      zStart += MAX_RUN + 1;
      z -= MAX_RUN + 1;
    }
    i = scanDiff(o, n, i, len);
    const nz = i - nzStart;
    if (nz > MAX_RUN) return -1;
    if (d + ulebSize(z) + ulebSize(nz) + nz > limit) return -1;
    d = putUleb(out, d, z);
    d = putUleb(out, d, nz);
    memory.copy(out + <usize>d, n + <usize>nzStart, <usize>nz);
    d += nz;
  }
  return d;
}

// Offset in the delta of the first malformed byte, set when decode returns an error.
let errorOffset: i32 = 0;

export function lastErrorOffset(): i32 {
  return errorOffset;
}

// Reads a ULEB128 of at most two bytes at src + i. Returns (length << 16) | value, or -1.
function getUleb(src: usize, i: i32): i32 {
  const b0 = <i32>load<u8>(src + <usize>i);
  if ((b0 & 0x80) === 0) return (1 << 16) | b0;
  const b1 = <i32>load<u8>(src + <usize>i + 1);
  if ((b1 & 0x80) !== 0) return -1;
  return (2 << 16) | (b0 & 0x7f) | (b1 << 7);
}

// Validates the whole delta, then applies it to the page at dst (which holds the old page).
// Returns the number of page bytes the delta covers, or a negative reason:
// -1 truncated, -2 length longer than 14 bits, -3 zero-length unchanged run after the first,
// -4 zero-length changed run, -5 runs past the end of the page.
export function decode(src: usize, slen: i32, dst: usize, dlen: i32): i32 {
  let i: i32 = 0;
  let d: i32 = 0;
  while (i < slen) {
    if (slen - i < 2) return fail(i, -1);
    let r = getUleb(src, i);
    if (r < 0) return fail(i, -2);
    let count = r & 0xffff;
    if (i !== 0 && count === 0) return fail(i, -3);
    i += r >> 16;
    d += count;
    if (d > dlen) return fail(i, -5);
    if (slen - i < 2) return fail(i, -1);
    r = getUleb(src, i);
    if (r < 0) return fail(i, -2);
    count = r & 0xffff;
    if (count === 0) return fail(i, -4);
    i += r >> 16;
    if (d + count > dlen) return fail(i, -5);
    if (i + count > slen) return fail(i, -1);
    i += count;
    d += count;
  }
  const covered = d;
  i = 0;
  d = 0;
  while (i < slen) {
    let r = getUleb(src, i);
    i += r >> 16;
    d += r & 0xffff;
    r = getUleb(src, i);
    const count = r & 0xffff;
    i += r >> 16;
    memory.copy(dst + <usize>d, src + <usize>i, <usize>count);
    i += count;
    d += count;
  }
  return covered;
}

function fail(offset: i32, reason: i32): i32 {
  errorOffset = offset;
  return reason;
}
