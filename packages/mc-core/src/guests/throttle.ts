import { DIRTY_QUOTA_CHECK_STRIDE, THROTTLE_MAX_PERCENT, THROTTLE_SLICE_MS } from '../constants.js';
import { InvalidArgumentError } from '../errors.js';

/** Checks a throttle level: an integer percent from 0 to 99. */
export function checkThrottlePercent(percent: unknown): number {
  if (
    typeof percent !== 'number' ||
    !Number.isInteger(percent) ||
    percent < 0 ||
    percent > THROTTLE_MAX_PERCENT
  )
    throw new InvalidArgumentError(
      `throttle must be an integer percent from 0 to ${THROTTLE_MAX_PERCENT}, got ${String(percent)}`,
    );
  return percent;
}

/** Checks a dirty quota: a non-negative integer number of pages. */
export function checkDirtyQuota(pages: unknown): number {
  if (typeof pages !== 'number' || !Number.isSafeInteger(pages) || pages < 0)
    throw new InvalidArgumentError(`the dirty quota must be a page count >= 0, got ${String(pages)}`);
  return pages;
}

/**
 * Decides at a safe point whether the guest has reached its dirty quota. Counting the bitmap costs
 * time in proportion to the memory, so far below the quota it skips up to `DIRTY_QUOTA_CHECK_STRIDE - 1`
 * calls: as many as leave room for 8 pages per call before half the quota; from half on it counts at
 * every call.
 */
export class DirtyQuotaGate {
  #quota = 0;
  #skip = 0;

  get quota(): number {
    return this.#quota;
  }

  set quota(pages: number) {
    this.#quota = pages;
    this.#skip = 0;
  }

  /** True when `countDirty()` pages or more are dirty: the guest must wait. */
  reached(countDirty: () => number): boolean {
    if (this.#quota === 0) return false;
    if (this.#skip > 0) {
      this.#skip--;
      return false;
    }
    const dirty = countDirty();
    if (dirty >= this.#quota) return true;
    this.#skip = Math.max(
      0,
      Math.min(DIRTY_QUOTA_CHECK_STRIDE - 1, Math.floor((this.#quota - 2 * dirty) / 16)),
    );
    return false;
  }
}

/**
 * Turns a throttle percent into sleeps: the guest reports how long it ran, and after each slice of
 * `THROTTLE_SLICE_MS` of running it is told to sleep `run * p / (100 - p)`, so it spends about `p`% of
 * wall time not running. Slices, not single steps: a request or a loop iteration takes microseconds,
 * far below what a timer can sleep.
 */
export class ThrottleClock {
  #percent = 0;
  #ranMs = 0;

  get percent(): number {
    return this.#percent;
  }

  set percent(value: number) {
    this.#percent = value;
    if (value === 0) this.#ranMs = 0;
  }

  /** Adds `ms` of running; returns how long to sleep now, ms (0: run on). */
  ran(ms: number): number {
    if (this.#percent === 0) return 0;
    this.#ranMs += ms;
    if (this.#ranMs < THROTTLE_SLICE_MS) return 0;
    const sleepMs = (this.#ranMs * this.#percent) / (100 - this.#percent);
    this.#ranMs = 0;
    return sleepMs;
  }
}
