import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChartPanel } from './chart-panel.js';
import { type ChartDefinition, REPORT_CHARTS } from './charts/index.js';
import { CHARTS_DIR_NAME, REPORT_FILE_NAME } from './constants.js';
import { ReportWriteError } from './errors.js';
import { loadResultsDir } from './load-results.js';
import { describeMachine, formatMachine } from './machine.js';
import { renderChartSvg } from './render-svg.js';
import { renderReportHtml } from './report-html.js';
import type { SuiteResults } from './results-file.js';

export interface WriteReportOptions {
  /** Directory holding `<suite>.json` results files. */
  resultsDir: string;
  /** Where `report.html` and `charts/` go; defaults to `resultsDir`. */
  outDir?: string;
  /** The charts to draw; defaults to every chart of the report. */
  charts?: readonly ChartDefinition[];
}

export interface WrittenReport {
  /** Absolute or as-given path of `report.html`. */
  reportFile: string;
  /** The SVG written per rendered chart, keyed by chart id. */
  chartFiles: ReadonlyMap<string, string>;
  /** Charts shown as "no results yet" panels, keyed by chart id, with the reason shown. */
  missing: ReadonlyMap<string, string>;
  /** The suites the report was rendered from. */
  suites: readonly SuiteResults[];
}

/**
 * Renders the benchmark report from a results directory: one SVG per chart in `<outDir>/charts/` and a
 * self-contained `<outDir>/report.html` with the charts inlined and the ratio tables. A chart whose
 * suite has not run is a labelled placeholder, not a failure; its stale SVG, if any, is removed so the
 * charts folder never shows figures the report does not.
 *
 * @throws the typed errors of {@link loadResultsDir}, {@link ChartRenderError}, {@link ReportWriteError}
 */
export async function writeBenchReport(options: WriteReportOptions): Promise<WrittenReport> {
  const set = loadResultsDir(options.resultsDir);
  const outDir = options.outDir ?? options.resultsDir;
  const chartsDir = join(outDir, CHARTS_DIR_NAME);
  const suites = [...set.suites.values()];
  const panels = await renderPanels(options.charts ?? REPORT_CHARTS, set.suites);

  ensureDir(chartsDir);
  const chartFiles = new Map<string, string>();
  const missing = new Map<string, string>();
  for (const panel of panels) {
    const file = join(chartsDir, `${panel.id}.svg`);
    if (panel.status === 'rendered') {
      write(file, panel.svg);
      chartFiles.set(panel.id, file);
    } else {
      rmSync(file, { force: true });
      missing.set(panel.id, panel.reason);
    }
  }
  const reportFile = join(outDir, REPORT_FILE_NAME);
  const html = renderReportHtml({
    renderedAt: new Date().toISOString(),
    machine: formatMachine(describeMachine(suites[0]!)),
    panels,
    suites,
  });
  write(reportFile, html);
  return { reportFile, chartFiles, missing, suites };
}

/** Builds and renders every chart; a chart without data becomes a "missing" panel naming its suite. */
export async function renderPanels(
  charts: readonly ChartDefinition[],
  suites: ReadonlyMap<string, SuiteResults>,
): Promise<ChartPanel[]> {
  const panels: ChartPanel[] = [];
  for (const chart of charts) {
    const { id, title, suite } = chart;
    const results = suites.get(suite);
    if (results === undefined) {
      panels.push({
        status: 'missing',
        id,
        title,
        suite,
        reason: `No results yet for ${suite}: run \`mcft bench ${suite}\`.`,
      });
      continue;
    }
    const spec = chart.build(results);
    if (spec === undefined) {
      panels.push({
        status: 'missing',
        id,
        title,
        suite,
        reason: `No results yet for ${suite}: its results file has no case this chart plots.`,
      });
      continue;
    }
    panels.push({ status: 'rendered', id, title, suite, svg: await renderChartSvg(id, spec) });
  }
  return panels;
}

function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new ReportWriteError(dir, error);
  }
}

function write(file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (error) {
    throw new ReportWriteError(file, error);
  }
}
