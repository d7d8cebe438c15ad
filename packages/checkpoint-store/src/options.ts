import { tmpdir } from 'node:os';
import {
  DEFAULT_BACKGROUND_CPU_SHARE,
  DEFAULT_CODEC_POLICY,
  DEFAULT_DEFER_COMPRESSION,
  DEFAULT_PAGE_COUNT,
  DEFAULT_PAGE_SIZE_BYTES,
  DEFAULT_RAM_BUDGET_BYTES,
  MAX_PAGE_COUNT,
  MAX_PAGE_SIZE_BYTES,
  MIN_PAGE_SIZE_BYTES,
} from './constants.js';
import { InvalidOptionError } from './errors.js';

/**
 * How pages are compressed.
 * - `tiered`: LZ4 (fast to decode at failover); a page that LZ4 shrinks poorly (to more than half a
 *   page, e.g. text) is also tried with zstd level 1 and stored with zstd when that saves at least
 *   1/8 more. Under RAM pressure cold LZ4 pages are recompressed with zstd (the strong tier) before
 *   any is offloaded. Without zstd-napi installed, LZ4 only.
 * - `lz4`: LZ4 only.
 * - `zstd`: zstd level 1 for every page; creating the store throws `CodecUnavailableError` when
 *   zstd-napi is not installed.
 * - `raw`: no compression (zero pages and deduplication still apply).
 *
 * Whatever the policy, a page that does not shrink by at least 1/32 is kept raw.
 */
export type CodecPolicy = 'tiered' | 'lz4' | 'zstd' | 'raw';

/** Options of {@link createCheckpointStore}. */
export interface CheckpointStoreOptions {
  /**
   * Size of one page in bytes: a power of two from 512 to 65536, equal to the primary's.
   * @default 4096
   */
  pageSize?: number;
  /**
   * Number of pages of protected memory (the image is `pageSize * pageCount` bytes).
   * @default 1024
   */
  pageCount?: number;
  /**
   * Most bytes of RAM the store may hold at any time, in bytes: stored pages, tables and scratch
   * buffers, staging included. Beyond it, cold pages go to segment files in `offloadDirectory`.
   * `Infinity` never offloads. Must leave room for the tables and four slabs of 32 pages; the error
   * names the minimum.
   * @default Infinity
   */
  ramBudgetBytes?: number;
  /**
   * Directory for offload segment files (flash, ideally). The store creates a private folder inside
   * it when it is created with a finite budget, and removes it on `close()`.
   * @default os.tmpdir()
   */
  offloadDirectory?: string;
  /**
   * Compression policy, see {@link CodecPolicy}.
   * @default 'tiered'
   */
  codecPolicy?: CodecPolicy;
  /**
   * Largest checkpoint that may be staged, in logical bytes (pages staged times the page size, zero
   * pages included), so that the primary can predict it from its dirty page count. Staging a page
   * past it throws `StagingFullError` (`MC_ERR_STAGING_FULL`).
   * @default pageSize * pageCount (a full image)
   */
  maxCheckpointBytes?: number;
  /**
   * Whether compression is taken off the commit path. When true, `put` stores pages raw (after the
   * zero-page check and deduplication) and they are compressed afterwards, by `maintain()` or by the
   * automatic background slices (see `backgroundCpuShare`), or synchronously when RAM would
   * otherwise exceed `ramBudgetBytes`. When false, `put` compresses every page before it returns.
   * @default true
   */
  deferCompression?: boolean;
  /**
   * Share of one core, from 0 to 1, that automatic background compression may use: after a commit
   * or abort the store runs slices of about 1 ms on the event loop (unref'd timers, so they never
   * keep the process alive) and spaces them so that they take at most this share of wall-clock
   * time, until nothing is pending. 0 turns automatic work off: the engine calls `maintain()`.
   * @default 0.5
   */
  backgroundCpuShare?: number;
}

/** Options with every default applied. */
export interface ResolvedOptions {
  pageSize: number;
  pageCount: number;
  ramBudgetBytes: number;
  offloadDirectory: string;
  codecPolicy: CodecPolicy;
  maxCheckpointBytes: number;
  deferCompression: boolean;
  backgroundCpuShare: number;
}

const POLICIES: readonly CodecPolicy[] = ['tiered', 'lz4', 'zstd', 'raw'];
const KNOWN = new Set([
  'pageSize',
  'pageCount',
  'ramBudgetBytes',
  'offloadDirectory',
  'codecPolicy',
  'maxCheckpointBytes',
  'deferCompression',
  'backgroundCpuShare',
]);

/** Applies defaults and validates every option; throws `InvalidOptionError` naming the option. */
export function resolveOptions(options: CheckpointStoreOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new InvalidOptionError(key, 'is not an option of createCheckpointStore');
  }
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE_BYTES;
  if (
    !Number.isInteger(pageSize) ||
    pageSize < MIN_PAGE_SIZE_BYTES ||
    pageSize > MAX_PAGE_SIZE_BYTES ||
    (pageSize & (pageSize - 1)) !== 0
  ) {
    throw new InvalidOptionError(
      'pageSize',
      `must be a power of two from ${MIN_PAGE_SIZE_BYTES} to ${MAX_PAGE_SIZE_BYTES} bytes, got ${pageSize}`,
    );
  }
  const pageCount = options.pageCount ?? DEFAULT_PAGE_COUNT;
  if (!Number.isInteger(pageCount) || pageCount < 1 || pageCount > MAX_PAGE_COUNT) {
    throw new InvalidOptionError(
      'pageCount',
      `must be an integer from 1 to ${MAX_PAGE_COUNT}, got ${pageCount}`,
    );
  }
  const ramBudgetBytes = options.ramBudgetBytes ?? DEFAULT_RAM_BUDGET_BYTES;
  if (
    typeof ramBudgetBytes !== 'number' ||
    Number.isNaN(ramBudgetBytes) ||
    ramBudgetBytes <= 0 ||
    (Number.isFinite(ramBudgetBytes) && !Number.isSafeInteger(ramBudgetBytes))
  ) {
    throw new InvalidOptionError(
      'ramBudgetBytes',
      `must be a positive integer or Infinity, got ${ramBudgetBytes}`,
    );
  }
  const offloadDirectory = options.offloadDirectory ?? tmpdir();
  if (typeof offloadDirectory !== 'string' || offloadDirectory.length === 0) {
    throw new InvalidOptionError('offloadDirectory', 'must be a non-empty path');
  }
  const codecPolicy = options.codecPolicy ?? DEFAULT_CODEC_POLICY;
  if (!POLICIES.includes(codecPolicy)) {
    throw new InvalidOptionError(
      'codecPolicy',
      `must be one of ${POLICIES.join(', ')}, got ${String(codecPolicy)}`,
    );
  }
  const imageBytes = pageSize * pageCount;
  const maxCheckpointBytes = options.maxCheckpointBytes ?? imageBytes;
  if (!Number.isSafeInteger(maxCheckpointBytes) || maxCheckpointBytes < pageSize) {
    throw new InvalidOptionError(
      'maxCheckpointBytes',
      `must be an integer of at least one page (${pageSize} bytes), got ${maxCheckpointBytes}`,
    );
  }
  const deferCompression = options.deferCompression ?? DEFAULT_DEFER_COMPRESSION;
  if (typeof deferCompression !== 'boolean') {
    throw new InvalidOptionError('deferCompression', `must be a boolean, got ${String(deferCompression)}`);
  }
  const backgroundCpuShare = options.backgroundCpuShare ?? DEFAULT_BACKGROUND_CPU_SHARE;
  if (typeof backgroundCpuShare !== 'number' || !(backgroundCpuShare >= 0 && backgroundCpuShare <= 1)) {
    throw new InvalidOptionError(
      'backgroundCpuShare',
      `must be a number from 0 to 1, got ${String(backgroundCpuShare)}`,
    );
  }
  return {
    pageSize,
    pageCount,
    ramBudgetBytes,
    offloadDirectory,
    codecPolicy,
    maxCheckpointBytes,
    deferCompression,
    backgroundCpuShare,
  };
}
