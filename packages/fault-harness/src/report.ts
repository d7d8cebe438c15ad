import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DETECTION_DEADLINE_MS } from './constants.js';
import type { RunResult } from './run.js';
import { describeSchedule } from './schedule.js';

/** One bench case, the shape every suite in bench/results uses. */
export interface FaultCase {
  name: string;
  unit: string;
  value: number;
  baseline: number;
  ratio: number;
}

function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function quantile(samples: readonly number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The verdict of one run in a word. */
export function outcomeOf(result: RunResult): string {
  if (result.skipped !== undefined) return 'skipped';
  if (result.violations.length > 0)
    return `VIOLATED (${[...new Set(result.violations.map((v) => v.kind))].join(', ')})`;
  return 'ok';
}

/** The table the CLI prints: one row per run. */
export function formatTable(results: readonly RunResult[]): string {
  const ms = (value: number | null | undefined) =>
    value === undefined ? '-' : value === null ? 'never' : `${value.toFixed(0)} ms`;
  const rows = results.map((r) => {
    const first = r.faults[0];
    return [
      String(r.schedule.seed),
      r.schedule.arbiter,
      describeSchedule(r.schedule),
      outcomeOf(r),
      ms(first?.recoverMs),
      first === undefined ? '-' : first.failoverMs === null ? 'none' : ms(first.failoverMs),
      r.finalNode === null ? '-' : `${r.finalNode}@g${r.finalGeneration}`,
      `${r.acknowledged}/${r.operations}`,
    ];
  });
  const header = ['seed', 'arbiter', 'faults', 'outcome', 'recover', 'failover', 'served by', 'acked/ops'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/**
 * `<nemesis> <arbiter> <what> p50|max` over the runs, against the detection deadline; faults where
 * `pick` gives null (no recovery, no failover) are left out.
 */
function deadlineCases(
  results: readonly RunResult[],
  what: string,
  pick: (fault: RunResult['faults'][number]) => number | null,
): FaultCase[] {
  const byKey = new Map<string, number[]>();
  for (const r of results) {
    for (const f of r.faults) {
      const sample = pick(f);
      if (sample === null) continue;
      const key = `${f.fault.kind} ${r.schedule.arbiter}`;
      const list = byKey.get(key) ?? [];
      list.push(sample);
      byKey.set(key, list);
    }
  }
  const cases: FaultCase[] = [];
  for (const [key, samples] of [...byKey].sort(([a], [b]) => a.localeCompare(b))) {
    for (const [label, q] of [
      ['p50', 0.5],
      ['max', 1],
    ] as const) {
      const value = round(quantile(samples, q));
      cases.push({
        name: `${key} ${what} ${label}`,
        unit: 'ms',
        value,
        baseline: DETECTION_DEADLINE_MS,
        ratio: round(value / DETECTION_DEADLINE_MS, 4),
      });
    }
  }
  return cases;
}

/**
 * Bench cases: per nemesis, the time without service (p50 and max over the runs) against the
 * detection deadline, and the count of violations (baseline 0).
 */
export function faultCases(results: readonly RunResult[]): FaultCase[] {
  const cases: FaultCase[] = [
    ...deadlineCases(results, 'recover', (f) => f.recoverMs),
    // The engine's own failover time (fault to acting alone), where the fault caused one.
    ...deadlineCases(results, 'failover', (f) => f.failoverMs),
  ];
  const violations = results.reduce((n, r) => n + r.violations.length, 0);
  cases.push({
    name: 'violations',
    unit: 'count',
    value: violations,
    baseline: 0,
    ratio: violations === 0 ? 0 : violations,
  });
  const unrecovered = results.filter((r) => r.faults.some((f) => f.recoverMs === null)).length;
  cases.push({
    name: 'runs never served again',
    unit: 'count',
    value: unrecovered,
    baseline: 0,
    ratio: unrecovered,
  });
  return cases;
}

/** Writes `faults.json` in the shape of bench/results/<suite>.json. */
export function writeFaultsJson(file: string, results: readonly RunResult[], soak: boolean): void {
  mkdirSync(dirname(file), { recursive: true });
  const body = {
    suite: 'faults',
    node: process.version,
    quick: !soak,
    date: new Date().toISOString(),
    runs: results.length,
    seeds: results.map((r) => r.schedule.seed),
    cases: faultCases(results),
  };
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
}
