/**
 * @packageDocumentation
 * The secondary's copy of protected memory for micro-checkpointing, at a fraction of 2x: a staging
 * area with all-or-nothing commit, zero pages stored as nothing, XBZRLE deltas (QEMU's format, with a
 * WebAssembly SIMD kernel), LZ4 with a zstd tier for poorly shrinking pages, content-hash
 * deduplication, and flash offload under a RAM budget. Commits store pages raw; compression runs
 * afterwards, off the critical path (`maintain()` or automatic background slices), and inside a
 * commit only when the RAM budget requires it.
 *
 * @example
 * ```ts
 * import { createCheckpointStore } from '@microcheckpoint/checkpoint-store';
 *
 * const store = createCheckpointStore({ pageSize: 4096, pageCount: 256 });
 * store.begin(1);
 * store.put(7, new Uint8Array(4096).fill(42));
 * store.commit(1);
 * const image = new Uint8Array(4096 * 256);
 * store.materialize(image); // what failover runs
 * while (store.maintain(2)) {} // or let the automatic background slices compress, between epochs
 * console.log(store.stats().ramRatio);
 * store.close();
 * ```
 */
export {
  PAGE_CODEC_IDS,
  type PageCodec,
  pageCodecId,
  pageCodecName,
  type StoredCodec,
} from './codecs/codec-ids.js';
export {
  decodeWith as xbzrleDecodeWith,
  encodeWith as xbzrleEncodeWith,
  type XbzrleImplementation,
  xbzrleDecode,
  xbzrleEncode,
  xbzrleImplementation,
} from './codecs/xbzrle.js';
export { isZeroPage } from './codecs/zero-page.js';
export {
  BACKGROUND_SLICE_MS,
  DEFAULT_BACKGROUND_CPU_SHARE,
  DEFAULT_CODEC_POLICY,
  DEFAULT_DEFER_COMPRESSION,
  DEFAULT_MAINTAIN_BUDGET_MS,
  DEFAULT_PAGE_COUNT,
  DEFAULT_PAGE_SIZE_BYTES,
  DEFAULT_RAM_BUDGET_BYTES,
  MAX_PAGE_SIZE_BYTES,
  MIN_PAGE_SIZE_BYTES,
  SLAB_PAGES,
  XBZRLE_MAX_RUN_BYTES,
} from './constants.js';
export {
  CheckpointStoreError,
  CodecUnavailableError,
  CorruptPageError,
  EpochOrderError,
  InvalidArgumentError,
  InvalidOptionError,
  OffloadCorruptError,
  OffloadIoError,
  StagingFullError,
  StagingStateError,
  StoreClosedError,
  XbzrleDecodeError,
  type XbzrleMalformedReason,
} from './errors.js';
export type { CheckpointStoreOptions, CodecPolicy } from './options.js';
export type { CheckpointStoreStats } from './stats.js';
export { type CheckpointStore, createCheckpointStore } from './store.js';
