import {
  DEFAULT_THROTTLE_STEP_MS,
  PAUSE_BUDGET_FRACTION,
  SHORTEN_EPOCH_FRACTION,
  THROTTLE_EASE_HEADROOM,
  THROTTLE_MAX_PERCENT,
  THROTTLE_START_PERCENT,
  THROTTLE_STEP_PERCENT,
} from '../constants.js';
import { InvalidOptionError } from '../errors.js';
import type { CheckpointPolicy, PolicyDecision, PolicyInput } from './contract.js';

/** Options of `createDefaultPolicy()`. */
export interface DefaultPolicyOptions {
  /**
   * Checkpoint early once the predicted checkpoint reaches this fraction of the budget (0 to 1).
   * @default 0.5
   */
  shortenFraction?: number;
  /**
   * With no slot free, pause the guest once the predicted checkpoint reaches this fraction of the
   * budget (`shortenFraction` to 1).
   * @default 1
   */
  pauseFraction?: number;
  /**
   * Hold each throttle level at least this long before stepping it again, ms.
   * @default 100
   */
  throttleStepMs?: number;
}

/** The next throttle level up the auto-converge ladder: 0 → 20 → 30 → … → 90 → 99 (capped). */
export function throttleUp(percent: number): number {
  return Math.min(THROTTLE_MAX_PERCENT, Math.max(THROTTLE_START_PERCENT, percent + THROTTLE_STEP_PERCENT));
}

/** The next level down when easing: 99 → 90 → 80 → … → 20 → 0. */
export function throttleDown(percent: number): number {
  const floor = Math.floor((percent - 1) / THROTTLE_STEP_PERCENT) * THROTTLE_STEP_PERCENT;
  const down =
    percent > THROTTLE_MAX_PERCENT - THROTTLE_STEP_PERCENT ? floor : percent - THROTTLE_STEP_PERCENT;
  return down < THROTTLE_START_PERCENT ? 0 : down;
}

function fraction(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > 1)
    throw new InvalidOptionError(name, `must be a number from ${min} to 1, got ${String(value)}`);
  return value;
}

/**
 * The default checkpoint policy, a pure function of its input. In order:
 * 1. Rate pressure: the guest dirties faster than the link ships (`dirtyRate > linkRate`) while the
 *    link is busy (no slot free: a checkpoint is still being shipped), or it waits at its dirty quota
 *    (it dirties faster than checkpoints are cut); cutting epochs was tried since the last change
 *    (a checkpoint shortened or paused for, or an epoch stretched); and the throttle has held its
 *    level for `throttleStepMs` (counted from the start of protection too): throttle one step up
 *    (20%, +10%, cap 99%). An idle link is not the bottleneck, whatever a latency-bound rate measured
 *    on small checkpoints says.
 *    The engine applies a throttle change and asks again at once, so this never delays 2.
 * 2. Budget: the predicted checkpoint (or the dirty bytes) reaches `shortenFraction` of the budget:
 *    checkpoint now (`shorten-epoch`) if a slot is free and what is dirty still fits; otherwise,
 *    from `pauseFraction` of the budget on (or once the dirty bytes exceed it), `pause` the guest
 *    until the in-flight checkpoint is acknowledged and the next one is taken.
 * 3. Easing: throttled, no budget pressure, not at the dirty quota, the guest's estimated unthrottled dirty rate at one step
 *    lower stays under 80% of the link rate, and the level has held for `throttleStepMs`: one step
 *    down (99 → 90 → 80 → … → 20 → 0).
 * 4. Otherwise `proceed`.
 *
 * It never decides `proceed` or `shorten-epoch` when what is dirty already exceeds the budget, and
 * never `proceed` once the prediction reaches the shorten threshold with a slot free. It never
 * decides `failover`: running out of budget says nothing about the primary's health, and a failover
 * would leave the workload unprotected on the secondary. Proactive failover belongs to policies that
 * see what the engine does not (host maintenance, hardware errors): wrap this one.
 */
export function createDefaultPolicy(options: DefaultPolicyOptions = {}): CheckpointPolicy {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError('policy', 'must be an object');
  const shortenFraction = fraction('shortenFraction', options.shortenFraction, SHORTEN_EPOCH_FRACTION, 0);
  const pauseFraction = fraction(
    'pauseFraction',
    options.pauseFraction,
    PAUSE_BUDGET_FRACTION,
    shortenFraction,
  );
  const stepMs = options.throttleStepMs ?? DEFAULT_THROTTLE_STEP_MS;
  if (typeof stepMs !== 'number' || !Number.isFinite(stepMs) || stepMs < 0)
    throw new InvalidOptionError('throttleStepMs', `must be a number >= 0, got ${String(stepMs)}`);

  return (input: Readonly<PolicyInput>): PolicyDecision => {
    const budget = input.secondaryBudgetBytes;
    const percent = input.throttlePercent;
    const link = input.linkRateBytesPerSec;
    const rate = input.dirtyRateBytesPerSec;
    const stepDue = input.msSinceThrottleChange >= stepMs;

    const outrun = input.atDirtyQuota || (!input.canCheckpointNow && link > 0 && rate > link);
    const strained = input.strainedEpochsSinceThrottleChange > 0;
    if (stepDue && outrun && strained && percent < THROTTLE_MAX_PERCENT)
      return {
        kind: 'throttle',
        percent: throttleUp(percent),
        reason: 'the guest dirties faster than the link',
      };

    const risk = Math.max(input.predictedBytes, input.dirtyBytes);
    if (risk >= budget * shortenFraction || input.dirtyBytes > budget) {
      if (input.canCheckpointNow && input.dirtyBytes <= budget)
        return { kind: 'shorten-epoch', reason: 'the next checkpoint approaches the budget' };
      if (risk >= budget * pauseFraction || input.dirtyBytes > budget)
        return { kind: 'pause', reason: 'the checkpoint would outgrow the budget before a slot is free' };
    }

    if (stepDue && percent > 0 && !input.atDirtyQuota && risk < budget * shortenFraction) {
      const down = throttleDown(percent);
      // What the guest would dirty unthrottled, then at the lower level.
      const demand = rate / (1 - percent / 100);
      if (link > 0 ? demand * (1 - down / 100) < link * THROTTLE_EASE_HEADROOM : rate === 0)
        return { kind: 'throttle', percent: down, reason: 'the dirty rate fell below the link rate' };
    }
    return { kind: 'proceed' };
  };
}

/** The default policy with its default options (see `createDefaultPolicy`). */
export const defaultPolicy: CheckpointPolicy = createDefaultPolicy();
