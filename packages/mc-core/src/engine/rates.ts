/**
 * A rate smoothed exponentially over time: each sample of `bytes` over `ms` moves the estimate toward
 * its own rate by `1 - exp(-ms / timeConstantMs)`, so the estimate forgets at the same speed whether
 * samples come every millisecond or every hundred.
 */
export class SmoothedRate {
  readonly #timeConstantMs: number;
  #bytesPerSec = 0;
  #seeded = false;

  constructor(timeConstantMs: number) {
    this.#timeConstantMs = timeConstantMs;
  }

  get bytesPerSec(): number {
    return this.#bytesPerSec;
  }

  add(bytes: number, ms: number): void {
    if (!(ms > 0)) return;
    const rate = (bytes * 1000) / ms;
    if (!this.#seeded) {
      this.#seeded = true;
      this.#bytesPerSec = rate;
      return;
    }
    const weight = 1 - Math.exp(-ms / this.#timeConstantMs);
    this.#bytesPerSec += weight * (rate - this.#bytesPerSec);
  }
}

/** A rate smoothed per sample (exponential moving average with a fixed weight). */
export class AveragedRate {
  readonly #weight: number;
  #bytesPerSec = 0;

  constructor(weight: number) {
    this.#weight = weight;
  }

  get bytesPerSec(): number {
    return this.#bytesPerSec;
  }

  add(bytes: number, ms: number): void {
    if (!(ms > 0)) return;
    const rate = (bytes * 1000) / ms;
    this.#bytesPerSec =
      this.#bytesPerSec === 0 ? rate : this.#bytesPerSec + this.#weight * (rate - this.#bytesPerSec);
  }
}
