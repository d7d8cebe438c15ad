import {
  DEFAULT_HIGH_WATER_BYTES,
  DEFAULT_HIGH_WATER_ITEMS,
  DEFAULT_MAX_BATCH_BYTES,
  DEFAULT_MAX_HELD_BYTES,
  DEFAULT_MAX_HELD_ITEMS,
  DEFAULT_MAX_ITEM_BYTES,
  DEFAULT_SOURCE,
  MAX_HELD_BYTES_LIMIT,
  MAX_HELD_ITEMS_LIMIT,
  MAX_SOURCE_BYTES,
} from './constants.js';
import { InvalidOptionError } from './errors.js';

/** Options of `createCorkQueue`. Every size is in bytes. */
export interface CorkQueueOptions {
  /**
   * Identity of the protected workload, stamped on every item so receivers can dedup per source.
   * Primary and secondary must use the same value (a batch from another source is rejected).
   * At most 255 UTF-8 bytes.
   * @default 'workload'
   */
  source?: string;
  /**
   * Fencing token this node starts with (see `setGeneration`). A secondary adopts the primary's
   * generation from the batches it ingests.
   * @default 0
   */
  generation?: number;
  /**
   * Soft bound on held bytes (corked plus released but not yet taken by a sink): once reached,
   * `append` returns false and the queue emits `'drain'` when it falls below again.
   * @default 16777216 (16 MiB)
   */
  highWaterBytes?: number;
  /**
   * Soft bound on held items, as `highWaterBytes`.
   * @default 65536
   */
  highWaterItems?: number;
  /**
   * Hard cap on held bytes: an append that would pass it throws `CorkQueueFullError` and takes
   * nothing. At most 1 GiB.
   * @default 67108864 (64 MiB)
   */
  maxHeldBytes?: number;
  /**
   * Hard cap on held items, as `maxHeldBytes`. At most 67108864.
   * @default 262144
   */
  maxHeldItems?: number;
  /**
   * Largest single item, in bytes, on append and in batches being ingested.
   * @default 16777216 (16 MiB)
   */
  maxItemBytes?: number;
  /**
   * Largest serialized batch `ingest` and `restoreState` accept.
   * @default 2147483648 (2 GiB)
   */
  maxBatchBytes?: number;
  /**
   * Record each item's append time to measure added latency (append to release). Costs one
   * `performance.now()` per append (50–100 ns on these machines).
   * @default true
   */
  trackLatency?: boolean;
}

export interface ResolvedCorkQueueOptions {
  readonly source: string;
  readonly sourceBytes: Uint8Array;
  readonly generation: number;
  readonly highWaterBytes: number;
  readonly highWaterItems: number;
  readonly maxHeldBytes: number;
  readonly maxHeldItems: number;
  readonly maxItemBytes: number;
  readonly maxBatchBytes: number;
  readonly trackLatency: boolean;
}

export function resolveCorkQueueOptions(options: CorkQueueOptions): ResolvedCorkQueueOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'must be an object');
  }
  const source = options.source ?? DEFAULT_SOURCE;
  if (typeof source !== 'string' || source.length === 0) {
    throw new InvalidOptionError('source', 'must be a non-empty string');
  }
  const sourceBytes = new TextEncoder().encode(source);
  if (sourceBytes.length > MAX_SOURCE_BYTES) {
    throw new InvalidOptionError(
      'source',
      `is ${sourceBytes.length} UTF-8 bytes; the limit is ${MAX_SOURCE_BYTES}`,
    );
  }
  if (new TextDecoder().decode(sourceBytes) !== source) {
    throw new InvalidOptionError('source', 'is not well-formed Unicode (lone surrogate)');
  }
  const generation = integer('generation', options.generation, 0, 0, Number.MAX_SAFE_INTEGER);
  const maxHeldBytes = integer(
    'maxHeldBytes',
    options.maxHeldBytes,
    DEFAULT_MAX_HELD_BYTES,
    1,
    MAX_HELD_BYTES_LIMIT,
  );
  const maxHeldItems = integer(
    'maxHeldItems',
    options.maxHeldItems,
    DEFAULT_MAX_HELD_ITEMS,
    1,
    MAX_HELD_ITEMS_LIMIT,
  );
  const highWaterBytes = integer(
    'highWaterBytes',
    options.highWaterBytes,
    Math.min(DEFAULT_HIGH_WATER_BYTES, maxHeldBytes),
    1,
    maxHeldBytes,
  );
  const highWaterItems = integer(
    'highWaterItems',
    options.highWaterItems,
    Math.min(DEFAULT_HIGH_WATER_ITEMS, maxHeldItems),
    1,
    maxHeldItems,
  );
  const maxItemBytes = integer(
    'maxItemBytes',
    options.maxItemBytes,
    Math.min(DEFAULT_MAX_ITEM_BYTES, maxHeldBytes),
    0,
    maxHeldBytes,
  );
  const maxBatchBytes = integer(
    'maxBatchBytes',
    options.maxBatchBytes,
    DEFAULT_MAX_BATCH_BYTES,
    64,
    0xffffffff,
  );
  const trackLatency = options.trackLatency ?? true;
  if (typeof trackLatency !== 'boolean') {
    throw new InvalidOptionError('trackLatency', `must be a boolean, got ${String(trackLatency)}`);
  }
  return {
    source,
    sourceBytes,
    generation,
    highWaterBytes,
    highWaterItems,
    maxHeldBytes,
    maxHeldItems,
    maxItemBytes,
    maxBatchBytes,
    trackLatency,
  };
}

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  const resolved = value ?? fallback;
  if (typeof resolved !== 'number' || !Number.isSafeInteger(resolved) || resolved < min || resolved > max) {
    throw new InvalidOptionError(name, `must be an integer from ${min} to ${max}, got ${String(resolved)}`);
  }
  return resolved;
}
