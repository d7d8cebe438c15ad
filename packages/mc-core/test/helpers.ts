import type { Worker } from 'node:worker_threads';
import type { Capture } from '../src/capture.js';
import { startWorkerFile } from '../src/entry-worker.js';
import type { GuestMemory } from '../src/guest-memory.js';

/** The runs a capture must produce for a set of dirty pages, computed the obvious way. */
export function expectedRuns(
  pages: Iterable<number>,
  pageCount: number,
  slabPages = Number.POSITIVE_INFINITY,
) {
  const sorted = [...new Set(pages)].filter((p) => p >= 0 && p < pageCount).sort((a, b) => a - b);
  const runs: Array<{ pageIndex: number; pageCount: number; slabOffset: number }> = [];
  let used = 0;
  for (const page of sorted) {
    if (used === slabPages) break;
    const last = runs[runs.length - 1];
    if (last && last.pageIndex + last.pageCount === page) last.pageCount++;
    else runs.push({ pageIndex: page, pageCount: 1, slabOffset: used });
    used++;
  }
  return runs;
}

/** Applies a capture to a replica memory, the way a secondary would, and releases it. */
export function applyAndRelease(capture: Capture, replica: GuestMemory): void {
  replica.restorePages(capture.runs, capture.data);
  capture.release();
}

/** Index of the first page where two memories differ, or -1. */
export function firstDifferentPage(a: GuestMemory, b: GuestMemory): number {
  const size = a.pageSizeBytes;
  const left = Buffer.from(a.bytes.buffer, a.bytes.byteOffset, a.bytes.byteLength);
  const right = Buffer.from(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength);
  if (left.equals(right)) return -1;
  for (let p = 0; p < a.pageCount; p++) {
    if (left.compare(right, p * size, (p + 1) * size, p * size, (p + 1) * size) !== 0) return p;
  }
  return -1;
}

/** A worker running a TypeScript file from the tests. */
export function startTsWorker(file: URL, workerData: unknown): Worker {
  return startWorkerFile(file, { workerData });
}

/** Deterministic pseudo-random numbers (xorshift32), for workloads that must be reproducible. */
export function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/**
 * The writer that never stops (fixtures/restless-writer.ts) on a worker thread: `flags[0]` stops it,
 * `flags[1]` counts its writes; `next()` resolves with its next message ('started', then its totals).
 */
export function startRestlessWriter(workerData: {
  handle: unknown;
  mode: string;
  seed: number;
  spinMicros: number;
}) {
  const control = new SharedArrayBuffer(8);
  const flags = new Int32Array(control);
  const worker = startTsWorker(new URL('./fixtures/restless-writer.ts', import.meta.url), {
    ...workerData,
    control,
  });
  const messages: unknown[] = [];
  let notify: (() => void) | undefined;
  worker.on('message', (m) => {
    messages.push(m);
    notify?.();
  });
  const next = async (): Promise<unknown> => {
    while (messages.length === 0) await new Promise<void>((r) => (notify = r));
    return messages.shift();
  };
  return { worker, flags, next };
}
