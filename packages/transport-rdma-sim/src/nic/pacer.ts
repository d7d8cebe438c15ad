import type { PerformanceModel } from '../performance-model.js';
import { serializationNs } from '../performance-model.js';

/**
 * Applies the performance model to one NIC: a virtual link clock that serialises messages one after
 * the other. It returns, for each message, the earliest time its completion may be reported, and
 * counts the link time it charged.
 */
export class Pacer {
  readonly #model: PerformanceModel;
  readonly #pace: boolean;
  #linkFreeAtMs = 0;
  #chargedNs = 0;

  constructor(model: PerformanceModel, pace: boolean) {
    this.#model = model;
    this.#pace = pace;
  }

  /** Link time charged so far, in nanoseconds. */
  get chargedNs(): number {
    return this.#chargedNs;
  }

  /**
   * Charges one message and returns the earliest completion time (performance.now() milliseconds),
   * or 0 when the model only counts and does not pace. `requestBytes` travel out; a READ's
   * `responseBytes` travel back.
   */
  schedule(nowMs: number, requestBytes: number, responseBytes: number): number {
    const outNs = serializationNs(this.#model, requestBytes);
    const backNs = responseBytes > 0 ? serializationNs(this.#model, responseBytes) : 0;
    this.#chargedNs += outNs + backNs;
    const start = Math.max(nowMs, this.#linkFreeAtMs);
    this.#linkFreeAtMs = start + outNs / 1e6;
    if (!this.#pace) return 0;
    return this.#linkFreeAtMs + (2 * this.#model.latencyNs + backNs) / 1e6;
  }
}
