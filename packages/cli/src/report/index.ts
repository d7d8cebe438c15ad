export type { ChartPanel } from './chart-panel.js';
export type { ChartDefinition, ComparisonRow } from './charts/index.js';
export { REPORT_CHARTS } from './charts/index.js';
export {
  BenchRunError,
  ChartRenderError,
  InvalidReportOptionError,
  NotACheckoutError,
  REPORT_ERROR_EXIT_CODE,
  ReportError,
  type ReportErrorCode,
  ReportWriteError,
  ResultsDirError,
  ResultsJsonError,
  ResultsReadError,
  ResultsShapeError,
} from './errors.js';
export { findCheckoutRoot } from './find-checkout.js';
export { loadResultsDir, loadResultsFile, type ResultsSet } from './load-results.js';
export { renderChartSvg } from './render-svg.js';
export { renderReportHtml } from './report-html.js';
export {
  parseSuiteResults,
  type ResultCase,
  type SuiteResults,
  validateSuiteResults,
} from './results-file.js';
export { runBenchSuites } from './run-suites.js';
export { type WriteReportOptions, type WrittenReport, writeBenchReport } from './write-report.js';
