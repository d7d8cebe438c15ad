import type { ResultCase, SuiteResults } from '../results-file.js';
import type { ChartDefinition } from './chart.js';
import { comparisonSpec } from './comparison-spec.js';
import { type CasePlacement, selectRows } from './select-rows.js';

/** What sets one comparison chart apart from another: which cases, where they go, and the labels. */
export interface ComparisonChartConfig {
  id: string;
  title: string;
  suite: string;
  baseline: string;
  /** The axis unit; a function picks it from the results (cases in other units are left off). */
  unit: string | ((results: SuiteResults) => string | undefined);
  seriesTitle: string;
  grouped: boolean;
  /** Where a case of the suite goes on the chart, or `undefined` to leave it off. */
  place(c: ResultCase): CasePlacement;
}

/** A chart of bars against baseline ticks, built from the cases `place` selects. */
export function defineComparisonChart(config: ComparisonChartConfig): ChartDefinition {
  const { id, title, suite, baseline } = config;
  return {
    id,
    title,
    suite,
    baseline,
    build(results) {
      const unit = typeof config.unit === 'string' ? config.unit : config.unit(results);
      if (unit === undefined) return undefined;
      const rows = selectRows(results, (c) => (c.unit === unit ? config.place(c) : undefined));
      if (rows.length === 0) return undefined;
      return comparisonSpec({
        title,
        baseline,
        results,
        rows,
        unit,
        seriesTitle: config.seriesTitle,
        grouped: config.grouped,
      });
    },
  };
}
