import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ChildFailedError } from '../errors.js';

/**
 * The mcft executable next to this code: src/bin.ts when running from the sources (under tsx), else
 * dist/bin.js (this file is bundled into dist/index.js and dist/bin.js, side by side).
 */
const MCFT_BIN = new URL(import.meta.url.endsWith('.ts') ? '../bin.ts' : './bin.js', import.meta.url);

/** One JSON line a child printed, with the time the demo read it. */
export interface ChildLine {
  type: string;
  [field: string]: unknown;
}

/** A process the demo started: `mcft` itself with another command. */
export interface DemoChild {
  readonly name: string;
  readonly process: ChildProcess;
  readonly lines: ChildLine[];
  /** Text the child wrote to stderr (the last 8 KiB), for error messages. */
  stderr(): string;
  readonly exited: Promise<void>;
  readonly alive: boolean;
  /** Calls `listener` for every line from now on (and for none already read). */
  onLine(listener: (line: ChildLine) => void): void;
  /** Resolves with the first line (read so far or later) that `match` accepts. */
  waitFor(match: (line: ChildLine) => boolean, timeoutMs: number, what: string): Promise<ChildLine>;
  send(line: string): void;
  signal(signal: NodeJS.Signals): void;
}

/**
 * Starts this same mcft with `args`, the way this process was started (same node, same flags), so
 * that a demo run from the sources starts children from the sources too. `prefix` runs it through
 * another command (`ip netns exec NS`).
 */
export function startMcft(name: string, args: string[], prefix: readonly string[] = []): DemoChild {
  const script = fileURLToPath(MCFT_BIN);
  const argv = [process.execPath, ...process.execArgv, script, ...args];
  // `ip netns exec NS` execs the command in place: the child's pid is mcft's own.
  const [file, ...rest] = [...prefix, ...argv];
  const child = spawn(file!, rest, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, MCFT_DEMO_CHILD: '1' },
  });
  const lines: ChildLine[] = [];
  const listeners: Array<(line: ChildLine) => void> = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-8192);
  });
  child.stdin!.on('error', () => undefined);
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: ChildLine;
    try {
      line = JSON.parse(text) as ChildLine;
    } catch {
      line = { type: 'text', text };
    }
    lines.push(line);
    for (const l of listeners) l(line);
  });
  const exited = once(child, 'exit').then(() => undefined);
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    name,
    process: child,
    lines,
    stderr: () => stderr,
    exited,
    get alive() {
      return alive();
    },
    onLine: (listener) => listeners.push(listener),
    async waitFor(match, timeoutMs, what) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines.find(match);
        if (found !== undefined) return found;
        if (!alive()) {
          throw new ChildFailedError(
            name,
            `exited (${child.exitCode ?? child.signalCode}) before ${what}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
          );
        }
        if (Date.now() > deadline)
          throw new ChildFailedError(name, `${what} not seen within ${timeoutMs} ms`);
        await sleep(10);
      }
    },
    send(line) {
      if (alive()) child.stdin!.write(`${line}\n`);
    },
    signal(signal) {
      if (alive()) child.kill(signal);
    },
  };
}

/** Kills a child for good (SIGKILL works on a stopped process too) and waits for it to be gone. */
export async function killChild(child: DemoChild): Promise<void> {
  if (child.alive) child.process.kill('SIGKILL');
  await child.exited;
}
