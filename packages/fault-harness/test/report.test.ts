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
    faults: [{ fault: schedule.faults[0]!, appliedAtMs: 0, healedAtMs: 1, recoverMs, failoverMs }],
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
