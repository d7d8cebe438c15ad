import { Buffer } from 'node:buffer';
import { compressSync, uncompressSync } from 'lz4-napi';
import { loadLz4Wasm } from './lz4-wasm.js';

// lz4-napi's format: an LZ4 block preceded by the uncompressed size as a 32-bit little-endian integer.
const SIZE_PREFIX_BYTES = 4;

function asBuffer(view: Uint8Array): Buffer {
  return Buffer.isBuffer(view) ? view : Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

/** Compresses one page with lz4-napi (its size-prefixed block). Returns a new buffer. */
export function lz4Compress(page: Uint8Array): Uint8Array {
  return compressSync(asBuffer(page));
}

/** Which compressor {@link lz4CompressInto} uses: the WebAssembly one, else lz4-napi. */
export type Lz4Compressor = 'wasm' | 'napi';

/**
 * Compresses one page into `out` in lz4-napi's format (size prefix, then an LZ4 block any decoder
 * reads). Returns the length written, or -1 when the result would be longer than `limit` bytes: the
 * WebAssembly compressor stops as soon as it knows, so an incompressible page costs about a
 * microsecond instead of a full pass. `compressor` forces one, for tests.
 */
export function lz4CompressInto(
  page: Uint8Array,
  out: Uint8Array,
  limit: number,
  compressor?: Lz4Compressor,
): number {
  const wasm = compressor === 'napi' ? null : loadLz4Wasm();
  if (wasm !== null) return wasm.compressInto(page, out, limit);
  const block = compressSync(asBuffer(page));
  if (block.length > Math.min(limit, out.length)) return -1;
  out.set(block);
  return block.length;
}

/** Which decoder {@link lz4DecompressInto} uses: the WebAssembly one, else lz4-napi. */
export type Lz4Decoder = 'wasm' | 'napi';

/**
 * Decompresses an LZ4 page into `target` (exactly one page long). Throws an Error naming the problem
 * when the payload does not decode to exactly `target.length` bytes. The size prefix is checked
 * before any decoder sees the payload, so a hostile prefix cannot make one allocate a huge buffer.
 * The WebAssembly decoder is used when available (several times faster per page than crossing into
 * lz4-napi); `decoder` forces one, for tests.
 */
export function lz4DecompressInto(payload: Uint8Array, target: Uint8Array, decoder?: Lz4Decoder): void {
  if (payload.length <= SIZE_PREFIX_BYTES)
    throw new Error(`lz4 payload of ${payload.length} bytes is truncated`);
  const declared = (payload[0]! | (payload[1]! << 8) | (payload[2]! << 16) | (payload[3]! << 24)) >>> 0;
  if (declared !== target.length) {
    throw new Error(`lz4 payload declares ${declared} bytes, expected ${target.length}`);
  }
  const wasm = decoder === 'napi' ? null : loadLz4Wasm();
  if (wasm !== null) {
    if (!wasm.decodeInto(payload.subarray(SIZE_PREFIX_BYTES), target)) {
      throw new Error(`lz4 payload is malformed or does not decode to ${target.length} bytes`);
    }
    return;
  }
  const out = uncompressSync(payload);
  if (out.length !== target.length) {
    throw new Error(`lz4 payload decoded to ${out.length} bytes, expected ${target.length}`);
  }
  target.set(out);
}
