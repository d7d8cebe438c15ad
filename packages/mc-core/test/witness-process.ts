import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/witness-server.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A witness server running in a separate Node process (spawned with `--import tsx`). */
export interface WitnessProcess {
  readonly port: number;
  readonly pid: number;
  /** Sends `signal` (SIGKILL by default) and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP: the socket stays open, nothing answers. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
}

/** What the fixture printed when it refused to start. */
export class WitnessStartError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Starts a witness process; resolves once it listens. `port` 0 picks a free one. */
export async function spawnWitness(
  options: { port?: number; stateFile?: string } = {},
): Promise<WitnessProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', FIXTURE, String(options.port ?? 0), options.stateFile ?? ''],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await firstLine(child);
  return {
    port,
    pid: child.pid!,
    async stop(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGCONT');
      child.kill(signal);
      await exited;
    },
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
  };
}

async function firstLine(child: ChildProcess): Promise<number> {
  const lines = createInterface({ input: child.stdout! });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  try {
    for await (const line of lines) {
      const parsed = JSON.parse(line) as { port?: number; error?: string; message?: string };
      if (typeof parsed.port === 'number') return parsed.port;
      throw new WitnessStartError(parsed.error ?? 'UNKNOWN', parsed.message ?? line);
    }
    throw new Error(`witness process exited (${child.exitCode ?? child.signalCode}) before listening`);
  } finally {
    clearTimeout(timer);
    lines.close();
  }
}
