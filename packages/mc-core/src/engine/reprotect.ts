import type { CorkQueue } from '@microcheckpoint/io-cork';
import type { Arbiter, ArbiterGrant } from '../arbiter/contract.js';
import type { Guest, OutputSink } from '../guests/contract.js';

/**
 * What a node that runs the workload alone (a secondary that took over) hands to the `Primary` that
 * protects it again. The primary continues the survivor's counters instead of starting new ones:
 * the cork queue carries the output seq and the epoch counter, and the generation and fencing token
 * are the survivor's, so nothing restarts (ARCHITECTURE.md, "Epoch numbers restart nowhere").
 *
 * The handoff has three steps, driven by the primary's `start()`:
 * 1. `begin()` before the HELLO exchange: the survivor's pending direct output is released, the
 *    survivor's grant keeps being renewed, and the guest's output goes corked into the epoch the
 *    HELLO announces (the new secondary must know it before the sync starts).
 * 2. `commit()` once the new secondary answered HELLO: the survivor stops acting alone and gives up
 *    its grant (the primary releases it at the arbiter, so the new secondary can win the next
 *    generation at once if this node dies). Null when the grant was lost meanwhile: then someone
 *    newer may own the workload and the primary must not go on.
 * 3. `rollback()` when the attach failed: the survivor goes on serving alone under its grant, and the
 *    output corked meanwhile is released.
 */
export interface SurvivorHandoff {
  readonly guest: Guest;
  /** The application's sink of the survivor's output. */
  readonly output: OutputSink;
  readonly arbiter: Arbiter;
  readonly nodeId: string;
  /** The survivor's cork queue: seq, epoch counter and generation continue in it. */
  readonly cork: CorkQueue;
  readonly generation: number;
  readonly fencingToken: number;
  /**
   * Corks the guest's output into a fresh epoch of `cork`, appended through `append`; returns that
   * epoch (the first checkpoint's number).
   */
  begin(append: OutputSink): number;
  commit(): ArbiterGrant | null;
  rollback(): void;
}
