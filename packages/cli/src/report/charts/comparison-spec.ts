import type { TopLevelSpec } from 'vega-lite';
import { CHART_BAND_HEIGHT_PX, CHART_WIDTH_PX } from '../constants.js';
import { describeMachine, formatMachine } from '../machine.js';
import type { SuiteResults } from '../results-file.js';
import type { ComparisonRow } from './chart.js';

/** A spread of figures wider than this many times is drawn on a log axis, so the small ones stay visible. */
const LOG_SCALE_SPREAD = 50;

export interface ComparisonSpecOptions {
  title: string;
  /** The results the rows come from: names the suite, the machine and the run on the chart. */
  results: SuiteResults;
  /** What the black ticks are, e.g. `one contiguous TypedArray copy of the same bytes`. */
  baseline: string;
  unit: string;
  /** Legend title for `series`. */
  seriesTitle: string;
  rows: readonly ComparisonRow[];
  /**
   * `true`: each group is a band holding one bar per series (grouped bars). `false`: every row is its
   * own band and `series` only colours it (use when groups hold a single series each).
   */
  grouped: boolean;
}

/**
 * Horizontal bars of the measured figures with a black tick at each bar's baseline from the same run,
 * titled with the suite, the baseline and the machine, so a chart copied out of the report still says
 * what it measures and where.
 */
export function comparisonSpec(options: ComparisonSpecOptions): TopLevelSpec {
  const { results, rows } = options;
  const seriesNames = unique(rows.map((r) => r.series));
  const groupNames = unique(rows.map((r) => r.group));
  const bars = options.grouped ? groupNames.length * seriesNames.length : rows.length;
  const log = spread(rows) > LOG_SCALE_SPREAD;
  const quantity = `${options.unit}${log ? ', log scale' : ''}`;
  const run = [results.quick === true ? '--quick run' : 'full run', results.date?.slice(0, 10)]
    .filter((part) => part !== undefined)
    .join(', ');
  // Bars on a log axis have no zero: they start at the axis's left end, so stacking must be off.
  const xScale = log ? { type: 'log' as const } : { zero: true };
  const y = { field: 'group', type: 'nominal' as const, sort: groupNames, title: null };
  const yOffset = options.grouped
    ? { yOffset: { field: 'series', type: 'nominal' as const, sort: seriesNames } }
    : {};
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: options.title,
      subtitle: [
        `${results.suite} suite. Baseline (black tick): ${options.baseline}`,
        `Machine: ${formatMachine(describeMachine(results))}; ${run}`,
      ],
      anchor: 'start',
      subtitleColor: '#444',
    },
    width: CHART_WIDTH_PX,
    height: Math.max(1, bars) * CHART_BAND_HEIGHT_PX,
    data: { values: rows.map((r) => ({ ...r })) },
    encoding: { y, ...yOffset },
    layer: [
      {
        mark: { type: 'bar', tooltip: true },
        encoding: {
          x: { field: 'value', type: 'quantitative', title: quantity, scale: xScale, stack: null },
          color: {
            field: 'series',
            type: 'nominal',
            sort: seriesNames,
            title: options.seriesTitle,
            legend: { orient: 'bottom', direction: 'horizontal', labelLimit: 400 },
          },
        },
      },
      {
        mark: { type: 'tick', color: '#000', thickness: 2, orient: 'vertical' },
        encoding: { x: { field: 'baseline', type: 'quantitative' } },
      },
    ],
    config: {
      font: 'sans-serif',
      view: { stroke: null },
      axis: { labelFontSize: 11, titleFontSize: 11 },
      axisY: { labelLimit: 420 },
    },
  };
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

// A log axis cannot place zero or negative figures, so any such figure keeps the axis linear.
function spread(rows: readonly ComparisonRow[]): number {
  const figures = rows.flatMap((r) => [r.value, r.baseline]);
  if (figures.length === 0 || figures.some((n) => n <= 0)) return 1;
  return Math.max(...figures) / Math.min(...figures);
}
