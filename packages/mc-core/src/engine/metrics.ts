import { METRICS_WINDOW } from '../constants.js';

/** Percentiles of a window of samples. */
export interface SampleSummary {
  /** Samples taken since the start (not only those in the window). */
  count: number;
  last: number;
  p50: number;
  p99: number;
  max: number;
}

/** The most recent samples of one quantity, in a fixed ring; percentiles computed on demand. */
export class SampleWindow {
  readonly #ring: Float64Array;
  #count = 0;
  #last = 0;

  constructor(size = METRICS_WINDOW) {
    this.#ring = new Float64Array(size);
  }

  add(value: number): void {
    this.#ring[this.#count % this.#ring.length] = value;
    this.#count++;
    this.#last = value;
  }

  get count(): number {
    return this.#count;
  }

  summary(): SampleSummary {
    const n = Math.min(this.#count, this.#ring.length);
    if (n === 0) return { count: 0, last: 0, p50: 0, p99: 0, max: 0 };
    const sorted = this.#ring.slice(0, n).sort();
    const at = (q: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
    return { count: this.#count, last: this.#last, p50: at(0.5), p99: at(0.99), max: sorted[n - 1]! };
  }
}

/** Checkpoints and bytes per second over the most recent checkpoints. */
export class RateMeter {
  readonly #times: Float64Array;
  readonly #bytes: Float64Array;
  #count = 0;

  constructor(size = 64) {
    this.#times = new Float64Array(size);
    this.#bytes = new Float64Array(size);
  }

  add(bytes: number, atMs: number = performance.now()): void {
    const i = this.#count % this.#times.length;
    this.#times[i] = atMs;
    this.#bytes[i] = bytes;
    this.#count++;
  }

  /** Rates over the window; zero until two events were seen. */
  rates(): { perSecond: number; bytesPerSecond: number } {
    const n = Math.min(this.#count, this.#times.length);
    if (n < 2) return { perSecond: 0, bytesPerSecond: 0 };
    const newest = (this.#count - 1) % this.#times.length;
    const oldest = (this.#count - n) % this.#times.length;
    const spanMs = this.#times[newest]! - this.#times[oldest]!;
    if (spanMs <= 0) return { perSecond: 0, bytesPerSecond: 0 };
    let bytes = 0;
    for (let k = 0; k < n; k++) if (k !== oldest) bytes += this.#bytes[k]!;
    return { perSecond: ((n - 1) * 1000) / spanMs, bytesPerSecond: (bytes * 1000) / spanMs };
  }
}

/** Milliseconds since `start` (a `process.hrtime.bigint()` stamp). */
export function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}
