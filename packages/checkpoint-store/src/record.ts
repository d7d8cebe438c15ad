import { RECORD_HEADER_BYTES, RECORD_VERSION } from './constants.js';

/**
 * A stored record, identical in a RAM slab and in an offload segment so that eviction writes slab
 * bytes as they are: a 16-byte header (codec byte, version byte, two zero bytes, blob id, payload
 * length, low 32 bits of the page's xxh64; integers little-endian) and the encoded page.
 */
export interface RecordHeader {
  codec: number;
  blobId: number;
  payloadLength: number;
  hashLo: number;
}

export function writeHeader(
  buf: Uint8Array,
  at: number,
  codec: number,
  blobId: number,
  payloadLength: number,
  hashLo: number,
): void {
  buf[at] = codec;
  buf[at + 1] = RECORD_VERSION;
  buf[at + 2] = 0;
  buf[at + 3] = 0;
  writeU32(buf, at + 4, blobId);
  writeU32(buf, at + 8, payloadLength);
  writeU32(buf, at + 12, hashLo);
}

/** Reads a header; returns null when the version byte or padding is wrong. */
export function readHeader(buf: Uint8Array, at: number): RecordHeader | null {
  if (at + RECORD_HEADER_BYTES > buf.length) return null;
  if (buf[at + 1] !== RECORD_VERSION || buf[at + 2] !== 0 || buf[at + 3] !== 0) return null;
  return {
    codec: buf[at]!,
    blobId: readU32(buf, at + 4),
    payloadLength: readU32(buf, at + 8),
    hashLo: readU32(buf, at + 12),
  };
}

export function readU32(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

function writeU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value & 0xff;
  buf[at + 1] = (value >>> 8) & 0xff;
  buf[at + 2] = (value >>> 16) & 0xff;
  buf[at + 3] = (value >>> 24) & 0xff;
}
