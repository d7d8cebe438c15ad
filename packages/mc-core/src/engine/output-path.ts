import { type CorkItem, type CorkQueue, callbackSink } from '@microcheckpoint/io-cork';
import type { OutputSink } from '../guests/contract.js';

/** io-cork names destinations with strings; a guest names its output targets with numbers. */
export function destinationOf(target: number): string {
  return String(target);
}

/**
 * The guest's output as the engine routes it: every output is appended to the cork queue (so it
 * gets its epoch and seq, and travels in the checkpoint), and released items go to the
 * application's sink. In `corked` mode items wait for the checkpoint's ACK; in `direct` mode (a
 * node running unprotected after winning arbitration) each turn's output is released at once.
 */
export class OutputPath {
  readonly cork: CorkQueue;
  readonly #sink: OutputSink;
  readonly #attached = new Set<string>();
  #direct = false;
  #flushScheduled = false;
  /** Called when the cork queue reports backpressure in corked mode: checkpoint sooner. */
  onPressure: (() => void) | null = null;
  /** Output the engine refused (the cork queue is at its hard cap); counted, never thrown at the guest. */
  refused = 0;
  lastRefusal: unknown = null;
  /** Outputs the guest produced so far (the primary tells from it whether an epoch has output). */
  appended = 0;
  /**
   * While direct, output leaves only if this says the node still holds its grant (null: no gate).
   * The grant's expiry fence is a timer, and a turn that ran past the grant's end (a long handler, a
   * blocked event loop) reaches its release, at the next check phase, before the loop's timers run.
   * A closed gate turns the path corked: nothing leaves, and the fence follows.
   */
  releaseGate: (() => boolean) | null = null;

  constructor(cork: CorkQueue, sink: OutputSink) {
    this.cork = cork;
    this.#sink = sink;
  }

  /** The guest's output sink: install it with `guest.setOutput(path.append)`. */
  readonly append = (target: number, data: Uint8Array): void => {
    this.appended++;
    const destination = destinationOf(target);
    if (!this.#attached.has(destination)) {
      this.#attached.add(destination);
      this.cork.attach(
        destination,
        callbackSink((item: CorkItem) => this.#sink(target, item.data)),
      );
    }
    let below: boolean;
    try {
      below = this.cork.append(destination, data);
    } catch (err) {
      // The hard cap: the output is lost, but a throw here would fail the guest. The engine
      // checkpoints early on backpressure, so this only happens when checkpoints cannot complete.
      this.refused++;
      this.lastRefusal = err;
      this.onPressure?.();
      return;
    }
    if (this.#direct) this.#scheduleFlush();
    else if (!below) this.onPressure?.();
  };

  /** Whether output is released at once. */
  get direct(): boolean {
    return this.#direct;
  }

  /**
   * Switches to direct release (unprotected). Everything sealed is released now, and the open
   * epoch at the next turn; from then on each turn's output is sealed and released together.
   */
  goDirect(): void {
    this.#direct = true;
    if (!this.#mayRelease()) return;
    const lastSealed = this.#lastSealed();
    if (lastSealed !== null) this.cork.release(lastSealed);
    this.#scheduleFlush();
  }

  /**
   * Releases now what direct mode would release at the next turn (the open epoch is sealed and
   * released; no epoch is left open), then goes corked: the node hands its output over to a new
   * owner of the cork queue (re-protection).
   */
  settle(): void {
    if (this.#direct) {
      const open = this.cork.openEpoch;
      if (open !== undefined) {
        this.cork.seal(open);
        this.cork.release(open);
      }
    }
    this.#direct = false;
  }

  /** Back to corked (a deposed node: nothing leaves any more). */
  goCorked(): void {
    this.#direct = false;
  }

  /** Attaches a sink for a destination that this path has not seen (re-emission after takeover). */
  attachReemit(destination: string, sink: OutputSink): void {
    const target = Number(destination);
    this.cork.attach(
      destination,
      callbackSink((item: CorkItem) => sink(target, item.data)),
    );
    // The next output for this destination goes to the application's sink again.
    this.#attached.delete(destination);
  }

  #mayRelease(): boolean {
    if (this.releaseGate === null || this.releaseGate()) return true;
    this.#direct = false;
    return false;
  }

  #lastSealed(): number | null {
    const open = this.cork.openEpoch;
    const held = this.cork.heldEpochs.filter((e) => e !== open);
    return held.length === 0 ? null : held[held.length - 1]!;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      if (!this.#direct || !this.#mayRelease()) return;
      const open = this.cork.openEpoch;
      if (open === undefined) return;
      this.cork.seal(open);
      this.cork.release(open);
      this.cork.open(open + 1);
    });
  }
}
