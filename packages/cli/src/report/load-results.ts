import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { MAX_RESULTS_FILE_BYTES } from './constants.js';
import { ResultsDirError, ResultsReadError, ResultsShapeError } from './errors.js';
import { parseSuiteResults, type SuiteResults } from './results-file.js';

/** Every suite's results found in one results directory, keyed by suite name. */
export interface ResultsSet {
  dir: string;
  suites: ReadonlyMap<string, SuiteResults>;
}

/**
 * Reads every `<suite>.json` in `dir`. A malformed file is an error, not a skipped suite: a report that
 * silently leaves out a suite would hide exactly the run that went wrong.
 *
 * @throws {@link ResultsDirError} when `dir` is missing or holds no results file
 * @throws {@link ResultsReadError}, {@link ResultsJsonError}, {@link ResultsShapeError} for a bad file
 */
export function loadResultsDir(dir: string): ResultsSet {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw new ResultsDirError(dir, 'cannot be listed (does it exist?)', error);
  }
  const files = names.filter((name) => name.endsWith('.json')).sort();
  if (files.length === 0) {
    throw new ResultsDirError(dir, 'holds no <suite>.json results file; run `mcft bench` first');
  }
  const suites = new Map<string, SuiteResults>();
  for (const name of files) {
    const results = loadResultsFile(join(dir, name));
    suites.set(results.suite, results);
  }
  return { dir, suites };
}

/**
 * Reads and validates one results file, and checks that its `suite` matches its file name, since the
 * runner always writes `<suite>.json` and a mismatch means the file was copied or edited by hand.
 */
export function loadResultsFile(file: string): SuiteResults {
  let text: string;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw new ResultsReadError(file, 'not a regular file');
    if (stat.size > MAX_RESULTS_FILE_BYTES) {
      throw new ResultsReadError(
        file,
        `${stat.size} bytes, more than the ${MAX_RESULTS_FILE_BYTES} a results file can be`,
      );
    }
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof ResultsReadError) throw error;
    throw new ResultsReadError(file, error instanceof Error ? error.message : String(error), error);
  }
  const results = parseSuiteResults(text, file);
  const expected = basename(file, '.json');
  if (results.suite !== expected) {
    throw new ResultsShapeError(
      file,
      'suite',
      `is "${results.suite}" but the file is named for suite "${expected}"`,
    );
  }
  return results;
}
