/** A planned switchover, done: the secondary accepted the handover and takes over now. */
export interface SwitchoverEvent {
  /** The last checkpoint of this primary; everything up to it was acknowledged and released here. */
  epoch: number;
  /** The generation and fencing token this primary worked under (the secondary asks for the next). */
  generation: number;
  fencingToken: number;
  /** From `switchover()` to the last checkpoint's ACK (the guest stopped at its capture), ms. */
  drainMs: number;
  /** From `switchover()` to the secondary's acceptance of the handover, ms. */
  durationMs: number;
}
