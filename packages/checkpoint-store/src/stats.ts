import type { PageCodec, StoredCodec } from './codecs/codec-ids.js';
import type { CodecPolicy } from './options.js';

/** What `stats()` reports. Byte counts are bytes; page counts are committed pages. */
export interface CheckpointStoreStats {
  pageSize: number;
  pageCount: number;
  /** Size of the protected memory: `pageSize * pageCount`. */
  logicalBytes: number;
  /** RAM the store holds in ArrayBuffers: record slabs, tables and scratch buffers, staging included. */
  ramBytes: number;
  ramBudgetBytes: number;
  /** `ramBytes / logicalBytes`: 1 is what a plain second copy costs. */
  ramRatio: number;
  /** Size of the offload segment files. */
  diskBytes: number;
  /** Bytes of live records in the offload segment files. */
  diskLiveBytes: number;
  /** Bytes of live records in RAM slabs (headers included). */
  ramRecordBytes: number;
  committedEpoch: number | null;
  stagingEpoch: number | null;
  stagedPages: number;
  /** Logical bytes staged (what `maxCheckpointBytes` limits). */
  stagedBytes: number;
  maxCheckpointBytes: number;
  codecPolicy: CodecPolicy;
  /**
   * Whether `tiered` has zstd (zstd-napi installed): pages that LZ4 shrinks poorly are stored with
   * zstd, and cold LZ4 pages are recompressed with zstd under RAM pressure.
   */
  strongTier: boolean;
  /** Whether pages are committed raw and compressed afterwards (`deferCompression`). */
  deferCompression: boolean;
  /** Share of a core automatic background work may use (0 when it is off). */
  backgroundCpuShare: number;
  /**
   * Committed pages whose record awaits background compression: stored raw (or, under `tiered`, as
   * a poorly shrinking LZ4 page that zstd may shrink further). 0 once background work has settled.
   */
  pendingPages: number;
  /** Distinct records awaiting background compression, staged ones included. */
  pendingRecords: number;
  /** Committed pages by the form they are stored in. */
  pagesByCodec: Record<StoredCodec, number>;
  /** Committed pages that are all zeros (stored as nothing). */
  zeroPages: number;
  /** Committed pages whose record is in an offload segment. */
  offloadedPages: number;
  /** Committed pages whose record is shared with another page (deduplicated). */
  sharedPages: number;
  /** Distinct records held (committed and staged). */
  storedRecords: number;
  /** Pages staged so far that matched an existing record byte for byte and were not stored again. */
  dedupHits: number;
  /** Hash matches whose bytes differed (xxh64 collisions, or a test hook's). */
  hashCollisions: number;
  /** Records written to offload segments to keep RAM within budget. */
  evictedRecords: number;
  /** Offloaded records moved back to RAM by a read. */
  promotedRecords: number;
  /** LZ4 records recompressed with zstd (the strong tier) under RAM pressure. */
  recompressedRecords: number;
  /** Pending records compressed by `maintain()` or the automatic background slices. */
  compressedInBackground: number;
  /**
   * Pending records compressed synchronously inside `put` because RAM would otherwise have exceeded
   * the budget (the only compression on the commit path when it is deferred).
   */
  compressedUnderPressure: number;
  /** Milliseconds spent in background work (`maintain()` and automatic slices). */
  backgroundMs: number;
  /** Automatic background slices that threw (each stops the schedule until the next commit). */
  backgroundErrors: number;
  /** What the last failed automatic slice threw, if any. */
  lastBackgroundError: unknown;
  slabCompactions: number;
  segmentCompactions: number;
  /** Pages staged so far, by the codec they arrived in. */
  putsByCodec: Record<PageCodec, number>;
}
