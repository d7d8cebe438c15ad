import { describe, expect, it } from 'vitest';
import { DETECTION_DEADLINE_MS } from '../src/constants.js';
import { faultCases, formatTable, outcomeOf } from '../src/report.js';
import type { RunResult } from '../src/run.js';
import { generateSchedule } from '../src/schedule.js';

function result(
  seed: number,
  recoverMs: number | null,
  failoverMs: number | null,
  violated: boolean,
): RunResult {
  const schedule = generateSchedule(seed, 'file', { kind: 'kill' });
  return {
    schedule,
    faults: [
      {
        fault: schedule.faults[0]!,
        appliedAtMs: 0,
        healedAtMs: 1,
        recoverMs,
        failoverMs,
        onReprotectedPair: false,
      },
    ],
    reprotect: null,
    protectMs: 500,
    violations: violated ? [{ kind: 'lost-write', key: 'r0', detail: 'SET 3 acknowledged, final 2' }] : [],
    operations: 10,
    acknowledged: 9,
    finalNode: 'secondary',
    finalGeneration: 2,
    releases: [],
    history: [],
    events: [],
  };
}

describe('report', () => {
  it('summarizes recovery and failover per nemesis against the detection deadline, and counts violations', () => {
    const runs = [result(1, 100, 90, false), result(2, 300, 210, true), result(3, null, null, false)];
    const cases = faultCases(runs);
    const byName = new Map(cases.map((c) => [c.name, c]));
    expect(byName.get('kill file recover p50')).toMatchObject({
      value: 100,
      baseline: DETECTION_DEADLINE_MS,
    });
    expect(byName.get('kill file recover max')).toMatchObject({
      value: 300,
      ratio: 300 / DETECTION_DEADLINE_MS,
    });
    expect(byName.get('kill file failover max')?.value).toBe(210);
    expect(byName.get('violations')?.value).toBe(1);
    expect(byName.get('runs never served again')?.value).toBe(1);
  });

  it('names the outcome and prints one row per run', () => {
    const runs = [result(1, 100, 90, false), result(2, 300, 210, true), result(3, null, null, false)];
    expect(runs.map(outcomeOf)).toEqual(['ok', 'VIOLATED (lost-write)', 'ok']);
    const table = formatTable(runs).split('\n');
    expect(table).toHaveLength(2 + runs.length);
    expect(table[4]).toContain('never');
  });
});

describe('report of re-protection', () => {
  it('gives the re-protection time against the first protection, and counts failed attempts', () => {
    const reprotected = (
      seed: number,
      protectMs: number | null,
      outcome: 'protected' | 'failed',
    ): RunResult => {
      const base = result(seed, 200, 190, false);
      const schedule = generateSchedule(seed, 'file', { kind: 'kill', reprotect: 'kill' });
      return {
        ...base,
        schedule,
        faults: [
          ...base.faults,
          {
            fault: schedule.reprotect!.fault,
            appliedAtMs: 5,
            healedAtMs: 6,
            recoverMs: 250,
            failoverMs: 240,
            onReprotectedPair: outcome === 'protected',
          },
        ],
        reprotect: { outcome, survivor: 'secondary', protectMs },
      };
    };
    const runs = [
      reprotected(1, 150, 'protected'),
      reprotected(2, 450, 'protected'),
      reprotected(3, null, 'failed'),
    ];
    const byName = new Map(faultCases(runs).map((c) => [c.name, c]));
    expect(byName.get('reprotect file p50')).toMatchObject({ value: 150, baseline: 500, ratio: 0.3 });
    expect(byName.get('reprotect file max')).toMatchObject({ value: 450, ratio: 0.9 });
    expect(byName.get('reprotect failed')?.value).toBe(1);
    expect(byName.get('reprotected kill file recover p50')?.value).toBe(250);
    expect(byName.get('kill file recover max')?.value).toBe(250); // the third run's fault hit the old pair
    expect(formatTable(runs)).toContain('secondary in 150 ms');
    expect(formatTable(runs)).toContain('secondary FAILED');
  });
});
