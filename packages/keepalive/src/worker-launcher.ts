import { Worker } from 'node:worker_threads';
import type { WorkerInit } from './worker-protocol.js';

/**
 * Starts the heartbeat worker. Published builds run `heartbeat-worker.js` next to the bundle. When this
 * module runs from its TypeScript sources (the package's own tests, under vitest or tsx), the worker file
 * is `.ts` and Node cannot load it by itself, so a tiny bootstrap loads it through tsx, the loader the
 * repository's tooling already uses; that branch is never taken from `dist`.
 */
export function launchHeartbeatWorker(init: WorkerInit): Worker {
  const here = import.meta.url;
  const execArgv = workerExecArgv(process.execArgv);
  if (!here.endsWith('.ts')) {
    return new Worker(new URL('./heartbeat-worker.js', here), { workerData: init, execArgv });
  }
  const workerUrl = new URL('./heartbeat-worker.ts', here).href;
  const api = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(api)}).then((tsx) => tsx.tsImport(${JSON.stringify(workerUrl)}, ${JSON.stringify(here)}));`;
  return new Worker(bootstrap, { eval: true, workerData: init, execArgv });
}

/**
 * A worker inherits the process's flags, but `--input-type` (set by `node --input-type=module -e ...`)
 * makes Node refuse to load a worker from a file: drop it, keep everything else (loaders, conditions).
 */
export function workerExecArgv(parent: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const arg = parent[i]!;
    if (arg.startsWith('--input-type=')) continue;
    if (arg === '--input-type') {
      i++;
      continue;
    }
    kept.push(arg);
  }
  return kept;
}
