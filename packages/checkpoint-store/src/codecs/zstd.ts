import { createRequire } from 'node:module';
import { ZSTD_LEVEL } from '../constants.js';

/** The strong tier: zstd level 1 through zstd-napi's context API, compressing into caller buffers. */
export interface ZstdCodec {
  /** Upper bound of the compressed size of `length` bytes. */
  bound(length: number): number;
  /** Compresses `page` into `out`; returns the compressed length. */
  compress(page: Uint8Array, out: Uint8Array): number;
  /**
   * Decompresses `payload` into `target`. Throws unless it fills `target` exactly: zstd stops at
   * the end of `target`, so a hostile frame header cannot make it allocate.
   */
  decompressInto(payload: Uint8Array, target: Uint8Array): void;
}

interface ZstdBinding {
  CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  compressBound(length: number): number;
}

let loaded: ZstdCodec | null | undefined;
let loadError: unknown;

/**
 * Loads zstd-napi, an optional dependency that compiles zstd at install time. Returns null (and keeps
 * the reason, see {@link zstdLoadError}) when it is not installed or does not load.
 */
export function loadZstd(moduleName = 'zstd-napi/binding'): ZstdCodec | null {
  const useCache = moduleName === 'zstd-napi/binding';
  if (useCache && loaded !== undefined) return loaded;
  let codec: ZstdCodec | null = null;
  try {
    const binding = createRequire(import.meta.url)(moduleName) as ZstdBinding;
    codec = wrap(binding);
  } catch (err) {
    loadError = err;
    codec = null;
  }
  if (useCache) loaded = codec;
  return codec;
}

/** Why the last attempt to load zstd-napi failed, if it did. */
export function zstdLoadError(): unknown {
  return loadError;
}

function wrap(binding: ZstdBinding): ZstdCodec {
  const cctx = new binding.CCtx();
  const dctx = new binding.DCtx();
  return {
    bound: (length) => binding.compressBound(length),
    compress: (page, out) => cctx.compress(out, page, ZSTD_LEVEL),
    decompressInto(payload, target) {
      const n = dctx.decompress(target, payload);
      if (n !== target.length)
        throw new Error(`zstd payload decoded to ${n} bytes, expected ${target.length}`);
    },
  };
}
