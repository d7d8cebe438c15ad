// AssemblyScript source of the LZ4 kernel: block decoder and fast compressor (compiled by
// scripts/build-wasm.mjs, not by tsc). lz4-napi decodes a 4 KiB page in several microseconds, most
// of it crossing into native code and allocating the result; this decoder runs in the Node
// process's own WebAssembly memory, one page per call or a whole batch of pages per call (what
// materialize runs). Every read stays inside the input block and every write inside the output
// page, so hostile input cannot escape.

export function scratchBase(): usize {
  return (__heap_base + 15) & ~(<usize>15);
}

// Copies n bytes from s to d in 16-byte steps, rounding n up to a multiple of 16: the caller
// guarantees that the rounded-up bytes exist on both sides and that, when s is behind d in the same
// buffer, it is at least 16 bytes behind (so that every step reads bytes already final).
// memory.copy is a call into the engine and costs more than this for the short copies of LZ4.
// @inline
function wildCopy(d: usize, s: usize, n: i32): void {
  let k: i32 = 0;
  do {
    v128.store(d + <usize>k, v128.load(s + <usize>k));
    k += 16;
  } while (k < n);
}

// Row `offset` (1 to 15): the byte indexes that repeat a pattern of that length over 16 bytes.
const PATTERN_INDEXES = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1,
  0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 1, 2, 3, 0, 1, 2, 3,
  0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5,
  0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3,
  4, 5, 6, 7, 8, 9, 10, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6,
  7, 8, 9, 10, 11, 12, 0, 1, 2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8,
  9, 10, 11, 12, 13, 14, 0,
]);

// Copies a match of n bytes from `offset` (1 to 15) bytes behind d, which overlaps its own output:
// the pattern is spread over 16 bytes with one swizzle and stored at multiples of its length. The
// caller guarantees 16 bytes of room past the match.
// @inline
function patternCopy(d: usize, offset: i32, n: i32): void {
  const v = i8x16.swizzle(v128.load(d - <usize>offset), v128.load(PATTERN_INDEXES + ((<usize>offset) << 4)));
  const step = 16 - (16 % offset);
  let k: i32 = 0;
  do {
    v128.store(d + <usize>k, v);
    k += step;
  } while (k < n);
}

// Copies a match of n bytes from `offset` bytes behind d, which may overlap its own output (a
// repeated pattern): each step copies the whole pattern written so far, doubling it.
function overlapCopy(d: usize, offset: i32, n: i32): void {
  if (offset === 1) {
    memory.fill(d, load<u8>(d - 1), <usize>n);
    return;
  }
  const s = d - <usize>offset;
  let done: i32 = 0;
  while (done < n) {
    const step = min<i32>(n - done, offset + done);
    memory.copy(d + <usize>done, s, <usize>step);
    done += step;
  }
}

// Decodes the LZ4 block at src (slen bytes) into dst, which must come out exactly dlen bytes.
// Returns dlen, or -1 for a malformed block, -2 for a block that decodes to another length.
export function decode(src: usize, slen: i32, dst: usize, dlen: i32): i32 {
  let i: i32 = 0;
  let d: i32 = 0;
  while (i < slen) {
    const token = <i32>load<u8>(src + <usize>i);
    i++;
    let lit = token >> 4;
    if (lit === 15) {
      let b: i32 = 255;
      while (b === 255) {
        if (i >= slen) return -1;
        b = <i32>load<u8>(src + <usize>i);
        i++;
        lit += b;
      }
    }
    if (lit > slen - i || lit > dlen - d) return -1;
    if (lit <= 16 && 32 <= slen - i && 32 <= dlen - d) {
      v128.store(dst + <usize>d, v128.load(src + <usize>i));
      i += lit;
      d += lit;
    } else if (lit > 0) {
      // Wild copies only where the rounded-up tail stays inside the input and the page.
      if (lit + 16 <= slen - i && lit + 16 <= dlen - d) wildCopy(dst + <usize>d, src + <usize>i, lit);
      else memory.copy(dst + <usize>d, src + <usize>i, <usize>lit);
      i += lit;
      d += lit;
    }
    // The last sequence carries literals only.
    if (i >= slen) break;
    if (slen - i < 2) return -1;
    const offset = <i32>load<u16>(src + <usize>i);
    i += 2;
    if (offset === 0 || offset > d) return -1;
    let match = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b: i32 = 255;
      while (b === 255) {
        if (i >= slen) return -1;
        b = <i32>load<u8>(src + <usize>i);
        i++;
        match += b;
      }
    }
    if (match > dlen - d) return -1;
    if (offset >= 32 && match <= 32 && 32 <= dlen - d) {
      const m = dst + <usize>(d - offset);
      const o = dst + <usize>d;
      v128.store(o, v128.load(m));
      v128.store(o, v128.load(m, 16), 16);
    } else if (offset >= 16 && match + 16 <= dlen - d) {
      wildCopy(dst + <usize>d, dst + <usize>(d - offset), match);
    } else if (offset < 16 && match + 16 <= dlen - d) {
      patternCopy(dst + <usize>d, offset, match);
    } else if (offset >= match) {
      memory.copy(dst + <usize>d, dst + <usize>(d - offset), <usize>match);
    } else {
      overlapCopy(dst + <usize>d, offset, match);
    }
    d += match;
  }
  return d === dlen ? d : -2;
}

// Decodes `count` blocks described by the job table at `jobs` (pairs of i32: offset of the block
// from `input`, block length) into consecutive pages of `pageLen` bytes from `output`. Returns
// `count`, or the index of the first block that is malformed or does not fill its page exactly.
export function decodeBatch(jobs: usize, count: i32, input: usize, output: usize, pageLen: i32): i32 {
  for (let j: i32 = 0; j < count; j++) {
    const at = jobs + ((<usize>j) << 3);
    const src = input + <usize>load<i32>(at);
    const slen = load<i32>(at, 4);
    if (decode(src, slen, output + <usize>(j * pageLen), pageLen) !== pageLen) return j;
  }
  return count;
}

// --- compressor ----------------------------------------------------------------------------------
// LZ4's fast block compressor (acceleration 1) for inputs up to 64 KiB, so that positions fit the
// 16-bit entries of a 2^13-entry hash table. lz4-napi's compressor costs 5 to 20 us per 4 KiB page
// here, allocating its result each time; this one writes into the caller's region and gives up as
// soon as the output would pass `limit` (an incompressible page costs little). Its blocks follow the
// format's end-of-block rules (the last 5 bytes are literals, no match starts in the last 12), so
// any LZ4 decoder reads them.

const HASH_LOG: u32 = 13;
const MIN_MATCH: i32 = 4;
const LAST_LITERALS: i32 = 5;
const MF_LIMIT: i32 = 12;
const SKIP_TRIGGER: i32 = 6;

// @inline
function hashAt(src: usize, at: i32): usize {
  return (<usize>((load<u32>(src + <usize>at) * 2654435761) >> (32 - HASH_LOG))) << 1;
}

// Bytes equal from a and b (b behind a), a stopping at `limit`.
function countEqual(src: usize, a: i32, b: i32, limit: i32): i32 {
  let n: i32 = 0;
  while (a + n + 8 <= limit) {
    const x = load<u64>(src + <usize>(a + n)) ^ load<u64>(src + <usize>(b + n));
    if (x !== 0) return n + <i32>(ctz<u64>(x) >> 3);
    n += 8;
  }
  while (a + n < limit && load<u8>(src + <usize>(a + n)) === load<u8>(src + <usize>(b + n))) n++;
  return n;
}

// Bytes a length continuation takes after a 4-bit length field.
// @inline
function lengthBytes(n: i32): i32 {
  return n >= 15 ? (n - 15) / 255 + 1 : 0;
}

// Writes a length continuation (the part of a length beyond 15) as 255s and a last byte.
function putLength(dst: usize, op: i32, n: i32): i32 {
  while (n >= 255) {
    store<u8>(dst + <usize>op, 255);
    op++;
    n -= 255;
  }
  store<u8>(dst + <usize>op, <u8>n);
  return op + 1;
}

// Compresses `len` bytes at src (at most 65536) into an LZ4 block at dst, using `table` (16 KiB)
// as the hash table. Returns the block length, or -1 when it would be longer than `limit`.
export function compress(src: usize, len: i32, dst: usize, limit: i32, table: usize): i32 {
  memory.fill(table, 0, <usize>(2 << HASH_LOG));
  let op: i32 = 0;
  let anchor: i32 = 0;
  if (len > MF_LIMIT) {
    const mflimit = len - MF_LIMIT;
    const matchLimit = len - LAST_LITERALS;
    let ip: i32 = 1;
    let done = false;
    while (!done) {
      // Find a match, stepping faster the longer nothing matches.
      let ref: i32 = 0;
      let step: i32 = 1;
      let searches: i32 = 1 << SKIP_TRIGGER;
      let next = ip;
      let found = false;
      while (true) {
        ip = next;
        next += step;
        step = searches >> SKIP_TRIGGER;
        searches++;
        if (next > mflimit) break;
        const h = table + hashAt(src, ip);
        ref = <i32>load<u16>(h);
        store<u16>(h, <u16>ip);
        if (load<u32>(src + <usize>ref) === load<u32>(src + <usize>ip)) {
          found = true;
          break;
        }
      }
      if (!found) break;
      // Extend backwards over equal bytes.
      while (ip > anchor && ref > 0 && load<u8>(src + <usize>(ip - 1)) === load<u8>(src + <usize>(ref - 1))) {
        ip--;
        ref--;
      }
      const lit = ip - anchor;
      // Exact bounds, so that -1 means the block is longer than `limit` and nothing else.
      if (op + 1 + lengthBytes(lit) + lit + 2 > limit) return -1;
      let tokenAt = op;
      op++;
      let token: i32;
      if (lit >= 15) {
        token = 15 << 4;
        op = putLength(dst, op, lit - 15);
      } else {
        token = lit << 4;
      }
      memory.copy(dst + <usize>op, src + <usize>anchor, <usize>lit);
      op += lit;
      // Emit the match, then keep emitting while the next position matches at once.
      while (true) {
        store<u16>(dst + <usize>op, <u16>(ip - ref));
        op += 2;
        const ml = countEqual(src, ip + MIN_MATCH, ref + MIN_MATCH, matchLimit);
        ip += MIN_MATCH + ml;
        if (ml >= 15) {
          if (op + (ml - 15) / 255 + 1 > limit) return -1;
          token |= 15;
          op = putLength(dst, op, ml - 15);
        } else {
          token |= ml;
        }
        store<u8>(dst + <usize>tokenAt, <u8>token);
        anchor = ip;
        if (ip > mflimit) {
          done = true;
          break;
        }
        store<u16>(table + hashAt(src, ip - 2), <u16>(ip - 2));
        const h = table + hashAt(src, ip);
        ref = <i32>load<u16>(h);
        store<u16>(h, <u16>ip);
        if (load<u32>(src + <usize>ref) !== load<u32>(src + <usize>ip)) {
          ip++;
          break;
        }
        if (op + 3 > limit) return -1;
        tokenAt = op;
        op++;
        token = 0;
      }
    }
  }
  // The last literals.
  const last = len - anchor;
  if (op + 1 + lengthBytes(last) + last > limit) return -1;
  if (last >= 15) {
    store<u8>(dst + <usize>op, 15 << 4);
    op = putLength(dst, op + 1, last - 15);
  } else {
    store<u8>(dst + <usize>op, <u8>(last << 4));
    op++;
  }
  memory.copy(dst + <usize>op, src + <usize>anchor, <usize>last);
  return op + last;
}
