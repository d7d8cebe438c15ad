/**
 * The secondary's checkpoint budget over epochs. A budget set while `committed` is the last committed
 * epoch reaches the primary behind the ACK of `committed` (one ordered channel). By then the primary
 * may have captured every epoch up to `committed + maxInFlight` under the budget before (a capture
 * needs a free in-flight slot), and the epoch running then, at most `committed + maxInFlight + 1`,
 * has dirtied pages under it too: a checkpoint is atomic, so that epoch may still use the old budget
 * (the primary lowers the guest's dirty quota at once, so the next one fits the new budget). Each
 * budget is therefore in force for a range of epochs, and a checkpoint is accepted up to the largest
 * budget in force for its epoch: a raised budget binds at once, a lowered one from
 * `committed + maxInFlight + 2`.
 */
export class BudgetSchedule {
  /** Budgets in the order they were set; each may be in force for epochs `from <= e < until`. */
  #entries: Array<{ from: number; until: number; bytes: number }>;

  constructor(initialBytes: number) {
    this.#entries = [{ from: 0, until: Number.POSITIVE_INFINITY, bytes: initialBytes }];
  }

  /** The budget advertised now (the latest one set). */
  get currentBytes(): number {
    return this.#entries[this.#entries.length - 1]!.bytes;
  }

  /**
   * Sets a new budget while `committedEpoch` is the last committed epoch and `maxInFlight` checkpoints
   * may be in flight. Returns the first epoch from which it is the only budget in force.
   */
  set(bytes: number, committedEpoch: number, maxInFlight: number): number {
    const latest = this.#entries[this.#entries.length - 1]!;
    latest.until = committedEpoch + maxInFlight + 2;
    // Budgets no uncommitted epoch can fall under any more are forgotten.
    this.#entries = this.#entries.filter((e) => e.until > committedEpoch + 1);
    this.#entries.push({ from: committedEpoch + 1, until: Number.POSITIVE_INFINITY, bytes });
    let fromEpoch = committedEpoch + 1;
    for (const e of this.#entries) if (e.bytes > bytes) fromEpoch = Math.max(fromEpoch, e.until);
    return fromEpoch;
  }

  /** The largest checkpoint accepted for `epoch`: the largest budget that may be in force for it. */
  limitFor(epoch: number): number {
    let limit = 0;
    for (const e of this.#entries) if (epoch >= e.from && epoch < e.until) limit = Math.max(limit, e.bytes);
    return limit;
  }
}
