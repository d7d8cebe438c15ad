import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from './errors.js';

/** A lab process whose stdout is JSON lines (the KV nodes and the witness print those). */
export interface LineProcess {
  readonly child: ChildProcess;
  readonly name: string;
  readonly lines: ReadonlyArray<Record<string, unknown>>;
  /** Everything it wrote to stderr (for error messages). */
  readonly stderr: () => string;
  /** Resolves with the first line (seen so far or later) that matches; LabError after `timeoutMs`. */
  waitFor(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
}

export function lineProcess(name: string, child: ChildProcess): LineProcess {
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8192);
  });
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as unknown;
        if (parsed !== null && typeof parsed === 'object') lines.push(parsed as Record<string, unknown>);
      } catch {
        // Not a status line (a library writing to stdout): ignored.
      }
    });
  }
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  return {
    child,
    name,
    lines,
    stderr: () => stderr,
    exited,
    async waitFor(match, timeoutMs, what) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const found = lines.find(match);
        if (found !== undefined) return found;
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new LabError(
            `${name} exited (${child.exitCode ?? child.signalCode}) before ${what}: ${stderr.trim()}`,
          );
        }
        if (performance.now() > deadline)
          throw new LabError(`${name}: ${what} not seen within ${timeoutMs} ms: ${stderr.trim()}`);
        await sleep(10);
      }
    },
  };
}
