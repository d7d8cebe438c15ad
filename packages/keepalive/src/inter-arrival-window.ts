/**
 * The last `capacity` inter-arrival times of heartbeats, with their mean and standard deviation kept up
 * to date in O(1) per sample. Running sums drift after many add/evict pairs, so they are recomputed from
 * the samples once per `capacity` insertions.
 */
export class InterArrivalWindow {
  readonly capacity: number;
  readonly #samples: Float64Array;
  #count = 0;
  #next = 0;
  #sum = 0;
  #sumOfSquares = 0;
  #sinceRecompute = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#samples = new Float64Array(capacity);
  }

  /** How many samples the window holds (at most `capacity`). */
  get size(): number {
    return this.#count;
  }

  add(intervalMs: number): void {
    if (this.#count === this.capacity) {
      const evicted = this.#samples[this.#next]!;
      this.#sum -= evicted;
      this.#sumOfSquares -= evicted * evicted;
    } else {
      this.#count++;
    }
    this.#samples[this.#next] = intervalMs;
    this.#next = (this.#next + 1) % this.capacity;
    this.#sum += intervalMs;
    this.#sumOfSquares += intervalMs * intervalMs;
    if (++this.#sinceRecompute >= this.capacity) this.#recompute();
  }

  /** Mean of the samples in milliseconds; NaN when empty. */
  mean(): number {
    return this.#count === 0 ? Number.NaN : this.#sum / this.#count;
  }

  /** Population standard deviation in milliseconds; NaN when empty. */
  stdDev(): number {
    if (this.#count === 0) return Number.NaN;
    const mean = this.#sum / this.#count;
    return Math.sqrt(Math.max(0, this.#sumOfSquares / this.#count - mean * mean));
  }

  clear(): void {
    this.#count = 0;
    this.#next = 0;
    this.#sum = 0;
    this.#sumOfSquares = 0;
    this.#sinceRecompute = 0;
  }

  #recompute(): void {
    let sum = 0;
    let sumOfSquares = 0;
    for (let i = 0; i < this.#count; i++) {
      const v = this.#samples[i]!;
      sum += v;
      sumOfSquares += v * v;
    }
    this.#sum = sum;
    this.#sumOfSquares = sumOfSquares;
    this.#sinceRecompute = 0;
  }
}
