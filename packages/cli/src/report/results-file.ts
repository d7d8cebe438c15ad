import { ResultsJsonError, ResultsShapeError } from './errors.js';

/**
 * One measured figure against the physical baseline it was measured against in the same run, as the
 * bench runner writes it. A figure that could not be measured (an empty sample, a zero baseline) is
 * written by `JSON.stringify` as `null`, so `null` is a legal value and means "no figure".
 */
export interface ResultCase {
  name: string;
  unit: string;
  value: number | null;
  baseline: number | null;
  /** value / baseline: above 1 is better for throughputs, below 1 is better for times. */
  ratio: number | null;
}

/** The contents of one `bench/results/<suite>.json`. */
export interface SuiteResults {
  suite: string;
  /** Node version the suite ran on, e.g. `v20.20.2`. */
  node: string;
  /** Whether the shortened `--quick` variant produced these figures (absent in older files). */
  quick?: boolean;
  /** ISO time the suite finished (absent in older files). */
  date?: string;
  /** CPU model of the machine that ran the suite, when the runner recorded it. */
  cpu?: string;
  /** Logical cores of that machine, when the runner recorded it. */
  cores?: number;
  cases: ResultCase[];
}

/**
 * Parses the text of one results file. Unknown extra fields are kept out of the result and ignored,
 * so newer runners stay readable; every field the report reads is checked.
 *
 * @param text - the file's contents
 * @param source - the file name, used in error messages
 * @throws {@link ResultsJsonError} when `text` is not JSON
 * @throws {@link ResultsShapeError} when it is JSON of the wrong shape; `path` names the field
 */
export function parseSuiteResults(text: string, source: string): SuiteResults {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ResultsJsonError(source, error);
  }
  return validateSuiteResults(json, source);
}

/** Checks an already parsed value; see {@link parseSuiteResults}. */
export function validateSuiteResults(json: unknown, source: string): SuiteResults {
  if (!isRecord(json))
    throw new ResultsShapeError(source, '(top level)', `is ${kind(json)}, expected an object`);
  const suite = requireString(json, 'suite', source, true);
  const node = requireString(json, 'node', source, false);
  const result: SuiteResults = { suite, node, cases: [] };
  if (json.quick !== undefined) {
    if (typeof json.quick !== 'boolean') {
      throw new ResultsShapeError(source, 'quick', `is ${kind(json.quick)}, expected a boolean`);
    }
    result.quick = json.quick;
  }
  if (json.date !== undefined) result.date = requireString(json, 'date', source, false);
  if (json.cpu !== undefined) result.cpu = requireString(json, 'cpu', source, false);
  if (json.cores !== undefined) {
    if (typeof json.cores !== 'number' || !Number.isInteger(json.cores) || json.cores < 1) {
      throw new ResultsShapeError(source, 'cores', `is ${kind(json.cores)}, expected a positive integer`);
    }
    result.cores = json.cores;
  }
  const cases = json.cases;
  if (!Array.isArray(cases))
    throw new ResultsShapeError(source, 'cases', `is ${kind(cases)}, expected an array`);
  result.cases = cases.map((c, i) => validateCase(c, `cases[${i}]`, source));
  return result;
}

function validateCase(value: unknown, path: string, source: string): ResultCase {
  if (!isRecord(value)) throw new ResultsShapeError(source, path, `is ${kind(value)}, expected an object`);
  return {
    name: requireString(value, 'name', source, true, path),
    unit: requireString(value, 'unit', source, false, path),
    value: requireFigure(value, 'value', source, path),
    baseline: requireFigure(value, 'baseline', source, path),
    ratio: requireFigure(value, 'ratio', source, path),
  };
}

function requireString(
  record: Record<string, unknown>,
  field: string,
  source: string,
  nonEmpty: boolean,
  parent?: string,
): string {
  const value = record[field];
  const path = parent === undefined ? field : `${parent}.${field}`;
  if (typeof value !== 'string')
    throw new ResultsShapeError(source, path, `is ${kind(value)}, expected a string`);
  if (nonEmpty && value.trim() === '') throw new ResultsShapeError(source, path, 'is empty');
  return value;
}

// JSON has no NaN or Infinity: the runner's unmeasurable figures arrive as null, which is kept as null.
function requireFigure(
  record: Record<string, unknown>,
  field: string,
  source: string,
  parent: string,
): number | null {
  const value = record[field];
  if (value === null) return null;
  if (typeof value !== 'number') {
    throw new ResultsShapeError(source, `${parent}.${field}`, `is ${kind(value)}, expected a number or null`);
  }
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kind(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
