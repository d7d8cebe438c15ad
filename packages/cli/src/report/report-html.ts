import type { ChartPanel } from './chart-panel.js';
import { escapeHtml } from './escape-html.js';
import { suiteCaseTable, suiteSummaryTable } from './ratio-table.js';
import type { SuiteResults } from './results-file.js';

export interface ReportHtmlInput {
  /** When the report was rendered (ISO time). */
  renderedAt: string;
  /** The machine line for the page header, e.g. `AMD EPYC, 2 cores, Node v20.20.2`. */
  machine: string;
  panels: readonly ChartPanel[];
  suites: readonly SuiteResults[];
}

/**
 * The report as one self-contained HTML document: charts inlined as SVG, styles inline, no script, no
 * external resource, so it opens the same from a CI artifact, an e-mail or a file:// URL.
 */
export function renderReportHtml(input: ReportHtmlInput): string {
  const panels = input.panels.map(renderPanel).join('\n');
  const tables = input.suites
    .map(
      (s) =>
        `<details><summary>${escapeHtml(s.suite)}: ${s.cases.length} cases</summary>${suiteCaseTable(s)}</details>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>microcheckpoint benchmark report</title>
<style>
body { font-family: sans-serif; margin: 24px auto; max-width: 1180px; color: #111; background: #fff; }
h1 { font-size: 22px; margin-bottom: 4px; }
p.meta { color: #444; margin-top: 0; }
figure.chart { margin: 24px 0; padding: 12px; border: 1px solid #ddd; border-radius: 4px; overflow-x: auto; }
figure.chart > svg { display: block; max-width: 100%; height: auto; }
figure.missing { background: #fafafa; border-color: #d9a860; }
figure.missing h3 { margin: 0 0 6px; font-size: 15px; }
figure.missing p { margin: 0; color: #8a4b00; font-weight: bold; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: bold; padding: 4px 0; }
details { margin: 6px 0; }
summary { cursor: pointer; }
</style>
</head>
<body>
<h1>microcheckpoint benchmark report</h1>
<p class="meta">Rendered ${escapeHtml(input.renderedAt)} on ${escapeHtml(input.machine)}. Every figure is measured against its physical baseline in the same run (black ticks on the charts); ratio = value / baseline, above 1 is better for throughputs and below 1 is better for times.</p>
<h2>Ratios per suite</h2>
${suiteSummaryTable(input.suites)}
<h2>Charts</h2>
${panels}
<h2>All cases</h2>
${tables}
</body>
</html>
`;
}

function renderPanel(panel: ChartPanel): string {
  const attrs = `id="chart-${escapeHtml(panel.id)}" data-chart="${escapeHtml(panel.id)}" data-suite="${escapeHtml(panel.suite)}"`;
  if (panel.status === 'rendered') {
    return `<figure class="chart" ${attrs} data-status="rendered">${panel.svg}</figure>`;
  }
  return `<figure class="chart missing" ${attrs} data-status="missing"><h3>${escapeHtml(panel.title)}</h3><p>${escapeHtml(panel.reason)}</p></figure>`;
}
