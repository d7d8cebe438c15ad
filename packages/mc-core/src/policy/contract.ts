import { InvalidArgumentError } from '../errors.js';

/**
 * What the engine knows when it asks the policy "can we afford the next checkpoint?". Every field is
 * measured by the engine; the policy only reads them.
 */
export interface PolicyInput {
  /**
   * Page bytes the running epoch's checkpoint is expected to hold at the next moment the engine can
   * take it: the dirty bytes now plus the dirty rate times the time until then (the next policy check
   * when a slot is free, else the expected wait for the ACK of the checkpoint in flight).
   */
  predictedBytes: number;
  /** Page bytes dirty now: the dirty bitmap's popcount times the page size. */
  dirtyBytes: number;
  /** The largest checkpoint the secondary accepts now, bytes (HELLO, then BUDGET). */
  secondaryBudgetBytes: number;
  /**
   * Bytes of new dirty pages per second while the guest ran (smoothed; a page dirtied twice counts
   * once per checkpoint). It is the throttled rate: what the guest dirties at `throttlePercent`.
   */
  dirtyRateBytesPerSec: number;
  /** Checkpoint bytes shipped per second, from shipping to ACK (smoothed); 0 until the first ACK. */
  linkRateBytesPerSec: number;
  /** The configured epoch length, ms. */
  epochMs: number;
  /** Time since the running epoch began, ms. */
  elapsedInEpochMs: number;
  /** Share of wall time the guest is kept from running now, percent (0 = not throttled). */
  throttlePercent: number;
  /** Time since the throttle last changed (or since protection began), ms. */
  msSinceThrottleChange: number;
  /**
   * Since the throttle last changed (or protection began): checkpoints cut early or waited for (the
   * engine applied `shorten-epoch` or `pause`), plus epochs stretched because the checkpoint before
   * was still unacknowledged. Shows that cutting epochs alone has been tried.
   */
  strainedEpochsSinceThrottleChange: number;
  /** A staging slot is free: a checkpoint taken now ships at once (else it waits for an ACK). */
  canCheckpointNow: boolean;
  /**
   * The guest has as many dirty pages as its dirty quota allows (see `Guest.setDirtyQuota`) and waits
   * for the next capture: it would dirty faster than checkpoints are cut. False for a guest without
   * a quota.
   */
  atDirtyQuota: boolean;
  /** Page size of the guest memory, bytes: the smallest unit a checkpoint grows by. */
  pageSizeBytes: number;
}

/**
 * What a policy decides:
 * - `proceed`: nothing to do; the epoch runs on (the throttle stays where it is).
 * - `shorten-epoch`: checkpoint now, before the dirty pages outgrow the budget.
 * - `throttle`: keep the guest from running `percent`% of wall time from now on (0 lifts it).
 * - `pause`: pause the guest now; it resumes once the next checkpoint is captured, which the engine
 *   takes as soon as a staging slot is free (after the ACK of the checkpoint in flight).
 * - `failover`: hand the workload over to the secondary now, before protection is at risk.
 *
 * `reason` is free text for events and status.
 */
export type PolicyDecision =
  | { kind: 'proceed'; reason?: string }
  | { kind: 'shorten-epoch'; reason?: string }
  | { kind: 'throttle'; percent: number; reason?: string }
  | { kind: 'pause'; reason?: string }
  | { kind: 'failover'; reason?: string };

/** The kinds of decision. */
export type PolicyDecisionKind = PolicyDecision['kind'];

/**
 * A checkpoint policy: a function of what the engine measured to a decision. It is called every
 * `policyIntervalMs` while protected, must be fast and must not throw (a throw, or a malformed
 * decision, is reported as an `'error'` event and the default policy decides that time). Whatever it
 * decides, the engine never ships a checkpoint larger than the secondary's budget.
 */
export type CheckpointPolicy = (input: Readonly<PolicyInput>) => PolicyDecision;

/** Checks a decision returned by a user policy; throws InvalidArgumentError naming what is wrong. */
export function checkDecision(value: unknown): PolicyDecision {
  const d = value as { kind?: unknown; percent?: unknown; reason?: unknown } | null;
  if (d === null || typeof d !== 'object')
    throw new InvalidArgumentError(`the policy returned ${String(value)}, not a decision object`);
  if (d.reason !== undefined && typeof d.reason !== 'string')
    throw new InvalidArgumentError('the policy decision has a reason that is not a string');
  switch (d.kind) {
    case 'proceed':
    case 'shorten-epoch':
    case 'pause':
    case 'failover':
      return d as PolicyDecision;
    case 'throttle':
      if (typeof d.percent !== 'number' || !Number.isInteger(d.percent) || d.percent < 0 || d.percent > 99)
        throw new InvalidArgumentError(
          `the policy asked for throttle ${String(d.percent)}; it must be an integer from 0 to 99`,
        );
      return d as PolicyDecision;
    default:
      throw new InvalidArgumentError(`the policy returned the unknown decision kind ${String(d.kind)}`);
  }
}

/** Whether two decisions are the same (kind, and percent for throttle); reasons are not compared. */
export function sameDecision(a: PolicyDecision, b: PolicyDecision): boolean {
  if (a.kind !== b.kind) return false;
  return a.kind !== 'throttle' || a.percent === (b as { percent: number }).percent;
}
