import type { TopLevelSpec } from 'vega-lite';
import type { SuiteResults } from '../results-file.js';

/** One bar of a comparison chart: a measured figure and the baseline it is held against. */
export interface ComparisonRow {
  /** The band the bar sits in, e.g. `random 10% (256 MiB)`. */
  group: string;
  /** Which bar within the band (and its colour), e.g. the kernel or the statistic. */
  series: string;
  value: number;
  baseline: number;
  ratio: number | null;
}

/** A chart of the report: where its figures come from and how its vega-lite spec is built. */
export interface ChartDefinition {
  /** Stable identifier, also the SVG file name (`charts/<id>.svg`) and the HTML anchor. */
  id: string;
  title: string;
  /** The suite whose results file feeds the chart. */
  suite: string;
  /** What each figure is measured against, stated on the chart. */
  baseline: string;
  /** The vega-lite spec, or `undefined` when the results hold no case this chart plots. */
  build(results: SuiteResults): TopLevelSpec | undefined;
}
