import { copyFileSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SuiteResults } from '../src/report/results-file.js';

/** The results the repository commits, written by real bench runs. */
export const COMMITTED_RESULTS_DIR = join(import.meta.dirname, '../../../bench/results');

/** A temp copy of the committed results files (only the `<suite>.json` files). */
export function copyCommittedResults(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (const name of readdirSync(COMMITTED_RESULTS_DIR)) {
    if (name.endsWith('.json')) copyFileSync(join(COMMITTED_RESULTS_DIR, name), join(dir, name));
  }
  return dir;
}

/**
 * A failover results file shaped as the failover suite writes them (one distribution per arbiter and
 * fault, in ms, against the detector deadline), with made-up figures: the report must draw any such file.
 */
export function syntheticFailoverResults(): SuiteResults {
  const cases: SuiteResults['cases'] = [];
  const arbiters = ['in-process', 'file', 'witness', 'etcd'];
  arbiters.forEach((arbiter, i) => {
    for (const [statistic, extra] of [
      ['p50', 3],
      ['p99', 9],
      ['max', 14],
    ] as const) {
      const value = 100 + 10 * i + extra;
      cases.push({
        name: `failover with the ${arbiter} arbiter, SIGKILL to first reply, vs the 5 x 20 ms deadline ${statistic}`,
        unit: 'ms',
        value,
        baseline: 100,
        ratio: value / 100,
      });
    }
  });
  return { suite: 'failover', node: 'v20.20.2', quick: true, date: '2026-11-26T12:00:00.000Z', cases };
}

export function writeResults(dir: string, results: SuiteResults): void {
  writeFileSync(join(dir, `${results.suite}.json`), `${JSON.stringify(results, null, 2)}\n`);
}

/** The marks of one layer of a vega SVG (`layer_0_marks` are the bars, `layer_1_marks` the baseline ticks). */
export function layerMarks(svg: string, layer: number): string[] {
  const group = new RegExp(`<g class="mark-rect role-mark layer_${layer}_marks"[^>]*>(.*?)</g>`, 's').exec(
    svg,
  );
  if (group === null) return [];
  return [...group[1]!.matchAll(/<path\b[^>]*\bd="[^"]+"[^>]*>/g)].map((m) => m[0]);
}
