import type { CorkQueue } from '@microcheckpoint/io-cork';
import { type Arbiter, type ArbiterGrant, grantIsValid } from '../arbiter/contract.js';
import { EngineStateError } from '../errors.js';
import type { Guest, OutputSink } from '../guests/contract.js';
import type { OutputPath } from './output-path.js';

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

/** What a node serving alone lends to `survivorHandoff()`. */
export interface SurvivorParts {
  guest: Guest;
  output: OutputSink;
  arbiter: Arbiter;
  nodeId: string;
  generation: number;
  fencingToken: number;
  /** The node's output path (direct: it serves alone); its cork queue goes on in the new primary. */
  path: OutputPath;
  /** Whether the node still serves alone (its grant was not lost, it was not re-protected). */
  serving(): boolean;
  /** The grant it serves under. */
  grant(): ArbiterGrant | null;
  /** The new primary took over: stop renewing the grant, mark the node re-protected. */
  handedOff(): void;
  /** The attach failed: the node may be protected again later. */
  rolledBack(): void;
}

/** The handoff of a node serving alone (a secondary that took over, a primary that won arbitration). */
export function survivorHandoff(parts: SurvivorParts): SurvivorHandoff {
  const { path, guest } = parts;
  return {
    guest,
    output: parts.output,
    arbiter: parts.arbiter,
    nodeId: parts.nodeId,
    cork: path.cork,
    generation: parts.generation,
    fencingToken: parts.fencingToken,
    begin(append) {
      if (!parts.serving()) throw new EngineStateError('protect: this node no longer serves alone');
      // What direct mode still holds leaves now, under the node's grant; what follows is corked.
      path.settle();
      const epoch = path.cork.lastEpoch + 1;
      path.cork.open(epoch);
      guest.setOutput(append);
      return epoch;
    },
    commit() {
      const grant = parts.grant();
      if (!parts.serving() || !grantIsValid(grant)) return null;
      parts.handedOff();
      return grant;
    },
    rollback() {
      parts.rolledBack();
      // A node that lost its grant meanwhile keeps the output corked: someone newer may serve.
      if (!parts.serving()) return;
      guest.setOutput(path.append);
      path.goDirect();
    },
  };
}
