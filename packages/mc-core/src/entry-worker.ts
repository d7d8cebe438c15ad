import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread on a module file. A `.ts` file (this package's sources, run by its tests and
 * by those of packages that alias it to src) is loaded through tsx's register API, because Node 20
 * does not apply `--import tsx/esm` hooks to a worker's own entry point.
 */
export function startWorkerFile(file: URL, options: WorkerOptions = {}): Worker {
  if (!file.pathname.endsWith('.ts')) return new Worker(file, options);
  const code = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(file.href)}); });`;
  return new Worker(code, { ...options, eval: true });
}

/**
 * Starts a worker thread on one of this package's own entry files, named relative to the calling
 * module (`callerUrl` is its `import.meta.url`): the built `.js` from dist, where every entry is
 * bundled next to index.js, or the `.ts` file when the caller itself runs from source.
 */
export function startEntryWorker(callerUrl: string, entry: string, options: WorkerOptions): Worker {
  return startWorkerFile(new URL(`${entry}${callerUrl.endsWith('.ts') ? '.ts' : '.js'}`, callerUrl), options);
}
