import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

/** One measured figure and the physical baseline it was measured against in the same run. */
export interface BenchCase {
  name: string;
  /** Unit of `value` and `baseline`, e.g. `MB/s`, `ops/s`, `ms`. */
  unit: string;
  value: number;
  baseline: number;
  /** value / baseline. Above 1 is better for throughputs, below 1 is better for times. */
  ratio: number;
}

/** The file every suite writes: `bench/results/<suite>.json`. */
export interface SuiteResult {
  suite: string;
  node: string;
  /** Whether the shortened `--quick` variant produced these figures. */
  quick: boolean;
  date: string;
  /** The machine that measured: CPU model and logical cores (the report names it on every chart). */
  cpu: string;
  cores: number;
  cases: BenchCase[];
}

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/** Builds a case, computing the ratio so that no suite can get it wrong. */
export function benchCase(name: string, unit: string, value: number, baseline: number): BenchCase {
  return { name, unit, value: round(value), baseline: round(baseline), ratio: round(value / baseline, 4) };
}

/**
 * Cases for a distribution: one per statistic (`<name> p50`, `<name> p99`, `<name> max`), each against
 * the same statistic of the baseline distribution.
 */
export function distributionCases(
  name: string,
  unit: string,
  samples: readonly number[],
  baselineSamples: readonly number[],
): BenchCase[] {
  const stats: Array<[string, number]> = [
    ['p50', 0.5],
    ['p99', 0.99],
    ['max', 1],
  ];
  return stats.map(([label, q]) =>
    benchCase(`${name} ${label}`, unit, quantile(samples, q), quantile(baselineSamples, q)),
  );
}

/** Nearest-rank quantile; q = 1 is the maximum. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function writeSuiteResult(suite: string, cases: BenchCase[], quick: boolean): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const result: SuiteResult = {
    suite,
    node: process.version,
    quick,
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    cases,
  };
  const file = `${RESULTS_DIR}${suite}.json`;
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
