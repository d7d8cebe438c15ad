import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * Starts one of this package's worker entries. Built, the entry is a JavaScript file next to this
 * module in `dist/`. Run from TypeScript source (the monorepo's tests), the worker must compile
 * TypeScript too: on Node 20 a loader registered with `--import` does not reach worker threads, so
 * the worker registers tsx itself before importing the entry.
 */
export function startWorker(entry: string, workerData: unknown): Worker {
  const here = import.meta.url;
  const extension = here.endsWith('.ts') ? 'ts' : 'js';
  return startModuleWorker(new URL(`./${entry}.${extension}`, here), workerData);
}

/** Starts a worker on a module file; a `.ts` file gets tsx registered in the worker first. */
export function startModuleWorker(url: URL, workerData: unknown): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, { workerData });
  const boot = `import(${JSON.stringify(tsxApiUrl())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

/** The ESM entry of `tsx/esm/api`, found through tsx's own export map. */
function tsxApiUrl(): string {
  const require = createRequire(import.meta.url);
  const manifestPath = require.resolve('tsx/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    exports: Record<string, { import?: { default?: string } } | string>;
  };
  const target = manifest.exports['./esm/api'];
  const relative = typeof target === 'object' ? target.import?.default : undefined;
  if (!relative) throw new Error('tsx does not export ./esm/api for import');
  return new URL(relative, pathToFileURL(manifestPath)).href;
}

/**
 * The module a NIC thread imports `@microcheckpoint/transport-tcp` from. From source, the sibling
 * package's source (the monorepo aliases packages to their source in tests, and a worker thread does
 * not see that alias); built, the package itself.
 */
export function transportTcpModule(): string {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const source = new URL('../../transport-tcp/src/index.ts', here);
    if (existsSync(fileURLToPath(source))) return source.href;
  }
  return '@microcheckpoint/transport-tcp';
}
