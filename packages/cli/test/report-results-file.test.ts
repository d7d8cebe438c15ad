import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_RESULTS_FILE_BYTES } from '../src/report/constants.js';
import {
  ReportError,
  ResultsDirError,
  ResultsJsonError,
  ResultsReadError,
  ResultsShapeError,
} from '../src/report/errors.js';
import { loadResultsDir, loadResultsFile } from '../src/report/load-results.js';
import { parseSuiteResults, type SuiteResults } from '../src/report/results-file.js';

const figure = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null));
const nonBlank = fc.string({ minLength: 1 }).filter((s) => s.trim() !== '');

const resultCase = fc.record({
  name: nonBlank,
  unit: fc.string(),
  value: figure,
  baseline: figure,
  ratio: figure,
});

const suiteResults: fc.Arbitrary<SuiteResults> = fc.record(
  {
    suite: nonBlank,
    node: fc.string(),
    quick: fc.boolean(),
    date: fc.string(),
    cpu: fc.string(),
    cores: fc.integer({ min: 1, max: 4096 }),
    cases: fc.array(resultCase, { maxLength: 20 }),
  },
  { requiredKeys: ['suite', 'node', 'cases'] },
);

/** What JSON makes of a value: -0 becomes 0, which the parser cannot be asked to keep. */
function roundTrip<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

describe('parseSuiteResults', () => {
  it('parses every valid results object back to the same fields', () => {
    fc.assert(
      fc.property(suiteResults, (results) => {
        expect(parseSuiteResults(JSON.stringify(results), 'x.json')).toEqual(roundTrip(results));
      }),
    );
  });

  it('ignores fields it does not know, so newer runners stay readable', () => {
    const known = new Set(['suite', 'node', 'quick', 'date', 'cpu', 'cores', 'cases']);
    const extras = fc.dictionary(
      fc.string().filter((k) => !known.has(k) && k !== '__proto__'),
      fc.jsonValue(),
    );
    fc.assert(
      fc.property(suiteResults, extras, (results, extra) => {
        expect(parseSuiteResults(JSON.stringify({ ...extra, ...results }), 'x.json')).toEqual(
          roundTrip(results),
        );
      }),
    );
  });

  it('rejects every truncation of a valid file with ResultsJsonError', () => {
    fc.assert(
      fc.property(
        suiteResults.chain((r) => {
          const text = JSON.stringify(r);
          return fc.tuple(fc.constant(text), fc.integer({ min: 0, max: text.length - 1 }));
        }),
        ([text, cut]) => {
          const error = catchError(() => parseSuiteResults(text.slice(0, cut), 'cut.json'));
          expect(error).toBeInstanceOf(ResultsJsonError);
          expect((error as ResultsJsonError).code).toBe('MC_ERR_RESULTS_JSON');
          expect((error as ResultsJsonError).file).toBe('cut.json');
        },
      ),
    );
  });

  it('either parses a garbled file or throws a typed JSON or shape error, nothing else', () => {
    fc.assert(
      fc.property(
        suiteResults.chain((r) => {
          const text = JSON.stringify(r);
          return fc.tuple(
            fc.constant(text),
            fc.integer({ min: 0, max: text.length - 1 }),
            fc.integer({ min: 0, max: 127 }),
          );
        }),
        ([text, at, code]) => {
          const garbled = text.slice(0, at) + String.fromCharCode(code) + text.slice(at + 1);
          const outcome = catchError(() => parseSuiteResults(garbled, 'garbled.json'));
          if (outcome instanceof Error) {
            expect(outcome).toBeInstanceOf(ReportError);
            expect(['MC_ERR_RESULTS_JSON', 'MC_ERR_RESULTS_SHAPE']).toContain((outcome as ReportError).code);
          }
        },
      ),
    );
  });

  it('rejects any JSON value that is not a results object with ResultsShapeError', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const outcome = catchError(() => parseSuiteResults(JSON.stringify(value), 'any.json'));
        if (!(outcome instanceof Error)) return; // fc found a valid results object: fine, it parsed
        expect(outcome).toBeInstanceOf(ResultsShapeError);
      }),
    );
  });

  it('names the offending field for each wrong shape', () => {
    const valid = {
      suite: 's',
      node: 'v20',
      cases: [{ name: 'a', unit: 'ms', value: 1, baseline: 2, ratio: 0.5 }],
    };
    const wrong: Array<[string, unknown]> = [
      ['suite', { ...valid, suite: 3 }],
      ['suite', { ...valid, suite: '  ' }],
      ['node', { ...valid, node: undefined }],
      ['quick', { ...valid, quick: 'yes' }],
      ['cores', { ...valid, cores: 0 }],
      ['cases', { ...valid, cases: {} }],
      ['cases[0]', { ...valid, cases: [7] }],
      ['cases[0].name', { ...valid, cases: [{ ...valid.cases[0], name: '' }] }],
      ['cases[0].unit', { ...valid, cases: [{ ...valid.cases[0], unit: null }] }],
      ['cases[0].value', { ...valid, cases: [{ ...valid.cases[0], value: '1' }] }],
      ['cases[0].baseline', { ...valid, cases: [{ ...valid.cases[0], baseline: undefined }] }],
      ['cases[0].ratio', { ...valid, cases: [{ ...valid.cases[0], ratio: [1] }] }],
      ['(top level)', [valid]],
    ];
    for (const [path, value] of wrong) {
      const error = catchError(() => parseSuiteResults(JSON.stringify(value), 'w.json'));
      expect(error, path).toBeInstanceOf(ResultsShapeError);
      expect((error as ResultsShapeError).path).toBe(path);
      expect((error as ResultsShapeError).code).toBe('MC_ERR_RESULTS_SHAPE');
    }
  });
});

describe('loadResultsDir', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'mcft-report-load-'));
    dirs.push(dir);
    return dir;
  }
  const valid = (suite: string) =>
    JSON.stringify({
      suite,
      node: 'v20.20.2',
      cases: [{ name: 'a', unit: 'ms', value: 1, baseline: 2, ratio: 0.5 }],
    });

  it('loads every suite file of the committed results', () => {
    const set = loadResultsDir(join(import.meta.dirname, '../../../bench/results'));
    expect(set.suites.size).toBeGreaterThanOrEqual(7);
    for (const [name, results] of set.suites) {
      expect(results.suite).toBe(name);
      expect(results.cases.length).toBeGreaterThan(0);
    }
  });

  it('rejects a missing directory and one without results files with ResultsDirError', () => {
    const dir = tempDir();
    expect(() => loadResultsDir(join(dir, 'absent'))).toThrow(ResultsDirError);
    writeFileSync(join(dir, 'notes.txt'), 'not a results file');
    expect(() => loadResultsDir(dir)).toThrow(ResultsDirError);
  });

  it('rejects a truncated file among good ones with ResultsJsonError naming it', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'good.json'), valid('good'));
    writeFileSync(join(dir, 'bad.json'), valid('bad').slice(0, 40));
    const error = catchError(() => loadResultsDir(dir));
    expect(error).toBeInstanceOf(ResultsJsonError);
    expect((error as ResultsJsonError).file).toBe(join(dir, 'bad.json'));
  });

  it('rejects an empty file, a suite named unlike its file, a directory and an oversized file', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'empty.json'), '');
    expect(() => loadResultsFile(join(dir, 'empty.json'))).toThrow(ResultsJsonError);
    writeFileSync(join(dir, 'mc-core.json'), valid('keepalive'));
    const mismatch = catchError(() => loadResultsFile(join(dir, 'mc-core.json')));
    expect(mismatch).toBeInstanceOf(ResultsShapeError);
    expect((mismatch as ResultsShapeError).path).toBe('suite');
    mkdirSync(join(dir, 'folder.json'));
    expect(() => loadResultsFile(join(dir, 'folder.json'))).toThrow(ResultsReadError);
    writeFileSync(join(dir, 'huge.json'), ' '.repeat(MAX_RESULTS_FILE_BYTES + 1));
    expect(() => loadResultsFile(join(dir, 'huge.json'))).toThrow(ResultsReadError);
    expect(() => loadResultsFile(join(dir, 'absent.json'))).toThrow(ResultsReadError);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error;
  }
}
