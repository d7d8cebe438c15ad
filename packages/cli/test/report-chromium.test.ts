import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_CHARTS } from '../src/report/charts/index.js';
import { writeBenchReport } from '../src/report/write-report.js';
import { copyCommittedResults, syntheticFailoverResults, writeResults } from './report-fixtures.js';
import { countInk, type DecodedPng, decodePng } from './report-png.js';

const CHROMIUM_CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
const chromium = CHROMIUM_CANDIDATES.find((path): path is string => path !== undefined && existsSync(path));
const inCi = process.env.CI === 'true';
// Headless Chromium starts in about a second; a minute only guards against a hang on a loaded machine.
const CHROMIUM_DEADLINE_MS = 60_000;
const VIEWPORT_WIDTH_PX = 1280;
const MISSING_SUITE = 'transport-rdma-sim';

describe('the report in headless Chromium', () => {
  if (chromium === undefined) {
    const where = CHROMIUM_CANDIDATES.filter(Boolean).join(', ');
    if (inCi) it('needs chromium under CI', () => expect.fail(`CI=true but no chromium at ${where}`));
    else it.skip(`no chromium at ${where} (apt-get install chromium); not CI, so skipped`, () => {});
    return;
  }

  let work: string;
  let reportUrl: string;
  let reportHtml: string;
  const running = new Set<ChildProcess>();

  beforeAll(async () => {
    // The committed results plus a synthetic failover file, less one suite, so the page holds every
    // chart kind and a "no results yet" panel.
    work = copyCommittedResults('mcft-report-chromium-');
    writeResults(work, syntheticFailoverResults());
    rmSync(join(work, `${MISSING_SUITE}.json`), { force: true });
    const report = await writeBenchReport({ resultsDir: work });
    reportUrl = pathToFileURL(report.reportFile).href;
    reportHtml = readFileSync(report.reportFile, 'utf8');
  });
  afterEach(() => {
    for (const child of running) killGroup(child);
    running.clear();
  });
  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  /** Runs chromium headless with its own profile, in its own process group, killed at the deadline. */
  async function runChromium(args: string[]): Promise<{ stdout: string; stderr: string }> {
    const profile = mkdtempSync(join(tmpdir(), 'mcft-report-chromium-profile-'));
    try {
      const child = spawn(
        chromium!,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--hide-scrollbars',
          `--user-data-dir=${profile}`,
          ...args,
        ],
        { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      running.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => killGroup(child), CHROMIUM_DEADLINE_MS);
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (c, s) => resolve([c, s]));
      });
      clearTimeout(timer);
      running.delete(child);
      killGroup(child); // helpers chromium left behind, if any
      if (code !== 0) throw new Error(`chromium exited with ${code ?? signal}: ${stderr.slice(-2000)}`);
      return { stdout, stderr };
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  }

  it('parses every chart as an SVG with marks inside, and every absent suite as a labelled panel', async () => {
    const { stdout: dom } = await runChromium(['--dump-dom', reportUrl]);
    expect(dom).toContain('<h1>microcheckpoint benchmark report</h1>');
    const figures = [
      ...dom.matchAll(/<figure class="chart[^"]*" id="chart-([a-z-]+)"[^>]*>([\s\S]*?)<\/figure>/g),
    ];
    expect(figures.map((f) => f[1])).toEqual(REPORT_CHARTS.map((c) => c.id));
    let missing = 0;
    for (const [, id, body] of figures) {
      const status = new RegExp(`id="chart-${id}"[^>]*data-status="(\\w+)"`).exec(dom)![1];
      if (status === 'missing') {
        expect(body).toContain(`No results yet for ${MISSING_SUITE}`);
        missing++;
        continue;
      }
      expect(body, id).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      const bars = /<g class="mark-rect role-mark layer_0_marks"[^>]*>([\s\S]*?)<\/g>/.exec(body!);
      expect(bars, `${id} has no bar layer`).not.toBeNull();
      expect(bars![1]!.match(/<path /g)?.length ?? 0, `${id} has no bars`).toBeGreaterThan(0);
      expect(body, `${id} has no axis text`).toMatch(/<text[^>]*>[^<]+<\/text>/);
    }
    expect(missing).toBe(REPORT_CHARTS.filter((c) => c.suite === MISSING_SUITE).length);
  });

  it('paints every chart: the screenshot shows each figure with coloured bars in it', async () => {
    const svgHeights = [...reportHtml.matchAll(/<svg[^>]*\bheight="(\d+)"/g)].map((m) => Number(m[1]));
    const height = Math.min(
      16_000,
      svgHeights.reduce((a, b) => a + b, 0) + 150 * REPORT_CHARTS.length + 1500,
    );
    const shot = join(work, 'report.png');
    await runChromium([`--screenshot=${shot}`, `--window-size=${VIEWPORT_WIDTH_PX},${height}`, reportUrl]);
    const png = decodePng(readFileSync(shot));
    if (process.env.MCFT_REPORT_SCREENSHOT) copyFileSync(shot, process.env.MCFT_REPORT_SCREENSHOT);
    expect(png.width).toBe(VIEWPORT_WIDTH_PX);
    expect(png.height).toBe(height);
    const whole = countInk(png);
    expect(whole.ink).toBeGreaterThan(png.width * png.height * 0.02); // not blank
    const boxes = figureBoxes(png);
    expect(boxes).toHaveLength(REPORT_CHARTS.length); // all figures laid out, the last one inside the shot
    const statuses = REPORT_CHARTS.map(
      (c) => new RegExp(`id="chart-${c.id}"[^>]*data-status="(\\w+)"`).exec(reportHtml)![1],
    );
    boxes.forEach((box, i) => {
      const { coloured } = countInk(png, { from: box.top + 1, to: box.bottom });
      // A rendered chart's bars are thousands of coloured pixels; a panel's one line of text is far less.
      if (statuses[i] === 'rendered') expect(coloured, REPORT_CHARTS[i]!.id).toBeGreaterThan(2000);
    });
  });
});

/**
 * The figures of the page, found by their 1 px borders: rows whose middle 80% is one uniform, non-white
 * colour. Only figure borders span that wide (tables are narrower, chart axes shorter).
 */
function figureBoxes(png: DecodedPng): Array<{ top: number; bottom: number }> {
  const from = Math.floor(png.width * 0.1);
  const to = Math.floor(png.width * 0.9);
  const rules: number[] = [];
  for (let y = 0; y < png.height; y++) {
    const first = (y * png.width + from) * png.channels;
    const r = png.pixels[first]!;
    const g = png.pixels[first + 1]!;
    const b = png.pixels[first + 2]!;
    if (r > 245 && g > 245 && b > 245) continue;
    let uniform = true;
    for (let x = from; x < to && uniform; x++) {
      const i = (y * png.width + x) * png.channels;
      uniform =
        Math.abs(png.pixels[i]! - r) < 8 &&
        Math.abs(png.pixels[i + 1]! - g) < 8 &&
        Math.abs(png.pixels[i + 2]! - b) < 8;
    }
    if (uniform && (rules.length === 0 || rules[rules.length - 1] !== y - 1)) rules.push(y);
  }
  const boxes: Array<{ top: number; bottom: number }> = [];
  for (let i = 0; i + 1 < rules.length; i += 2) boxes.push({ top: rules[i]!, bottom: rules[i + 1]! });
  return boxes;
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is already gone
  }
}
