import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { benchCommand, runBench } from '../src/commands/bench.js';
import { REPORT_CHARTS } from '../src/report/charts/index.js';
import {
  BenchRunError,
  InvalidReportOptionError,
  NotACheckoutError,
  ResultsJsonError,
  ResultsShapeError,
} from '../src/report/errors.js';
import { findCheckoutRoot } from '../src/report/find-checkout.js';
import { loadResultsDir } from '../src/report/load-results.js';
import { estimateTextWidth } from '../src/report/text-metrics.js';
import { writeBenchReport } from '../src/report/write-report.js';
import {
  COMMITTED_RESULTS_DIR,
  copyCommittedResults,
  layerMarks,
  syntheticFailoverResults,
  writeResults,
} from './report-fixtures.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(prefix = 'mcft-report-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** The `<figure>` of one chart in the report. */
function figureOf(html: string, id: string): string {
  const match = new RegExp(`<figure class="chart[^"]*" id="chart-${id}"[\\s\\S]*?</figure>`).exec(html);
  if (match === null) throw new Error(`no figure for chart ${id}`);
  return match[0];
}

describe('the report from the committed results', () => {
  it('renders every chart whose suite has results, with one bar and one baseline tick per case', async () => {
    const out = tempDir();
    const report = await writeBenchReport({ resultsDir: COMMITTED_RESULTS_DIR, outDir: out });
    const suites = loadResultsDir(COMMITTED_RESULTS_DIR).suites;
    const html = readFileSync(report.reportFile, 'utf8');
    for (const chart of REPORT_CHARTS) {
      const results = suites.get(chart.suite);
      const figure = figureOf(html, chart.id);
      if (results === undefined) {
        expect(report.missing.get(chart.id)).toContain(`No results yet for ${chart.suite}`);
        expect(figure).toContain('data-status="missing"');
        expect(figure).toContain(`No results yet for ${chart.suite}`);
        expect(existsSync(join(out, 'charts', `${chart.id}.svg`))).toBe(false);
        continue;
      }
      const file = report.chartFiles.get(chart.id);
      expect(file, chart.id).toBe(join(out, 'charts', `${chart.id}.svg`));
      const svg = readFileSync(file!, 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(figure).toContain(svg.slice(0, 200)); // inlined, not linked
      // Every case the chart selects is a bar, labelled with its value, and has its baseline tick.
      const spec = chart.build(results)!;
      const rows = (spec.data as { values: Array<{ value: number }> }).values;
      const bars = layerMarks(svg, 0);
      expect(rows.length).toBeGreaterThan(0);
      expect(bars).toHaveLength(rows.length);
      expect(layerMarks(svg, 1)).toHaveLength(rows.length);
      for (const row of rows) expect(bars.some((bar) => bar.includes(`: ${row.value};`))).toBe(true);
      // The chart states the machine and the baseline.
      expect(svg).toContain(`Node ${results.node}`);
      expect(svg).toContain(`${results.cores ?? cpus().length} cores`);
      expect(svg).toContain('Baseline (black tick):');
    }
  });

  it('has a ratio table per suite with every case, and loads nothing from outside the file', async () => {
    const out = tempDir();
    const report = await writeBenchReport({ resultsDir: COMMITTED_RESULTS_DIR, outDir: out });
    const html = readFileSync(report.reportFile, 'utf8');
    for (const suite of report.suites) {
      expect(html).toContain(`id="suite-${suite.suite}"`);
      const table = new RegExp(`<table class="cases" id="suite-${suite.suite}">[\\s\\S]*?</table>`).exec(
        html,
      )![0];
      expect(table.match(/<tr>/g)!.length - 1).toBe(suite.cases.length);
    }
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\bsrc=|url\(http|href="http/i);
  });

  it('lays labels out by character width instead of truncating them at half their room', async () => {
    const out = tempDir();
    await writeBenchReport({ resultsDir: COMMITTED_RESULTS_DIR, outDir: out });
    const svg = readFileSync(join(out, 'charts', 'pause-time.svg'), 'utf8');
    expect(svg).toContain('>20 ms epochs, 100 clients x 64 pipelined<');
    expect(estimateTextWidth('iiii', 10)).toBeLessThan(estimateTextWidth('MMMM', 10));
    expect(estimateTextWidth('ab', 10, true)).toBeGreaterThan(estimateTextWidth('ab', 10));
  });
});

describe('the report from synthetic results', () => {
  it('draws all charts, the failover chart included, and states the recorded machine', async () => {
    const dir = tempDir();
    const committed = copyCommittedResults('mcft-report-copy-');
    dirs.push(committed);
    for (const results of loadResultsDir(committed).suites.values()) {
      writeResults(dir, { ...results, cpu: 'Synthetic CPU 9000', cores: 64 });
    }
    writeResults(dir, { ...syntheticFailoverResults(), cpu: 'Synthetic CPU 9000', cores: 64 });
    const report = await writeBenchReport({ resultsDir: dir });
    expect([...report.missing.keys()]).toEqual([]);
    expect(report.chartFiles.size).toBe(REPORT_CHARTS.length);
    const failover = readFileSync(report.chartFiles.get('failover-time')!, 'utf8');
    expect(layerMarks(failover, 0)).toHaveLength(12);
    expect(failover).toContain('failover with the witness arbiter');
    expect(failover).toContain('Synthetic CPU 9000, 64 cores, Node v20.20.2');
    expect(report.reportFile).toBe(join(dir, 'report.html'));
  });

  it('shows a labelled "no results yet" panel per absent suite and removes stale chart files', async () => {
    const dir = tempDir();
    writeResults(dir, syntheticFailoverResults());
    mkdirSync(join(dir, 'charts'));
    writeFileSync(join(dir, 'charts', 'capture-bandwidth.svg'), '<svg>stale</svg>');
    const report = await writeBenchReport({ resultsDir: dir });
    expect([...report.chartFiles.keys()]).toEqual(['failover-time']);
    expect(report.missing.size).toBe(REPORT_CHARTS.length - 1);
    expect(existsSync(join(dir, 'charts', 'capture-bandwidth.svg'))).toBe(false);
    const html = readFileSync(report.reportFile, 'utf8');
    expect(figureOf(html, 'capture-bandwidth')).toContain('No results yet for mc-core');
    expect(figureOf(html, 'detection-latency')).toContain('No results yet for keepalive');
  });

  it('shows a panel, not an empty chart, when a suite has none of the cases a chart plots', async () => {
    const dir = tempDir();
    writeResults(dir, {
      suite: 'mc-core',
      node: 'v20.20.2',
      cases: [{ name: 'something else entirely', unit: 'MB/s', value: 1, baseline: 2, ratio: 0.5 }],
    });
    const report = await writeBenchReport({ resultsDir: dir });
    expect(report.missing.get('capture-bandwidth')).toContain('no case this chart plots');
    expect(report.chartFiles.size).toBe(0);
  });

  it('leaves out cases without a figure and escapes names in the tables', async () => {
    const dir = tempDir();
    writeResults(dir, {
      suite: 'transport-tcp',
      node: 'v20.20.2',
      cases: [
        { name: '4 KiB messages crc32c', unit: 'MB/s', value: 400, baseline: 600, ratio: 0.667 },
        { name: '64 KiB messages crc32c', unit: 'MB/s', value: null, baseline: 600, ratio: null },
        { name: '<script>alert(1)</script>', unit: 'MB/s', value: 1, baseline: 2, ratio: 0.5 },
      ],
    });
    const report = await writeBenchReport({ resultsDir: dir });
    const svg = readFileSync(report.chartFiles.get('transport-throughput')!, 'utf8');
    expect(layerMarks(svg, 0)).toHaveLength(1);
    const html = readFileSync(report.reportFile, 'utf8');
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('rejects a malformed results file with a typed error and writes no report', async () => {
    const dir = tempDir();
    writeResults(dir, syntheticFailoverResults());
    writeFileSync(join(dir, 'keepalive.json'), '{"suite":"keepalive","node":"v20","cases":[{"name":');
    await expect(writeBenchReport({ resultsDir: dir })).rejects.toBeInstanceOf(ResultsJsonError);
    writeFileSync(join(dir, 'keepalive.json'), '{"suite":"keepalive","node":"v20","cases":[{"name":"x"}]}');
    await expect(writeBenchReport({ resultsDir: dir })).rejects.toBeInstanceOf(ResultsShapeError);
    expect(existsSync(join(dir, 'report.html'))).toBe(false);
  });
});

describe('mcft bench', () => {
  const quiet = { write: () => {} };

  it('--report-only renders from --results into --out and prints what it wrote', async () => {
    const out = tempDir();
    const lines: string[] = [];
    await benchCommand({ write: (line) => lines.push(line) }).parseAsync(
      ['--report-only', '--results', COMMITTED_RESULTS_DIR, '--out', out],
      { from: 'user' },
    );
    expect(existsSync(join(out, 'report.html'))).toBe(true);
    expect(lines[0]).toBe(`wrote ${join(out, 'report.html')}`);
    expect(lines.some((l) => l === `wrote ${join(out, 'charts', 'capture-bandwidth.svg')}`)).toBe(true);
  });

  it('rejects bad combinations and unknown suites with typed errors before running anything', async () => {
    await expect(runBench(['mc-core'], { reportOnly: true }, quiet)).rejects.toBeInstanceOf(
      InvalidReportOptionError,
    );
    await expect(runBench(['no-such-suite'], { quick: true }, quiet)).rejects.toThrow(
      /unknown suite.*no-such-suite/,
    );
    await expect(runBench(['../etc'], {}, quiet)).rejects.toBeInstanceOf(InvalidReportOptionError);
    await expect(runBench([], { results: tempDir() }, quiet)).rejects.toThrow(
      /use --results only with --report-only/,
    );
  });

  it('outside a checkout, running suites is a NotACheckoutError and --report-only needs --results', async () => {
    const outside = tempDir();
    const error = await runBench([], { quick: true }, quiet, [outside]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotACheckoutError);
    expect((error as NotACheckoutError).code).toBe('MC_ERR_NOT_A_CHECKOUT');
    await expect(runBench([], { reportOnly: true }, quiet, [outside])).rejects.toThrow(
      /--results: is needed/,
    );
    const out = tempDir();
    await runBench([], { reportOnly: true, results: COMMITTED_RESULTS_DIR, out }, quiet, [outside]);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  });

  /**
   * A checkout in miniature: the root package.json names the bench workspace, and its `bench` script is
   * a runner that writes a transport-tcp results file the way the real runner does, recording the
   * arguments it got, and fails when asked to run the suite named `broken`.
   */
  function miniatureCheckout(): string {
    const root = tempDir('mcft-report-checkout-');
    mkdirSync(join(root, 'bench', 'src', 'suites'), { recursive: true });
    for (const suite of ['transport-tcp', 'broken'])
      writeFileSync(join(root, 'bench', 'src', 'suites', `${suite}.ts`), '');
    writeFileSync(join(root, 'bench', 'package.json'), JSON.stringify({ name: 'bench', private: true }));
    writeFileSync(
      join(root, 'package.json'),
      JSON.stringify({
        name: 'mini',
        private: true,
        workspaces: ['bench'],
        scripts: { bench: 'node bench/run.mjs' },
      }),
    );
    writeFileSync(
      join(root, 'bench', 'run.mjs'),
      `import { mkdirSync, writeFileSync } from 'node:fs';
const args = process.argv.slice(2);
mkdirSync('bench/results', { recursive: true });
const cases = [{ name: '4 KiB messages crc32c', unit: 'MB/s', value: 400, baseline: 600, ratio: 0.6667 }];
writeFileSync('bench/results/transport-tcp.json', JSON.stringify({ suite: 'transport-tcp', node: process.version, quick: args.includes('--quick'), args, cases }));
if (args.includes('broken')) process.exit(3);
`,
    );
    return root;
  }

  it('runs the suites through npm run bench at the checkout root, then writes the report', async () => {
    const root = miniatureCheckout();
    const lines: string[] = [];
    await runBench(['transport-tcp'], { quick: true }, { write: (l) => lines.push(l) }, [
      join(root, 'bench'),
    ]);
    const written = JSON.parse(readFileSync(join(root, 'bench', 'results', 'transport-tcp.json'), 'utf8'));
    expect(written.args).toEqual(['--quick', 'transport-tcp']);
    expect(lines[0]).toBe('running transport-tcp (quick)');
    expect(lines).toContain(`wrote ${join(root, 'bench', 'results', 'report.html')}`);
    const svg = readFileSync(join(root, 'bench', 'results', 'charts', 'transport-throughput.svg'), 'utf8');
    expect(svg).toContain('--quick run');
  });

  it('reports a failed run as BenchRunError, after rendering what the finished suites wrote', async () => {
    const root = miniatureCheckout();
    const error = await runBench(['transport-tcp', 'broken'], {}, quiet, [root]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BenchRunError);
    expect((error as BenchRunError).code).toBe('MC_ERR_BENCH_FAILED');
    expect((error as BenchRunError).runnerExitCode).toBe(3);
    expect(existsSync(join(root, 'bench', 'results', 'report.html'))).toBe(true);
  });

  it('finds the checkout root by its workspaces, in both npm spellings', () => {
    const root = join(import.meta.dirname, '../../..');
    expect(findCheckoutRoot(import.meta.dirname)).toBe(root);
    const outside = tempDir();
    expect(findCheckoutRoot(outside)).toBeUndefined();
    writeFileSync(join(outside, 'package.json'), JSON.stringify({ workspaces: { packages: ['bench'] } }));
    mkdirSync(join(outside, 'a', 'b'), { recursive: true });
    expect(findCheckoutRoot(join(outside, 'a', 'b'))).toBe(outside);
  });
});
