import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createFailureDetector, type FailureDetectorOptions, phi } from '../src/index.js';

/** Akka's formula as written there (it overflows to Infinity where ours stays finite). */
function akkaPhi(elapsed: number, mean: number, stdDev: number): number {
  const y = (elapsed - mean) / stdDev;
  const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
  return elapsed > mean ? -Math.log10(e / (1 + e)) : -Math.log10(1 - 1 / (1 + e));
}

/**
 * A phi detector on a fake clock, fed heartbeats separated by `gaps` (one per interval, so
 * `gaps.length + 1` heartbeats), evaluated every millisecond.
 */
function fed(options: FailureDetectorOptions, gaps: number[]) {
  let now = 0;
  const d = createFailureDetector({ rule: 'phi', ...options, clock: () => now });
  for (let i = 0; i <= gaps.length; i++) {
    if (i > 0) {
      for (let t = 0; t < gaps[i - 1]!; t++) {
        now++;
        d.evaluate();
      }
    }
    d.heartbeat({
      atMs: now,
      sequence: i + 1,
      incarnation: 1,
      progress: i,
      senderTimeMs: now,
      intervalMs: options.intervalMs ?? 20,
      epoch: 0,
      role: 'primary',
      goodbye: false,
    });
    d.evaluate();
  }
  const last = now;
  return {
    d,
    last,
    /** Runs until conviction; returns the time from the last heartbeat. */
    untilDead() {
      while (d.state !== 'dead' && now - last < 60_000) {
        now++;
        d.evaluate();
      }
      return now - last;
    },
  };
}

function convictionDelay(options: FailureDetectorOptions, gaps: number[]): number {
  return fed(options, gaps).untilDead();
}

const steady = Array.from({ length: 200 }, () => 20);

/** First whole millisecond at which phi(t, mean, sd) reaches the threshold. */
function firstCrossing(mean: number, sd: number, threshold: number): number {
  let t = 0;
  while (phi(t, mean, sd) < threshold) t++;
  return t;
}

describe('phi', () => {
  it('is log10(2) at the mean and grows with the time since the last heartbeat', () => {
    expect(phi(60, 60, 10)).toBeCloseTo(Math.log10(2), 12);
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 10_000, noNaN: true }),
        fc.double({ min: 0, max: 10_000, noNaN: true }),
        fc.double({ min: 1, max: 1_000, noNaN: true }),
        fc.double({ min: 0.1, max: 500, noNaN: true }),
        (a, b, mean, sd) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(phi(lo, mean, sd)).toBeLessThanOrEqual(phi(hi, mean, sd) + 1e-12);
        },
      ),
    );
  });

  it('matches the reference formula wherever that one is finite, and stays finite beyond', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 400, noNaN: true }),
        fc.double({ min: 1, max: 200, noNaN: true }),
        fc.double({ min: 1, max: 100, noNaN: true }),
        (elapsed, mean, sd) => {
          const reference = akkaPhi(elapsed, mean, sd);
          if (Number.isFinite(reference) && reference < 200) {
            expect(phi(elapsed, mean, sd)).toBeCloseTo(reference, 6);
          }
        },
      ),
    );
    expect(Number.isFinite(phi(1e6, 20, 1))).toBe(true);
    expect(phi(1e6, 20, 1)).toBeGreaterThan(phi(1e5, 20, 1));
  });
});

describe('phi accrual rule', () => {
  it('convicts a steady peer where phi over (mean + acceptable pause, min std-dev) crosses the threshold', () => {
    // Steady 20 ms heartbeats: fitted std-dev 0, floored to 10 ms; mean 20 + 40 ms acceptable pause.
    const expected = firstCrossing(60, 10, 8);
    expect(convictionDelay({}, steady)).toBe(expected);
    expect(expected).toBeGreaterThan(100);
    expect(expected).toBeLessThan(125);
  });

  it('waits longer for a jittery peer than for a steady one with the same mean interval', () => {
    const jittery = convictionDelay(
      {},
      steady.map((_, i) => (i % 2 === 0 ? 2 : 38)),
    ); // mean 20, std-dev 18
    expect(jittery).toBe(firstCrossing(60, 18, 8));
    expect(jittery).toBeGreaterThan(convictionDelay({}, steady));
  });

  it('follows phiThreshold, minStdDevMs and acceptablePauseMs', () => {
    expect(convictionDelay({ phiThreshold: 3 }, steady)).toBe(firstCrossing(60, 10, 3));
    expect(convictionDelay({ minStdDevMs: 25 }, steady)).toBe(firstCrossing(60, 25, 8));
    expect(convictionDelay({ acceptablePauseMs: 0 }, steady)).toBe(firstCrossing(20, 10, 8));
  });

  it('fits only the last windowSize inter-arrival times', () => {
    // 150 gaps of 10 ms then 50 of 40 ms: a window of 50 sees only the 40 ms gaps.
    const gaps = [...Array.from({ length: 150 }, () => 10), ...Array.from({ length: 50 }, () => 40)];
    expect(convictionDelay({ windowSize: 50 }, gaps)).toBe(firstCrossing(80, 10, 8));
    // A window of 100 holds 50 of each: mean 25, std-dev 15.
    expect(convictionDelay({ windowSize: 100 }, gaps)).toBe(firstCrossing(65, 15, 8));
  });

  it('suspects at suspectFraction of the threshold', () => {
    const run = fed({}, steady);
    let suspectAt = Number.NaN;
    run.d.on('suspect', (c) => {
      suspectAt = c.atMs - run.last;
    });
    run.untilDead();
    expect(suspectAt).toBe(firstCrossing(60, 10, 4));
  });
});

describe('phi and heartbeat age are visible whatever the rule', () => {
  for (const rule of ['deadline', 'phi'] as const) {
    it(`rule ${rule}`, () => {
      let now = 0;
      const d = createFailureDetector({ rule, clock: () => now });
      d.heartbeat({
        atMs: 0,
        sequence: 1,
        incarnation: 1,
        progress: 1,
        senderTimeMs: 0,
        intervalMs: 20,
        epoch: 0,
        role: 'primary',
        goodbye: false,
      });
      now = 30;
      const early = d.status();
      now = 70;
      const later = d.status();
      expect(early.heartbeatAgeMs).toBe(30);
      expect(later.heartbeatAgeMs).toBe(70);
      expect(later.lastHeartbeatAgeMs).toBe(70);
      expect(later.phi).toBeGreaterThan(early.phi);
      expect(later.rule).toBe(rule);
    });
  }
});
