import { CLI_ERROR_EXIT_CODE } from '../errors.js';

/** Every error code the benchmark report and `mcft bench` throw. */
export type ReportErrorCode =
  | 'MC_ERR_INVALID_OPTION'
  | 'MC_ERR_RESULTS_READ'
  | 'MC_ERR_RESULTS_JSON'
  | 'MC_ERR_RESULTS_SHAPE'
  | 'MC_ERR_RESULTS_DIR'
  | 'MC_ERR_NOT_A_CHECKOUT'
  | 'MC_ERR_BENCH_FAILED'
  | 'MC_ERR_CHART_RENDER'
  | 'MC_ERR_REPORT_WRITE';

/** Exit code `mcft` gives for every `ReportError`: a usage or environment problem, not a crash. */
export const REPORT_ERROR_EXIT_CODE = CLI_ERROR_EXIT_CODE;

/** Base class: every error from the report has a stable `code`, keeps its `cause`, and exits 2. */
export class ReportError extends Error {
  readonly code: ReportErrorCode;
  readonly exitCode = REPORT_ERROR_EXIT_CODE;
  constructor(code: ReportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option given to a report function or to `mcft bench` is missing, of the wrong type or out of range. */
export class InvalidReportOptionError extends ReportError {
  constructor(option: string, message: string) {
    super('MC_ERR_INVALID_OPTION', `option ${option}: ${message}`);
  }
}

/** A results file exists but could not be read (permissions, not a regular file, oversized). */
export class ResultsReadError extends ReportError {
  readonly file: string;
  constructor(file: string, message: string, cause?: unknown) {
    super('MC_ERR_RESULTS_READ', `cannot read results file ${file}: ${message}`, { cause });
    this.file = file;
  }
}

/** A results file is not JSON at all: truncated by a killed run, garbled, or empty. */
export class ResultsJsonError extends ReportError {
  readonly file: string;
  constructor(file: string, cause: unknown) {
    super('MC_ERR_RESULTS_JSON', `results file ${file} is not valid JSON: ${describe(cause)}`, { cause });
    this.file = file;
  }
}

/**
 * A results file is JSON but not `{ suite, node, cases: [{ name, unit, value, baseline, ratio }] }`;
 * `path` names the offending field (e.g. `cases[3].ratio`) so the suite that wrote it can be fixed.
 */
export class ResultsShapeError extends ReportError {
  readonly file: string;
  readonly path: string;
  constructor(file: string, path: string, message: string) {
    super('MC_ERR_RESULTS_SHAPE', `results file ${file}: ${path} ${message}`);
    this.file = file;
    this.path = path;
  }
}

/** The results directory does not exist or holds no results file. */
export class ResultsDirError extends ReportError {
  readonly dir: string;
  constructor(dir: string, message: string, cause?: unknown) {
    super('MC_ERR_RESULTS_DIR', `results directory ${dir}: ${message}`, { cause });
    this.dir = dir;
  }
}

/** Running the suites needs the monorepo checkout (the suites are not published); none was found. */
export class NotACheckoutError extends ReportError {
  constructor(searched: readonly string[]) {
    super(
      'MC_ERR_NOT_A_CHECKOUT',
      `running benchmark suites needs a microcheckpoint checkout (a package.json whose workspaces include "bench"); none found above ${searched.join(' or ')}. Use --report-only --results DIR to render a report from existing results.`,
    );
  }
}

/** `npm run bench` exited with a failure status or could not be started. */
export class BenchRunError extends ReportError {
  /** The runner's exit status; `null` when it did not start or was killed by a signal. */
  readonly runnerExitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  constructor(
    message: string,
    runnerExitCode: number | null,
    signal: NodeJS.Signals | null,
    cause?: unknown,
  ) {
    super('MC_ERR_BENCH_FAILED', message, { cause });
    this.runnerExitCode = runnerExitCode;
    this.signal = signal;
  }
}

/** vega-lite could not compile a chart spec, or vega could not render it to SVG. */
export class ChartRenderError extends ReportError {
  readonly chart: string;
  constructor(chart: string, cause: unknown) {
    super('MC_ERR_CHART_RENDER', `chart ${chart} failed to render: ${describe(cause)}`, { cause });
    this.chart = chart;
  }
}

/** The report or a chart file could not be written. */
export class ReportWriteError extends ReportError {
  constructor(file: string, cause: unknown) {
    super('MC_ERR_REPORT_WRITE', `cannot write ${file}: ${describe(cause)}`, { cause });
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
