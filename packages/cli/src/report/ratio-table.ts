import { escapeHtml } from './escape-html.js';
import type { ResultCase, SuiteResults } from './results-file.js';

/**
 * One row per suite: how many cases, and the spread of their ratios. The ratio's direction depends on
 * the unit (above 1 is better for throughputs, below 1 for times), so the summary shows the range and
 * leaves judging to the per-case tables.
 */
export function suiteSummaryTable(suites: readonly SuiteResults[]): string {
  const rows = suites.map((s) => {
    const ratios = s.cases.map((c) => c.ratio).filter((r): r is number => r !== null);
    const range = ratios.length === 0 ? '–' : `${fmt(Math.min(...ratios))} – ${fmt(Math.max(...ratios))}`;
    return `<tr><td><a href="#suite-${escapeHtml(s.suite)}">${escapeHtml(s.suite)}</a></td><td>${escapeHtml(s.node)}</td><td>${s.quick === true ? 'quick' : 'full'}</td><td>${escapeHtml(s.date ?? '–')}</td><td class="num">${s.cases.length}</td><td class="num">${range}</td></tr>`;
  });
  return `<table class="summary"><thead><tr><th>suite</th><th>node</th><th>run</th><th>finished</th><th>cases</th><th>ratio range</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** Every case of one suite with its value, baseline and ratio, in file order. */
export function suiteCaseTable(suite: SuiteResults): string {
  const rows = suite.cases.map(
    (c: ResultCase) =>
      `<tr><td>${escapeHtml(c.name)}</td><td class="num">${fmt(c.value)}</td><td class="num">${fmt(c.baseline)}</td><td>${escapeHtml(c.unit)}</td><td class="num ratio">${fmt(c.ratio)}</td></tr>`,
  );
  return `<table class="cases" id="suite-${escapeHtml(suite.suite)}"><caption>${escapeHtml(suite.suite)}</caption><thead><tr><th>case</th><th>value</th><th>baseline</th><th>unit</th><th>ratio</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function fmt(n: number | null): string {
  if (n === null) return '–';
  if (n === 0) return '0';
  const abs = Math.abs(n);
  if (abs >= 1000) return Math.round(n).toLocaleString('en-US');
  if (abs >= 1) return n.toFixed(abs >= 100 ? 1 : 2);
  return n.toPrecision(3);
}
