import type { GuestMemory } from '../guest-memory.js';

/**
 * Where a guest's output goes: `target` says to whom (for a network service, a connection id),
 * `data` is the bytes, owned by the sink from then on. The engine replaces the sink with its cork
 * queue, which holds output until the checkpoint covering it is acknowledged; unprotected, a sink
 * writes straight to the outside world.
 */
export type OutputSink = (target: number, data: Uint8Array) => void;

/**
 * - `running`: the workload may write guest memory and produce output.
 * - `pausing`: a pause was requested; the workload has not reached a safe point yet.
 * - `paused`: at a safe point; nothing writes guest memory or produces output until `resume()`.
 * - `stopped`: closed, or the workload finished; nothing will ever write again.
 * - `failed`: the workload threw or its thread died; see the `'error'` event.
 */
export type GuestState = 'running' | 'pausing' | 'paused' | 'stopped' | 'failed';

/** Options of `Guest.pause()`. */
export interface PauseOptions {
  /**
   * Time allowed to reach a safe point, in milliseconds; on expiry the request is withdrawn, the
   * guest runs on and the promise rejects with `MC_ERR_PAUSE_TIMEOUT`. 0 waits forever.
   * @default the guest's `pauseTimeoutMs`
   */
  timeoutMs?: number;
}

/**
 * What the engine needs from a protected workload: stop it at a safe point, let it go on, reach its
 * memory, and route its output.
 */
export interface Guest {
  readonly kind: 'in-process' | 'worker';
  /** The memory the workload keeps all its state in. */
  readonly memory: GuestMemory;
  readonly state: GuestState;
  /**
   * Asks the workload to stop at its next safe point. Resolves once it is there: from then until
   * `resume()`, guest memory does not change and no output is produced, and every output produced
   * before has reached the sink. Resolves at once if already paused or stopped.
   */
  pause(options?: PauseOptions): Promise<void>;
  /** Lets a paused workload go on. A no-op while running; throws `MC_ERR_GUEST_STATE` while pausing. */
  resume(): void;
  /**
   * Share of wall time the workload is kept from running, percent (0 to 99); 0 when not throttled.
   * Optional: a guest without a throttle is never throttled (the engine's policy then relies on
   * shortened epochs and pauses alone).
   */
  readonly throttlePercent?: number;
  /**
   * Slows the workload auto-converge style: from now on it spends about `percent`% of wall time not
   * running (sleeping at its safe points, or delaying its next turn). 0 lifts the throttle. Pausing
   * and resuming are unaffected. Throws `MC_ERR_INVALID_ARGUMENT` outside 0..99. Optional.
   */
  throttle?(percent: number): void;
  /**
   * Makes the workload wait at its next safe point (before its next request) while guest memory holds
   * `pages` dirty pages or more, until a capture empties the dirty log; 0 lifts it. The engine sets it
   * from the secondary's budget, so that a guest dirtying faster than epochs can be cut waits instead
   * of outgrowing the budget. Counts the dirty bitmap, so it does not see the writes of opaque
   * (scan-mode) writers. Optional.
   */
  setDirtyQuota?(pages: number): void;
  /** Routes output from now on to `sink` (the engine installs its cork queue here). */
  setOutput(sink: OutputSink): void;
  /** Stops the workload for good and releases its resources. Idempotent. */
  close(): Promise<void>;
  /**
   * Requests still waiting to run, for guests that take requests (in-process); absent when the guest
   * cannot tell (a worker running its own loop).
   */
  readonly queuedRequests?: number;
  on(event: 'error', listener: (error: Error) => void): this;
  /**
   * `'idle'`: the guest ran out of work (its request queue emptied). Guests that cannot tell never
   * emit it. The primary uses it to checkpoint early when output is waiting (see `idleCheckpointMs`).
   */
  on(event: 'idle', listener: () => void): this;
  off(event: 'error', listener: (error: Error) => void): this;
  off(event: 'idle', listener: () => void): this;
}
