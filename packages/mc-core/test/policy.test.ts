import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BudgetSchedule } from '../src/engine/budget-schedule.js';
import { InvalidArgumentError, InvalidOptionError } from '../src/errors.js';
import { DirtyQuotaGate } from '../src/guests/throttle.js';
import { checkDecision, type PolicyDecision, type PolicyInput } from '../src/policy/contract.js';
import {
  createDefaultPolicy,
  defaultPolicy,
  throttleDown,
  throttleUp,
} from '../src/policy/default-policy.js';

const PAGE = 4096;

/** A calm input: nothing dirty, nothing measured, a slot free. */
function input(overrides: Partial<PolicyInput> = {}): PolicyInput {
  return {
    predictedBytes: 0,
    dirtyBytes: 0,
    secondaryBudgetBytes: 1 << 20,
    dirtyRateBytesPerSec: 0,
    linkRateBytesPerSec: 0,
    epochMs: 20,
    elapsedInEpochMs: 0,
    throttlePercent: 0,
    msSinceThrottleChange: 1_000,
    strainedEpochsSinceThrottleChange: 3,
    canCheckpointNow: true,
    atDirtyQuota: false,
    pageSizeBytes: PAGE,
    ...overrides,
  };
}

const inputArb: fc.Arbitrary<PolicyInput> = fc
  .record({
    budgetPages: fc.integer({ min: 1, max: 1 << 16 }),
    dirtyPages: fc.integer({ min: 0, max: 1 << 17 }),
    extraPredicted: fc.double({ min: 0, max: 1 << 30, noNaN: true }),
    dirtyRate: fc.double({ min: 0, max: 1e10, noNaN: true }),
    linkRate: fc.oneof(fc.constant(0), fc.double({ min: 1, max: 1e10, noNaN: true })),
    throttle: fc.integer({ min: 0, max: 99 }),
    msSinceThrottleChange: fc.double({ min: 0, max: 10_000, noNaN: true }),
    strained: fc.nat(5),
    canCheckpointNow: fc.boolean(),
    atDirtyQuota: fc.boolean(),
    elapsed: fc.double({ min: 0, max: 1_000, noNaN: true }),
  })
  .map((r) =>
    input({
      secondaryBudgetBytes: r.budgetPages * PAGE,
      dirtyBytes: r.dirtyPages * PAGE,
      predictedBytes: r.dirtyPages * PAGE + r.extraPredicted,
      dirtyRateBytesPerSec: r.dirtyRate,
      linkRateBytesPerSec: r.linkRate,
      throttlePercent: r.throttle,
      msSinceThrottleChange: r.msSinceThrottleChange,
      strainedEpochsSinceThrottleChange: r.strained,
      canCheckpointNow: r.canCheckpointNow,
      atDirtyQuota: r.atDirtyQuota,
      elapsedInEpochMs: r.elapsed,
    }),
  );

/**
 * How hard a decision reins the guest in, for the monotonicity property: easing the throttle is the
 * mildest, then proceeding, then shortening or pausing (budget), then throttling up.
 */
function severity(decision: PolicyDecision, current: number): number {
  switch (decision.kind) {
    case 'throttle':
      return decision.percent < current ? 0 : 3;
    case 'proceed':
      return 1;
    case 'shorten-epoch':
    case 'pause':
      return 2;
    case 'failover':
      return 4;
  }
}

describe('the default policy', () => {
  it('proceed when nothing presses', () => {
    expect(defaultPolicy(input())).toEqual({ kind: 'proceed' });
  });

  it('checkpoint early once the predicted checkpoint reaches half the budget, while a slot is free', () => {
    const budget = 1 << 20;
    expect(defaultPolicy(input({ predictedBytes: budget / 2 - 1 })).kind).toBe('proceed');
    expect(defaultPolicy(input({ predictedBytes: budget / 2 })).kind).toBe('shorten-epoch');
  });

  it('pause the guest when the prediction reaches the budget and no slot is free, and run on below it', () => {
    const budget = 1 << 20;
    const busy = { canCheckpointNow: false, dirtyBytes: 4 * PAGE };
    expect(defaultPolicy(input({ ...busy, predictedBytes: budget * 0.75 })).kind).toBe('proceed');
    expect(defaultPolicy(input({ ...busy, predictedBytes: budget })).kind).toBe('pause');
  });

  it('pause rather than checkpoint what already exceeds the budget', () => {
    const budget = 1 << 20;
    const decision = defaultPolicy(input({ dirtyBytes: budget + PAGE, predictedBytes: budget + PAGE }));
    expect(decision.kind).toBe('pause');
  });

  it('throttle only when the guest outruns a busy link, and never when the link rate is unknown', () => {
    const outrun = { dirtyRateBytesPerSec: 2e8, linkRateBytesPerSec: 1e8 };
    expect(defaultPolicy(input({ ...outrun, canCheckpointNow: false }))).toMatchObject({
      kind: 'throttle',
      percent: 20,
    });
    expect(defaultPolicy(input({ ...outrun, canCheckpointNow: true })).kind).toBe('proceed');
    expect(defaultPolicy(input({ ...outrun, canCheckpointNow: false, linkRateBytesPerSec: 0 })).kind).toBe(
      'proceed',
    );
    // Not before cutting epochs was tried since the last change.
    expect(
      defaultPolicy(input({ ...outrun, canCheckpointNow: false, strainedEpochsSinceThrottleChange: 0 })).kind,
    ).toBe('proceed');
    // A guest waiting at its dirty quota outruns the checkpoints, whatever the rates say.
    expect(defaultPolicy(input({ atDirtyQuota: true }))).toMatchObject({ kind: 'throttle', percent: 20 });
    // The level was changed too recently: hold it.
    expect(defaultPolicy(input({ ...outrun, canCheckpointNow: false, msSinceThrottleChange: 10 })).kind).toBe(
      'proceed',
    );
  });

  it('step the throttle 20, 30, ... 90, 99 while the guest outruns the link, then hold at the cap', () => {
    const seen: number[] = [];
    let percent = 0;
    for (let i = 0; i < 12; i++) {
      const decision = defaultPolicy(
        input({
          dirtyRateBytesPerSec: 5e8,
          linkRateBytesPerSec: 1e8,
          canCheckpointNow: false,
          throttlePercent: percent,
        }),
      );
      if (decision.kind !== 'throttle') {
        expect(decision.kind).toBe('proceed');
        break;
      }
      percent = decision.percent;
      seen.push(percent);
    }
    expect(seen).toEqual([20, 30, 40, 50, 60, 70, 80, 90, 99]);
  });

  it('ease the throttle step by step once the dirty rate falls well below the link rate', () => {
    const seen: number[] = [];
    let percent = 99;
    for (let i = 0; i < 12 && percent > 0; i++) {
      const decision = defaultPolicy(
        input({ dirtyRateBytesPerSec: 0, linkRateBytesPerSec: 1e8, throttlePercent: percent }),
      );
      expect(decision.kind).toBe('throttle');
      percent = (decision as { percent: number }).percent;
      seen.push(percent);
    }
    expect(seen).toEqual([90, 80, 70, 60, 50, 40, 30, 20, 0]);
    // Not while the estimated unthrottled rate (here 1.4e8) would come near the link at 40% (0.84e8).
    const held = defaultPolicy(
      input({ dirtyRateBytesPerSec: 0.7e8, linkRateBytesPerSec: 1e8, throttlePercent: 50 }),
    );
    expect(held.kind).toBe('proceed');
  });

  it('throttle steps: up and down walk the same ladder', () => {
    expect([0, 5, 20, 85, 90, 95, 99].map(throttleUp)).toEqual([20, 20, 30, 95, 99, 99, 99]);
    expect([99, 95, 90, 35, 25, 20, 10].map(throttleDown)).toEqual([90, 90, 80, 25, 0, 0, 0]);
  });

  it('never proceed (or shorten) with more dirty than the budget, nor proceed past the shorten mark with a slot free (property)', () => {
    fc.assert(
      fc.property(inputArb, (i) => {
        const d = defaultPolicy(i);
        expect(checkDecision(d)).toBe(d);
        if (i.dirtyBytes > i.secondaryBudgetBytes) expect(['pause', 'throttle']).toContain(d.kind);
        if (i.canCheckpointNow && i.predictedBytes >= i.secondaryBudgetBytes * 0.5)
          expect(d.kind).not.toBe('proceed');
        if (!i.canCheckpointNow && i.predictedBytes >= i.secondaryBudgetBytes)
          expect(['pause', 'throttle']).toContain(d.kind);
        // Throttling down never happens under budget pressure, nor at the dirty quota.
        if (d.kind === 'throttle' && d.percent < i.throttlePercent) {
          expect(i.predictedBytes).toBeLessThan(i.secondaryBudgetBytes * 0.5);
          expect(i.atDirtyQuota).toBe(false);
        }
        // The default policy never fails over.
        expect(d.kind).not.toBe('failover');
      }),
      { numRuns: 2000 },
    );
  });

  it('react at least as hard to a higher dirty rate, all else equal (property)', () => {
    fc.assert(
      fc.property(inputArb, fc.double({ min: 0, max: 1e10, noNaN: true }), (i, more) => {
        const lower = defaultPolicy(i);
        const higher = defaultPolicy({ ...i, dirtyRateBytesPerSec: i.dirtyRateBytesPerSec + more });
        expect(severity(higher, i.throttlePercent)).toBeGreaterThanOrEqual(
          severity(lower, i.throttlePercent),
        );
        if (lower.kind === 'throttle' && higher.kind === 'throttle' && lower.percent > i.throttlePercent)
          expect(higher.percent).toBeGreaterThanOrEqual(lower.percent);
      }),
      { numRuns: 2000 },
    );
  });

  it('react at least as hard to a larger predicted checkpoint, all else equal (property)', () => {
    fc.assert(
      fc.property(inputArb, fc.double({ min: 0, max: 1 << 30, noNaN: true }), (i, more) => {
        const lower = defaultPolicy(i);
        const higher = defaultPolicy({ ...i, predictedBytes: i.predictedBytes + more });
        expect(severity(higher, i.throttlePercent)).toBeGreaterThanOrEqual(
          severity(lower, i.throttlePercent),
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('validate its options, naming the option', () => {
    expect(() => createDefaultPolicy({ shortenFraction: 1.5 })).toThrow(/option shortenFraction/);
    expect(() => createDefaultPolicy({ shortenFraction: 0.6, pauseFraction: 0.5 })).toThrow(
      /option pauseFraction/,
    );
    expect(() => createDefaultPolicy({ throttleStepMs: -1 })).toThrow(InvalidOptionError);
    const eager = createDefaultPolicy({ shortenFraction: 0.25 });
    expect(eager(input({ predictedBytes: (1 << 20) / 4 })).kind).toBe('shorten-epoch');
  });
});

describe('policy decisions from user policies', () => {
  it('accept the five kinds and refuse anything else with a typed error', () => {
    for (const d of [
      { kind: 'proceed' },
      { kind: 'shorten-epoch' },
      { kind: 'throttle', percent: 0 },
      { kind: 'throttle', percent: 99 },
      { kind: 'pause', reason: 'maintenance' },
      { kind: 'failover' },
    ])
      expect(checkDecision(d)).toBe(d);
    for (const bad of [
      null,
      undefined,
      'proceed',
      {},
      { kind: 'stop' },
      { kind: 'throttle' },
      { kind: 'throttle', percent: 100 },
      { kind: 'throttle', percent: -1 },
      { kind: 'throttle', percent: 12.5 },
      { kind: 'pause', reason: 5 },
    ])
      expect(() => checkDecision(bad)).toThrow(InvalidArgumentError);
  });
});

describe('the secondary budget schedule', () => {
  it('bind a raised budget at once and a lowered one only after the epochs that may be in flight', () => {
    const budget = new BudgetSchedule(1 << 20);
    // Committed 4, two in flight allowed: 5 and 6 may already be captured under the old budget, and 7
    // may be running, its pages dirtied under it.
    expect(budget.set(1 << 18, 4, 2)).toBe(8);
    expect(budget.currentBytes).toBe(1 << 18);
    expect(budget.limitFor(5)).toBe(1 << 20);
    expect(budget.limitFor(7)).toBe(1 << 20);
    expect(budget.limitFor(8)).toBe(1 << 18);
    // Raised again at committed 5: in force from 6 on, alone from 8 (7 may still be under 1 MiB).
    expect(budget.set(1 << 19, 5, 2)).toBe(8);
    expect(budget.limitFor(7)).toBe(1 << 20);
    expect(budget.limitFor(8)).toBe(1 << 19);
    expect(budget.limitFor(100)).toBe(1 << 19);
  });

  it('never refuse an epoch the primary may have checked against a larger budget, and bind the latest one in the end (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ bytes: fc.integer({ min: 1, max: 1 << 20 }), advance: fc.nat(3) }), {
          minLength: 1,
          maxLength: 20,
        }),
        fc.integer({ min: 1, max: 2 }),
        (changes, maxInFlight) => {
          const schedule = new BudgetSchedule(1 << 20);
          // Budget k was set while `committed` was c_k. The primary can capture epoch e under it only
          // after hearing of it (e > c_k) and until it hears of the next one: every epoch it captures
          // before that, or is running then, is at most c_{k+1} + maxInFlight + 1 (ACKs and BUDGET
          // share one ordered channel).
          const history: Array<{ committed: number; bytes: number }> = [{ committed: -1, bytes: 1 << 20 }];
          let committed = 0;
          for (const change of changes) {
            committed += change.advance;
            schedule.set(change.bytes, committed, maxInFlight);
            history.push({ committed, bytes: change.bytes });
          }
          for (let epoch = committed + 1; epoch <= committed + maxInFlight + 3; epoch++) {
            let mayHold = 0;
            history.forEach((budget, k) => {
              const next = history[k + 1];
              if (
                epoch > budget.committed &&
                (next === undefined || epoch <= next.committed + maxInFlight + 1)
              )
                mayHold = Math.max(mayHold, budget.bytes);
            });
            expect(schedule.limitFor(epoch)).toBeGreaterThanOrEqual(mayHold);
          }
          expect(schedule.limitFor(committed + maxInFlight + 2)).toBe(history.at(-1)!.bytes);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('the dirty quota gate', () => {
  it('never let a guest that writes up to 8 pages per call go on at or over its quota, counting less often far below it (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 3000 }),
        (quota, writes) => {
          const gate = new DirtyQuotaGate();
          gate.quota = quota;
          let dirty = 0;
          let counts = 0;
          const count = () => {
            counts++;
            return dirty;
          };
          for (const pages of writes) {
            if (gate.reached(count)) {
              expect(dirty).toBeGreaterThanOrEqual(quota);
              return;
            }
            expect(dirty).toBeLessThan(quota);
            dirty += pages;
          }
          if (quota > 1000 && writes.length > 100 && dirty < quota / 4)
            expect(counts).toBeLessThan(writes.length);
        },
      ),
      { numRuns: 500 },
    );
  });
});
