import { performance } from 'node:perf_hooks';

/**
 * Runs a store's background work in short slices on the event loop, so that compression happens
 * between checkpoints instead of inside them. Each slice is `work(sliceMs)`; after a slice that took
 * `t` ms the next one waits at least `t * (1 - share) / share` ms, so that slices take at most
 * `share` of wall-clock time; a share of 1 runs a slice every event-loop turn. The first slice after
 * a `kick()` runs on the next turn. Timers are unref'd: pending work never keeps the process alive.
 * A slice that throws stops the schedule until the next `kick()`.
 */
export class BackgroundScheduler {
  private immediate: NodeJS.Immediate | null = null;
  private timeout: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly work: (budgetMs: number) => boolean,
    private readonly share: number,
    private readonly sliceMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Whether slices are scheduled at all (a share above zero). */
  get enabled(): boolean {
    return this.share > 0;
  }

  /** Schedules a slice unless one is already scheduled. */
  kick(): void {
    if (this.stopped || this.share <= 0 || this.immediate !== null || this.timeout !== null) return;
    this.immediate = setImmediate(this.run).unref();
  }

  /** Cancels the scheduled slice for good (the store is closing). */
  stop(): void {
    this.stopped = true;
    if (this.immediate !== null) clearImmediate(this.immediate);
    if (this.timeout !== null) clearTimeout(this.timeout);
    this.immediate = null;
    this.timeout = null;
  }

  private readonly run = (): void => {
    this.immediate = null;
    this.timeout = null;
    if (this.stopped) return;
    const started = performance.now();
    let more: boolean;
    try {
      more = this.work(this.sliceMs);
    } catch (err) {
      this.onError(err);
      return;
    }
    if (!more || this.stopped) return;
    if (this.share >= 1) {
      this.immediate = setImmediate(this.run).unref();
      return;
    }
    const spent = performance.now() - started;
    // Node's timers count whole milliseconds from a truncated clock, so one may fire up to a
    // millisecond early: one more keeps the gap at least as long as the share requires.
    this.timeout = setTimeout(this.run, Math.ceil((spent * (1 - this.share)) / this.share) + 1).unref();
  };
}
