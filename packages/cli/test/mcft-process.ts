import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

/** Runs the CLI from its sources, resolving sibling packages to their sources too. */
export const MCFT_ARGV = [
  process.execPath,
  '--import',
  'tsx/esm',
  '--import',
  new URL('./fixtures/src-aliases.mjs', import.meta.url).pathname,
  new URL('../src/bin.ts', import.meta.url).pathname,
];

export interface McftRun {
  child: ChildProcess;
  /** stdout so far, whole. */
  stdout(): string;
  stderr(): string;
  /** stdout lines that were JSON objects. */
  lines: Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<Record<string, unknown>>;
  waitForText(text: string, timeoutMs: number): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `mcft args` (through `prefix`, e.g. `ip netns exec NS`, when given). */
export function startMcft(
  args: string[],
  options: { prefix?: string[]; env?: NodeJS.ProcessEnv } = {},
): McftRun {
  const argv = [...(options.prefix ?? []), ...MCFT_ARGV, ...args];
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let stdout = '';
  let stderr = '';
  const lines: Array<Record<string, unknown>> = [];
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (c: string) => {
    stdout += c;
  });
  child.stderr!.on('data', (c: string) => {
    stderr += c;
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('{')) {
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // A pretty-printed JSON document spans lines; the test parses stdout() whole then.
      }
    }
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    lines,
    exited,
    async waitFor(match, timeoutMs, what) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines.find(match);
        if (found) return found;
        if (!alive()) throw new Error(`mcft ${args[0]} exited before ${what}: ${stderr}`);
        if (Date.now() > deadline) throw new Error(`${what} not seen within ${timeoutMs} ms: ${stderr}`);
        await sleep(20);
      }
    },
    async waitForText(text, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!stdout.includes(text)) {
        if (!alive()) throw new Error(`mcft ${args[0]} exited before printing ${text}: ${stderr}`);
        if (Date.now() > deadline)
          throw new Error(`${text} not printed within ${timeoutMs} ms: ${stdout} ${stderr}`);
        await sleep(20);
      }
    },
    async kill(signal = 'SIGKILL') {
      if (alive()) child.kill(signal);
      await exited;
    },
  };
}

/** Runs `mcft args` to completion (bounded by `timeoutMs`, a hang guard). */
export async function runMcft(
  args: string[],
  options: { prefix?: string[]; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startMcft(args, options);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const { code } = await run.exited;
  clearTimeout(timer);
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** Pids of live processes whose environment holds `NAME=value` (children inherit it, so a tag finds every descendant). */
export function processesTagged(name: string, value: string): number[] {
  const needle = `${name}=${value}\0`;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      // A zombie is gone already, only not yet reaped by its parent.
      if (environ.includes(needle) && !/^\d+ \(.*\) Z /.test(stat)) found.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

/** Kills every process tagged so (cleanup after a failed test). */
export function killTagged(name: string, value: string): void {
  for (const pid of processesTagged(name, value)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }
}

/** One sample of the Prometheus text format. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text exposition format (0.0.4): HELP and TYPE comments, then
 * `name{label="value",...} number` lines. Throws on any line that is neither.
 */
export function parsePrometheusText(text: string): { samples: PromSample[]; types: Map<string, string> } {
  const samples: PromSample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$/.exec(line);
    if (m === null) throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    if (m[3] !== undefined && m[3] !== '') {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
      let at = 0;
      while (at < m[3].length) {
        re.lastIndex = at;
        const l = re.exec(m[3]);
        if (l === null) throw new Error(`bad labels in ${JSON.stringify(line)}`);
        labels[l[1]!] = l[2]!;
        at = re.lastIndex;
      }
    }
    samples.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return { samples, types };
}
