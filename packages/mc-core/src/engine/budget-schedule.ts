/**
 * The secondary's checkpoint budget over epochs. A raised budget binds at once. A lowered one cannot:
 * the primary may have captured (and checked against the old budget) every epoch up to
 * `committed + maxInFlight` before the BUDGET message reaches it, since ACKs and BUDGET share one
 * ordered channel and a capture needs a free in-flight slot. So a lowered budget binds from epoch
 * `committed + maxInFlight + 1`; the epochs before keep the largest budget that was in force for them.
 */
export class BudgetSchedule {
  /** Budgets in the order they were set; `fromEpoch` is the first epoch each one binds. */
  #entries: Array<{ fromEpoch: number; bytes: number }>;

  constructor(initialBytes: number) {
    this.#entries = [{ fromEpoch: 0, bytes: initialBytes }];
  }

  /** The budget advertised now (the latest one set). */
  get currentBytes(): number {
    return this.#entries[this.#entries.length - 1]!.bytes;
  }

  /**
   * Sets a new budget while `committedEpoch` is the last committed epoch and `maxInFlight` checkpoints
   * may be in flight. Returns the first epoch it binds.
   */
  set(bytes: number, committedEpoch: number, maxInFlight: number): number {
    const raised = bytes >= this.currentBytes;
    const fromEpoch = raised ? committedEpoch + 1 : committedEpoch + maxInFlight + 1;
    // Entries that no uncommitted epoch can fall under any more are dropped.
    this.#entries = this.#entries.filter((_entry, i, all) => {
      const next = all[i + 1];
      return next === undefined || next.fromEpoch > committedEpoch + 1;
    });
    this.#entries.push({ fromEpoch, bytes });
    return fromEpoch;
  }

  /**
   * The largest checkpoint accepted for `epoch`: the largest budget that may have been in force at the
   * primary when it captured that epoch.
   */
  limitFor(epoch: number): number {
    let limit = 0;
    for (let i = 0; i < this.#entries.length; i++) {
      const next = this.#entries[i + 1];
      // Entry i was still in force for `epoch` unless a later budget bound it already.
      if (next === undefined || epoch < next.fromEpoch) limit = Math.max(limit, this.#entries[i]!.bytes);
    }
    return limit;
  }
}
