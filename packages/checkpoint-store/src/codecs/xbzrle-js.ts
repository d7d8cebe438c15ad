import { XBZRLE_MAX_RUN_BYTES } from '../constants.js';
import { XbzrleDecodeError, type XbzrleMalformedReason } from '../errors.js';

// Pure-JavaScript XBZRLE, the fallback when WebAssembly SIMD is unavailable and the reference the
// WebAssembly kernel is tested against. Word-at-a-time like QEMU's C encoder when both views are
// 4-byte aligned (Int32Array, never Float64Array: -0 === 0 and NaN !== NaN would lie about bytes).

const MAX_RUN = XBZRLE_MAX_RUN_BYTES;

function ulebSize(value: number): number {
  return value > 127 ? 2 : 1;
}

function putUleb(out: Uint8Array, d: number, value: number): number {
  if (value > 127) {
    out[d] = (value & 0x7f) | 0x80;
    out[d + 1] = value >>> 7;
    return d + 2;
  }
  out[d] = value;
  return d + 1;
}

function scanEqual(
  o: Uint8Array,
  n: Uint8Array,
  o32: Int32Array | null,
  n32: Int32Array | null,
  start: number,
  len: number,
): number {
  let i = start;
  if (o32 !== null && n32 !== null) {
    while (i < len && (i & 3) !== 0) {
      if (o[i] !== n[i]) return i;
      i++;
    }
    let w = i >>> 2;
    const wEnd = len >>> 2;
    while (w < wEnd && o32[w] === n32[w]) w++;
    i = w << 2;
  }
  while (i < len && o[i] === n[i]) i++;
  return i;
}

function scanDiff(
  o: Uint8Array,
  n: Uint8Array,
  o32: Int32Array | null,
  n32: Int32Array | null,
  start: number,
  len: number,
): number {
  let i = start;
  if (o32 !== null && n32 !== null) {
    while (i < len && (i & 3) !== 0) {
      if (o[i] === n[i]) return i;
      i++;
    }
    let w = i >>> 2;
    const wEnd = len >>> 2;
    while (w < wEnd) {
      const x = o32[w]! ^ n32[w]!;
      // Some byte of the word is unchanged (has-zero-byte test on the XOR, as QEMU does).
      if (((x - 0x01010101) & ~x & 0x80808080) !== 0) break;
      w++;
    }
    i = w << 2;
  }
  while (i < len && o[i] !== n[i]) i++;
  return i;
}

/**
 * Encodes `n` against `o` (same length) into `out`. Returns the delta length (0 for an unchanged
 * page), or -1 when the delta would exceed `limit` bytes or a changed run exceeds 14 bits.
 */
export function encodeJs(o: Uint8Array, n: Uint8Array, out: Uint8Array, limit: number): number {
  const len = n.length;
  const aligned = ((o.byteOffset | n.byteOffset) & 3) === 0;
  const o32 = aligned ? new Int32Array(o.buffer, o.byteOffset, len >>> 2) : null;
  const n32 = aligned ? new Int32Array(n.buffer, n.byteOffset, len >>> 2) : null;
  let i = 0;
  let d = 0;
  while (i < len) {
    let zStart = i;
    i = scanEqual(o, n, o32, n32, i, len);
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
      out[d] = n[zStart + MAX_RUN]!;
      d += 1;
      zStart += MAX_RUN + 1;
      z -= MAX_RUN + 1;
    }
    i = scanDiff(o, n, o32, n32, i, len);
    const nz = i - nzStart;
    if (nz > MAX_RUN) return -1;
    if (d + ulebSize(z) + ulebSize(nz) + nz > limit) return -1;
    d = putUleb(out, d, z);
    d = putUleb(out, d, nz);
    if (nz > 32) {
      out.set(n.subarray(nzStart, nzStart + nz), d);
    } else {
      for (let k = 0; k < nz; k++) out[d + k] = n[nzStart + k]!;
    }
    d += nz;
  }
  return d;
}

// Reads a ULEB128 of at most two bytes at delta[i]: (length << 16) | value, or -1 past 14 bits.
function getUleb(delta: Uint8Array, i: number): number {
  const b0 = delta[i]!;
  if ((b0 & 0x80) === 0) return (1 << 16) | b0;
  const b1 = delta[i + 1]!;
  if ((b1 & 0x80) !== 0) return -1;
  return (2 << 16) | (b0 & 0x7f) | (b1 << 7);
}

function fail(reason: XbzrleMalformedReason, offset: number): never {
  throw new XbzrleDecodeError(reason, offset);
}

/**
 * Checks every length of `delta` against a page of `pageLength` bytes, with QEMU's decoder rules.
 * Throws `XbzrleDecodeError`; returns the number of page bytes the delta covers.
 */
export function validateJs(delta: Uint8Array, pageLength: number): number {
  const slen = delta.length;
  let i = 0;
  let d = 0;
  while (i < slen) {
    if (slen - i < 2) fail('truncated', i);
    let r = getUleb(delta, i);
    if (r < 0) fail('length-too-long', i);
    let count = r & 0xffff;
    if (i !== 0 && count === 0) fail('zero-length-unchanged-run', i);
    i += r >>> 16;
    d += count;
    if (d > pageLength) fail('past-end-of-page', i);
    if (slen - i < 2) fail('truncated', i);
    r = getUleb(delta, i);
    if (r < 0) fail('length-too-long', i);
    count = r & 0xffff;
    if (count === 0) fail('zero-length-changed-run', i);
    i += r >>> 16;
    if (d + count > pageLength) fail('past-end-of-page', i);
    if (i + count > slen) fail('truncated', i);
    i += count;
    d += count;
  }
  return d;
}

/** Applies a delta that {@link validateJs} accepted to `page`, which holds the old page. */
export function applyJs(delta: Uint8Array, page: Uint8Array): void {
  const slen = delta.length;
  let i = 0;
  let d = 0;
  while (i < slen) {
    let r = getUleb(delta, i);
    i += r >>> 16;
    d += r & 0xffff;
    r = getUleb(delta, i);
    const count = r & 0xffff;
    i += r >>> 16;
    if (count > 32) {
      page.set(delta.subarray(i, i + count), d);
    } else {
      for (let k = 0; k < count; k++) page[d + k] = delta[i + k]!;
    }
    i += count;
    d += count;
  }
}
