import { InvalidArgumentError, InvalidOptionError, StaleGenerationError } from './errors.js';

/** What the filter decided about one item. */
export type DedupVerdict = 'accept' | 'duplicate' | 'stale-generation';

/** The fields of an item the filter looks at (a `CorkItem` or a decoded `ReceivedItem` fits). */
export interface DedupInput {
  readonly source: string;
  readonly seq: number;
  readonly generation?: number;
}

/** What the filter remembers about one source; save it with the receiver's own state. */
export interface DedupSourceState {
  readonly source: string;
  /** Highest seq accepted; -1 if none yet. */
  readonly highestSeq: number;
  /** Highest generation seen; -1 if none yet (or not tracked). */
  readonly generation: number;
}

/** Options of {@link createDedupFilter}. */
export interface DedupFilterOptions {
  /**
   * Track the highest generation (fencing token) per source and reject items from a lower one:
   * output from a deposed primary that still runs (or arrives late) is refused once a newer
   * generation's is seen, and counted in `stats.stale`.
   * - unset: items that carry a `generation` are checked; items without one skip the check.
   * - `true`: every item must carry a generation (a missing one is an `InvalidArgumentError`).
   * - `false`: generations are ignored (seq only).
   * @default unset (check when present)
   */
  trackGeneration?: boolean;
  /**
   * State saved from an earlier filter (`state()`), so exactly-once survives a receiver restart.
   * @default []
   */
  initial?: Iterable<DedupSourceState>;
  /**
   * Most sources tracked at once; a new source beyond it throws rather than growing without bound.
   * @default 4096
   */
  maxSources?: number;
}

/** Receiver-side duplicate filter: exactly-once effect for output that is re-emitted after failover. */
export interface DedupFilter {
  /**
   * Decides about one item and remembers it: `'duplicate'` when its seq is at or below the highest
   * accepted from its source, `'stale-generation'` (with `trackGeneration`) when its generation is
   * below the highest seen, else `'accept'`.
   */
  check(item: DedupInput): DedupVerdict;
  /** `check(item) === 'accept'`. */
  accept(item: DedupInput): boolean;
  /**
   * Like `accept`, for receivers that treat a stale generation as an error: true for a new item,
   * false for a duplicate, and a `StaleGenerationError` (code `MC_ERR_STALE_GENERATION`, after the
   * item was counted in `stats.stale`) for an item from a generation older than one already seen.
   */
  admit(item: DedupInput): boolean;
  highestSeq(source: string): number;
  generation(source: string): number;
  state(): DedupSourceState[];
  readonly stats: { readonly accepted: number; readonly duplicates: number; readonly stale: number };
}

/**
 * Creates a filter that drops anything at or below the highest seq already accepted per source.
 *
 * It relies on items of one source arriving in seq order, which holds for each destination (the
 * queue delivers a destination's items in seq order, re-emitted ones included). A receiver that
 * merges several destinations of one source must keep one filter (or one source key) per destination.
 */
export function createDedupFilter(options: DedupFilterOptions = {}): DedupFilter {
  const option = options.trackGeneration;
  if (option !== undefined && typeof option !== 'boolean') {
    throw new InvalidOptionError('trackGeneration', `must be a boolean, got ${String(option)}`);
  }
  const trackGeneration: GenerationTracking = option ?? 'when-present';
  const maxSources = options.maxSources ?? 4096;
  if (!Number.isSafeInteger(maxSources) || maxSources < 1) {
    throw new InvalidOptionError('maxSources', `must be a positive integer, got ${String(maxSources)}`);
  }
  const filter = new Filter(trackGeneration, maxSources);
  const initial = options.initial ?? [];
  if (typeof (initial as Iterable<DedupSourceState>)[Symbol.iterator] !== 'function') {
    throw new InvalidOptionError('initial', 'must be an iterable of { source, highestSeq, generation }');
  }
  for (const entry of initial) {
    if (
      typeof entry?.source !== 'string' ||
      !Number.isSafeInteger(entry.highestSeq) ||
      entry.highestSeq < -1 ||
      !Number.isSafeInteger(entry.generation) ||
      entry.generation < -1
    ) {
      throw new InvalidOptionError('initial', `bad entry ${JSON.stringify(entry)}`);
    }
    filter.seed(entry);
  }
  return filter;
}

interface SourceRecord {
  highestSeq: number;
  generation: number;
}

type GenerationTracking = boolean | 'when-present';

class Filter implements DedupFilter {
  readonly #trackGeneration: GenerationTracking;
  readonly #maxSources: number;
  readonly #sources = new Map<string, SourceRecord>();
  readonly stats = { accepted: 0, duplicates: 0, stale: 0 };

  constructor(trackGeneration: GenerationTracking, maxSources: number) {
    this.#trackGeneration = trackGeneration;
    this.#maxSources = maxSources;
  }

  seed(entry: DedupSourceState): void {
    this.#record(entry.source).highestSeq = entry.highestSeq;
    this.#record(entry.source).generation = entry.generation;
  }

  check(item: DedupInput): DedupVerdict {
    const { source, seq, generation } = item;
    if (!Number.isSafeInteger(seq) || seq < 0) {
      throw new InvalidArgumentError(`dedup: seq must be a non-negative safe integer, got ${seq}`);
    }
    const record = this.#record(source);
    const track =
      this.#trackGeneration === true ||
      (this.#trackGeneration === 'when-present' && generation !== undefined);
    if (track) {
      if (generation === undefined || !Number.isSafeInteger(generation) || generation < 0) {
        throw new InvalidArgumentError(
          this.#trackGeneration === true
            ? 'dedup: trackGeneration needs a non-negative integer generation on every item'
            : `dedup: generation must be a non-negative safe integer, got ${generation}`,
        );
      }
      if (generation < record.generation) {
        this.stats.stale++;
        return 'stale-generation';
      }
      // A re-emitted duplicate under a new generation still proves that generation exists.
      record.generation = generation;
    }
    if (seq <= record.highestSeq) {
      this.stats.duplicates++;
      return 'duplicate';
    }
    record.highestSeq = seq;
    this.stats.accepted++;
    return 'accept';
  }

  accept(item: DedupInput): boolean {
    return this.check(item) === 'accept';
  }

  admit(item: DedupInput): boolean {
    const verdict = this.check(item);
    if (verdict === 'stale-generation')
      throw new StaleGenerationError(
        item.generation!,
        this.generation(item.source),
        `output seq ${item.seq} of ${item.source}`,
      );
    return verdict === 'accept';
  }

  highestSeq(source: string): number {
    return this.#sources.get(source)?.highestSeq ?? -1;
  }

  generation(source: string): number {
    return this.#sources.get(source)?.generation ?? -1;
  }

  state(): DedupSourceState[] {
    return [...this.#sources].map(([source, record]) => ({ source, ...record }));
  }

  #record(source: string): SourceRecord {
    let record = this.#sources.get(source);
    if (record === undefined) {
      if (typeof source !== 'string') throw new InvalidArgumentError('dedup: source must be a string');
      if (this.#sources.size >= this.#maxSources) {
        throw new InvalidArgumentError(`dedup: more than maxSources ${this.#maxSources} sources`);
      }
      record = { highestSeq: -1, generation: -1 };
      this.#sources.set(source, record);
    }
    return record;
  }
}
