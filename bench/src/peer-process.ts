import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** A benchmark peer running in its own process (so sender and receiver do not share one event loop). */
export interface PeerProcess<T> {
  /** What the peer printed as its first line, parsed as JSON. */
  ready: T;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `src/peers/<name>.ts` under tsx and waits for its first stdout line (JSON). */
export async function startPeer<T>(name: string, args: readonly string[]): Promise<PeerProcess<T>> {
  const file = fileURLToPath(new URL(`./peers/${name}.ts`, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx/esm', file, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const newline = buffered.indexOf('\n');
      if (newline >= 0) resolve(buffered.slice(0, newline));
    });
    child.once('exit', (code) => reject(new Error(`peer ${name} exited with ${code} before it was ready`)));
  });
  return {
    ready: JSON.parse(line) as T,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}
