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
  /** Whether cold pages are recompressed with zstd under RAM pressure (`tiered` with zstd-napi). */
  strongTier: boolean;
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
  slabCompactions: number;
  segmentCompactions: number;
  /** Pages staged so far, by the codec they arrived in. */
  putsByCodec: Record<PageCodec, number>;
}
