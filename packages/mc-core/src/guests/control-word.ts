import type { GuestMemoryHandle } from '../guest-memory.js';

/**
 * The control word a worker guest polls at its safe points: one Int32 in shared memory holding the
 * requested state in its low two bits and a pause request number above them. The number matters:
 * a worker waits with `Atomics.wait(word, value)`, so a resume followed at once by a new pause
 * still changes the value and wakes it, where a bare state would read "pause" twice and sleep on.
 */
export const CONTROL_RUN = 0;
export const CONTROL_PAUSE = 1;
export const CONTROL_STOP = 2;

/**
 * A second Int32 next to the control word holds the throttle percent (0 to 99): the share of wall
 * time the workload sleeps at its safe points. A sleeping worker waits on the control word, so a
 * pause or a stop still wakes it at once.
 */
export const THROTTLE_WORD = 1;
/**
 * A third Int32 holds the dirty quota in pages (0: none): at a safe point, a worker whose guest memory
 * has that many dirty pages waits until a capture empties the log (or a pause or stop wakes it).
 */
export const DIRTY_QUOTA_WORD = 2;
/** Int32 words in the control buffer: control, throttle, dirty quota. */
export const CONTROL_WORDS = 3;

const ID_MASK = 0x1fffffff;

/** The word's value for request number `id` in `state`. */
export function controlValue(id: number, state: number): number {
  return ((id & ID_MASK) << 2) | state;
}

export function controlState(value: number): number {
  return value & 3;
}

export function controlId(value: number): number {
  return (value >>> 2) & ID_MASK;
}

/** Next pause request number. */
export function nextControlId(id: number): number {
  return (id + 1) & ID_MASK;
}

/** What the worker bootstrap receives in `workerData`. */
export interface WorkerBootData {
  readonly handle: GuestMemoryHandle;
  readonly control: SharedArrayBuffer;
  /** URL of the workload module. */
  readonly module: string;
  readonly data: unknown;
}

/** Messages from the worker to its guest, in order on one port. */
export type WorkerGuestMessage =
  | { readonly type: 'paused'; readonly id: number }
  | { readonly type: 'output'; readonly target: number; readonly data: Uint8Array }
  | { readonly type: 'done' };
