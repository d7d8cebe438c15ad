import type { ResultCase, SuiteResults } from '../results-file.js';
import type { ComparisonRow } from './chart.js';

/** Where a case goes on a chart, or `undefined` to leave it off. */
export type CasePlacement = { group: string; series: string } | undefined;

/**
 * The rows of a chart: every case `place` puts on it, in file order. Cases without a figure (`null`
 * value or baseline) are left off, since a bar of nothing would read as zero.
 */
export function selectRows(results: SuiteResults, place: (c: ResultCase) => CasePlacement): ComparisonRow[] {
  const rows: ComparisonRow[] = [];
  for (const c of results.cases) {
    if (c.value === null || c.baseline === null) continue;
    const placement = place(c);
    if (placement === undefined) continue;
    rows.push({ ...placement, value: c.value, baseline: c.baseline, ratio: c.ratio });
  }
  return rows;
}

/** The unit most of `cases` share: a chart has one axis, so cases in any other unit are left off. */
export function dominantUnit(cases: readonly ResultCase[]): string | undefined {
  const counts = new Map<string, number>();
  for (const c of cases) counts.set(c.unit, (counts.get(c.unit) ?? 0) + 1);
  let best: string | undefined;
  for (const [unit, count] of counts) if (best === undefined || count > counts.get(best)!) best = unit;
  return best;
}
