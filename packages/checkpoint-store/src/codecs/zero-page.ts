import { Buffer } from 'node:buffer';

const zeroBuffers = new Map<number, Uint8Array>();

/**
 * Whether every byte of `page` is zero. Zero pages are stored as nothing. The comparison runs as one
 * native memcmp against a shared all-zero buffer of the same length (a JavaScript loop costs several
 * times more); the first and last bytes are checked first because most non-zero pages fail there.
 */
export function isZeroPage(page: Uint8Array): boolean {
  const length = page.length;
  if (length === 0) return true;
  if (page[0] !== 0 || page[length - 1] !== 0) return false;
  let zeros = zeroBuffers.get(length);
  if (zeros === undefined) {
    zeros = new Uint8Array(length);
    zeroBuffers.set(length, zeros);
  }
  return Buffer.compare(page, zeros) === 0;
}

/** Byte-for-byte equality of two views, as one native memcmp. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
