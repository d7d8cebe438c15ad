import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { BenchRunError, InvalidReportOptionError, NotACheckoutError } from '../report/errors.js';
import { findCheckoutRoot } from '../report/find-checkout.js';
import { runBenchSuites } from '../report/run-suites.js';
import { writeBenchReport } from '../report/write-report.js';

/** Options of `mcft bench` as commander hands them over. */
export interface BenchCommandOptions {
  quick?: boolean;
  results?: string;
  out?: string;
  reportOnly?: boolean;
}

/** Where `mcft bench` prints its progress lines; the terminal by default. */
export interface BenchCommandOutput {
  write(line: string): void;
}

const SUITE_NAME = /^[a-z0-9][a-z0-9-]*$/;

const EXAMPLES = `
Examples:
  $ mcft bench --quick                      run every suite briefly, then write the report
  $ mcft bench mc-core keepalive            run two suites in full, then write the report
  $ mcft bench --report-only                re-render bench/results/report.html from the results
  $ mcft bench --report-only --results ./results --out ./site
                                            render results copied from another machine

Writes <out>/report.html (self-contained: charts inlined as SVG) and <out>/charts/<chart>.svg.
A chart whose suite has no results yet shows as a labelled "no results yet" panel.`;

/**
 * The `mcft bench` command: runs the benchmark suites of this checkout (`npm run bench`), then renders
 * `bench/results/report.html` and one SVG per chart. With `--report-only` it only renders, which also
 * works outside a checkout given `--results DIR`.
 */
export function benchCommand(
  output: BenchCommandOutput = { write: (line) => process.stdout.write(`${line}\n`) },
) {
  return new Command('bench')
    .description('run the benchmark suites and write the HTML report with SVG charts')
    .argument('[suite...]', 'suites to run (files in bench/src/suites); default: all')
    .option('--quick', 'shortened run of each suite (CI smoke run)', false)
    .option('--results <dir>', 'results directory to render from (default: <checkout>/bench/results)')
    .option('--out <dir>', 'where report.html and charts/ go (default: the results directory)')
    .option('--report-only', 'do not run suites; render the report from existing results', false)
    .addHelpText('after', EXAMPLES)
    .action(async (suites: string[], options: BenchCommandOptions) => {
      await runBench(suites, options, output);
    });
}

/**
 * What `mcft bench` does, without commander: exported for programmatic use and tests.
 *
 * @param searchFrom - where to look for the checkout, first hit wins: by default the working directory,
 *   then this module's own location (so `node packages/cli/dist/bin.js bench` works from anywhere)
 */
export async function runBench(
  suites: readonly string[],
  options: BenchCommandOptions,
  output: BenchCommandOutput,
  searchFrom: readonly string[] = [process.cwd(), dirname(fileURLToPath(import.meta.url))],
): Promise<void> {
  let root: string | undefined;
  for (const start of searchFrom) {
    root = findCheckoutRoot(start);
    if (root !== undefined) break;
  }
  const checkoutResults = root === undefined ? undefined : join(root, 'bench', 'results');
  const resultsDir = options.results === undefined ? checkoutResults : resolve(options.results);

  if (options.reportOnly === true) {
    if (suites.length > 0) {
      throw new InvalidReportOptionError(
        '--report-only',
        `runs no suite, but suites were named: ${suites.join(' ')}`,
      );
    }
    if (resultsDir === undefined) {
      throw new InvalidReportOptionError('--results', 'is needed outside a microcheckpoint checkout');
    }
  } else {
    if (root === undefined || checkoutResults === undefined) {
      throw new NotACheckoutError(searchFrom);
    }
    if (resultsDir !== checkoutResults) {
      throw new InvalidReportOptionError(
        '--results',
        `the suites write to ${checkoutResults}; use --results only with --report-only`,
      );
    }
    checkSuiteNames(root, suites);
    output.write(
      `running ${suites.length === 0 ? 'every suite' : suites.join(', ')}${options.quick ? ' (quick)' : ''}`,
    );
    try {
      await runBenchSuites({ root, quick: options.quick === true, suites });
    } catch (error) {
      // The suites that finished before the failure wrote their results: report those, then fail.
      if (error instanceof BenchRunError) await writeReport(resultsDir!, options, output).catch(() => {});
      throw error;
    }
  }
  await writeReport(resultsDir!, options, output);
}

async function writeReport(resultsDir: string, options: BenchCommandOptions, output: BenchCommandOutput) {
  const report = await writeBenchReport({
    resultsDir,
    outDir: options.out === undefined ? resultsDir : resolve(options.out),
  });
  output.write(`wrote ${report.reportFile}`);
  for (const file of report.chartFiles.values()) output.write(`wrote ${file}`);
  for (const [id, reason] of report.missing) output.write(`chart ${id}: ${reason}`);
}

// The runner also rejects unknown suites, but only after building every package; fail before that.
function checkSuiteNames(root: string, suites: readonly string[]): void {
  const bad = suites.find((s) => !SUITE_NAME.test(s));
  if (bad !== undefined) throw new InvalidReportOptionError('suite', `"${bad}" is not a suite name`);
  let available: string[];
  try {
    available = readdirSync(join(root, 'bench', 'src', 'suites'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.slice(0, -3));
  } catch {
    return; // an unusual checkout layout: leave the check to the runner
  }
  const unknown = suites.filter((s) => !available.includes(s));
  if (unknown.length > 0) {
    throw new InvalidReportOptionError(
      'suite',
      `unknown suite(s) ${unknown.join(', ')}; available: ${available.sort().join(', ')}`,
    );
  }
}
