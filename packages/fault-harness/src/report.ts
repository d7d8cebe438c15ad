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
  // One value per fault, in order, when there are several.
  const each = (r: RunResult, pick: (f: RunResult['faults'][number]) => string) =>
    r.faults.length === 0 ? '-' : r.faults.map(pick).join(' / ');
  const rows = results.map((r) => [
    String(r.schedule.seed),
    r.schedule.arbiter,
    describeSchedule(r.schedule),
    outcomeOf(r),
    each(r, (f) => ms(f.recoverMs)),
    each(r, (f) => (f.failoverMs === null ? 'none' : ms(f.failoverMs))),
    reprotectCell(r),
    r.finalNode === null ? '-' : `${r.finalNode}@g${r.finalGeneration}`,
    `${r.acknowledged}/${r.operations}`,
  ]);
  const header = [
    'seed',
    'arbiter',
    'faults',
    'outcome',
    'recover',
    'failover',
    'reprotect',
    'served by',
    'acked/ops',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** What the re-protection did, in a table cell. */
function reprotectCell(r: RunResult): string {
  const p = r.reprotect;
  if (p === null) return '-';
  if (p.outcome === 'not-needed') return 'not needed';
  if (p.outcome === 'failed') return `${p.survivor} FAILED`;
  return `${p.survivor} in ${(p.protectMs ?? 0).toFixed(0)} ms`;
}

/** `<name> p50` and `<name> max` of millisecond samples against one baseline. */
function distributionCases(name: string, samples: readonly number[], baseline: number): FaultCase[] {
  return (
    [
      ['p50', 0.5],
      ['max', 1],
    ] as const
  ).map(([label, q]) => {
    const value = round(quantile(samples, q));
    return { name: `${name} ${label}`, unit: 'ms', value, baseline, ratio: round(value / baseline, 4) };
  });
}

/**
 * `<nemesis> <arbiter> <what> p50|max` over the runs (`reprotected <nemesis> ...` for the faults
 * thrown at a re-protected pair), against the detection deadline; faults where
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
      const key = `${f.onReprotectedPair ? 'reprotected ' : ''}${f.fault.kind} ${r.schedule.arbiter}`;
      const list = byKey.get(key) ?? [];
      list.push(sample);
      byKey.set(key, list);
    }
  }
  return [...byKey]
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([key, samples]) => distributionCases(`${key} ${what}`, samples, DETECTION_DEADLINE_MS));
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
  cases.push(...reprotectCases(results));
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

/**
 * `reprotect <arbiter> p50|max`: from asking the survivor to the pair protected, against the same
 * runs' first protection (a full sync and first checkpoint of the same guest before the load), and
 * `reprotect failed`, the count of attempts that did not protect (baseline 0).
 */
function reprotectCases(results: readonly RunResult[]): FaultCase[] {
  const cases: FaultCase[] = [];
  for (const arbiter of [...new Set(results.map((r) => r.schedule.arbiter))].sort()) {
    const mine = results.filter((r) => r.schedule.arbiter === arbiter);
    const samples = mine.flatMap((r) => (r.reprotect?.protectMs == null ? [] : [r.reprotect.protectMs]));
    const baselines = mine.flatMap((r) =>
      r.reprotect?.protectMs == null || r.protectMs === null ? [] : [r.protectMs],
    );
    if (samples.length === 0 || baselines.length === 0) continue;
    cases.push(...distributionCases(`reprotect ${arbiter}`, samples, round(quantile(baselines, 0.5))));
  }
  const failed = results.filter((r) => r.reprotect?.outcome === 'failed').length;
  if (results.some((r) => r.reprotect !== null)) {
    cases.push({ name: 'reprotect failed', unit: 'count', value: failed, baseline: 0, ratio: failed });
  }
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
