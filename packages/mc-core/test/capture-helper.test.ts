import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type CopyRunsFn, copyChunk, planChunks, type RunCopier } from '../src/capture-chunks.js';
import { InvalidOptionError } from '../src/errors.js';
import { createGuestMemory, type GuestMemory } from '../src/guest-memory.js';
import { instantiateKernel } from '../src/kernel-wasm.js';
import { applyAndRelease, firstDifferentPage, startRestlessWriter, xorshift } from './helpers.js';

const PAGE = 4096;
const MiB = 1024 * 1024;

const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

function fillPattern(memory: GuestMemory, seed: number): void {
  const words = new Uint32Array(memory.bytes.buffer, 0, memory.sizeBytes / 4);
  for (let i = 0; i < words.length; i++) words[i] = Math.imul(i + 1, 2654435761) ^ seed;
}

function setBits(memory: GuestMemory, pages: Iterable<number>): void {
  for (const p of pages) Atomics.or(memory.dirtyBitmap, p >>> 5, 1 << (p & 31));
}

/** Dirty pages: scattered singles, runs of every length (some far past 64 KiB), or everything. */
function dirtyPages(pageCount: number) {
  return fc.oneof(
    fc.uniqueArray(fc.integer({ min: 0, max: pageCount - 1 }), { maxLength: pageCount }),
    fc
      .array(
        fc.record({
          start: fc.integer({ min: 0, max: pageCount - 1 }),
          length: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 16, max: pageCount })),
        }),
        { maxLength: 12 },
      )
      .map((runs) =>
        runs
          .flatMap(({ start, length }) => Array.from({ length }, (_, i) => start + i))
          .filter((p) => p < pageCount),
      ),
    fc.constant(Array.from({ length: pageCount }, (_, i) => i)),
  );
}

describe('cutting a capture into chunks', () => {
  for (const pageSizeBytes of [PAGE, 64 * 1024]) {
    it(`copies exactly the capture, in chunks of at least the chunk size, in any order (${pageSizeBytes} B pages)`, () => {
      const memory = createGuestMemory({
        sizeBytes: 4 * MiB,
        pageSizeBytes,
        kernel: 'wasm',
        captureThreads: 1,
      });
      const { layout } = memory.handle();
      const buffer = memory.memory.buffer as SharedArrayBuffer;
      const copier: RunCopier = {
        copyRuns: instantiateKernel(memory.memory).copyRuns as CopyRunsFn,
        words: new Uint32Array(buffer),
        bytes: new Uint8Array(buffer),
        pageShift: Math.log2(pageSizeBytes),
        // As in the kernel: runs of 64 KiB and more are long (with 64 KiB pages, every run).
        longRunPages: Math.max(1, (64 * 1024) / pageSizeBytes),
      };
      fc.assert(
        fc.property(
          dirtyPages(memory.pageCount),
          fc.integer({ min: 1, max: 80 }).map((pages) => pages * pageSizeBytes),
          fc.integer(),
          fc.integer(),
          (pages, chunkBytes, fill, order) => {
            fillPattern(memory, fill);
            setBits(memory, pages);
            // The capture's own copy gives the reference bytes; then the slab is wiped and the same
            // runs are copied again, chunk by chunk, in a shuffled order.
            const capture = memory.capture();
            const reference = Buffer.from(capture.data);
            capture.data.fill(0);
            const target = {
              slabOffset: layout.slabOffsets[capture.slab]!,
              runTable: layout.runTableOffsets[capture.slab]!,
              runs: capture.runCount,
            };
            const most = Math.floor(capture.byteLength / chunkBytes) + 1;
            const starts = new Int32Array(2 * most);
            const chunks = planChunks(copier, target, chunkBytes, starts);
            expect(chunks).toBeLessThanOrEqual(most);
            const sequence = Array.from({ length: chunks }, (_, i) => i);
            const random = xorshift(order);
            for (let i = sequence.length - 1; i > 0; i--) {
              const j = random() % (i + 1);
              [sequence[i], sequence[j]] = [sequence[j]!, sequence[i]!];
            }
            const sizes = new Array<number>(chunks);
            for (const chunk of sequence) sizes[chunk] = copyChunk(copier, target, starts, chunks, chunk);
            expect(sizes.reduce((a, b) => a + b, 0)).toBe(capture.pageCount);
            // Every chunk but the last reaches the chunk size.
            for (const size of sizes.slice(0, -1))
              expect(size * pageSizeBytes).toBeGreaterThanOrEqual(chunkBytes);
            expect(Buffer.from(capture.data).equals(reference)).toBe(true);
            capture.release();
          },
        ),
        { numRuns: 120 },
      );
    });
  }
});

describe('two threads copying a large capture', () => {
  it('produce the capture one thread produces, and the helper copies part of it', async () => {
    const size = 48 * MiB;
    const pageCount = size / PAGE;
    const pair = ([2, 1] as const).map((captureThreads) =>
      createGuestMemory({ sizeBytes: size, kernel: 'wasm', captureThreads }),
    );
    let helped = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          // Scattered single pages (copied four at a time), a fifth to a half of memory.
          fc.record({ kind: fc.constant('scattered' as const), every: fc.integer({ min: 2, max: 5 }) }),
          // Runs of 1 to 100 pages, short and long mixed.
          fc.record({ kind: fc.constant('runs' as const), seed: fc.integer({ min: 1, max: 1 << 30 }) }),
          fc.record({ kind: fc.constant('all' as const) }),
        ),
        fc.integer(),
        async (shape, fill) => {
          const pages: number[] = [];
          if (shape.kind === 'scattered') {
            for (let p = 0; p < pageCount; p += shape.every) pages.push(p);
          } else if (shape.kind === 'runs') {
            const random = xorshift(shape.seed);
            for (let p = 0; p < pageCount; p += 1 + (random() % 100)) {
              const length = 1 + (random() % 100);
              for (let i = 0; i < length && p < pageCount; i++, p++) pages.push(p);
            }
          } else {
            for (let p = 0; p < pageCount; p++) pages.push(p);
          }
          const results = pair.map((m) => {
            fillPattern(m, fill);
            setBits(m, pages);
            const capture = m.capture();
            expect(capture.byteLength).toBeGreaterThanOrEqual(8 * MiB);
            const result = {
              runs: createHash('sha256').update(capture.runs).digest('hex'),
              data: createHash('sha256').update(capture.data).digest('hex'),
              pageCount: capture.pageCount,
              leftover: m.dirtyPageCount(),
            };
            if (m === pair[0] && capture.helperPages > 0) helped++;
            expect(capture.helperPages).toBeLessThanOrEqual(capture.pageCount);
            if (m === pair[1]) expect(capture.helperPages).toBe(0);
            capture.release();
            return result;
          });
          expect(results[0]).toEqual(results[1]);
          // The helper starts at the first large capture and is ready a few milliseconds later.
          await sleep(5);
        },
      ),
      { numRuns: 20 },
    );
    expect(helped, 'the helper thread copied part of at least one capture').toBeGreaterThan(0);
  });

  it('never touch a capture still held while the next one is shared, back to back', () => {
    const size = 32 * MiB;
    const pageCount = size / PAGE;
    const memory = createGuestMemory({ sizeBytes: size, kernel: 'wasm', captureThreads: 2 });
    fillPattern(memory, 99);
    const source = Buffer.from(memory.bytes.buffer, 0, size);
    const intact = (capture: ReturnType<GuestMemory['capture']>): boolean => {
      for (const run of capture) {
        const from = run.pageIndex * PAGE;
        const bytes = run.pageCount * PAGE;
        const copied = Buffer.from(capture.data.buffer, capture.data.byteOffset + run.slabOffset, bytes);
        if (!copied.equals(source.subarray(from, from + bytes))) return false;
      }
      return true;
    };
    let helped = 0;
    // No pause between captures: a helper still hunting for work in capture n when n + 1 is
    // published must not claim, copy or count anything of n + 1, nor write into n's slab.
    for (let round = 0; round < 100; round++) {
      memory.markDirty(0, size);
      const first = memory.capture();
      for (let p = round % 3; p < pageCount; p += 3) Atomics.or(memory.dirtyBitmap, p >>> 5, 1 << (p & 31));
      const second = memory.capture();
      helped += Number(first.helperPages > 0) + Number(second.helperPages > 0);
      expect(intact(first), `round ${round}: the held capture`).toBe(true);
      expect(intact(second), `round ${round}: the capture after it`).toBe(true);
      first.release();
      second.release();
    }
    expect(helped, 'captures the helper took part in').toBeGreaterThan(0);
  });

  it('lose no write of a writer that never stops, while the helper copies', async () => {
    const size = 32 * MiB;
    const source = createGuestMemory({ sizeBytes: size, kernel: 'wasm', captureThreads: 2 });
    const replica = createGuestMemory({ sizeBytes: size, kernel: 'js' });
    const { worker, flags, next } = startRestlessWriter({
      handle: source.handle(),
      mode: 'self',
      seed: 4242,
      spinMicros: 1,
    });
    workers.push(worker);
    expect(await next()).toBe('started');
    const pageCount = size / PAGE;
    let helped = 0;
    let captures = 0;
    const started = Date.now();
    // Until 10 captures were shared with the helper (30 s is the hang guard): each capture also takes
    // a large set of pages, the whole memory or every third page, so that it is shared at all.
    while (helped < 10 && Date.now() - started < 30_000) {
      if (captures % 2 === 0) {
        source.markDirty(0, size);
      } else {
        for (let p = captures % 3; p < pageCount; p += 3)
          Atomics.or(source.dirtyBitmap, p >>> 5, 1 << (p & 31));
      }
      const capture = source.capture();
      if (capture.helperPages > 0) helped++;
      applyAndRelease(capture, replica);
      captures++;
      await sleep(1);
    }
    Atomics.store(flags, 0, 1);
    await next();
    applyAndRelease(source.capture(), replica);
    expect(helped, `${helped} of ${captures} captures shared in 30 s`).toBeGreaterThanOrEqual(10);
    expect(firstDifferentPage(source, replica)).toBe(-1);
  });

  it('let the process exit on its own: the helper thread never holds it', () => {
    const script = fileURLToPath(new URL('./fixtures/large-capture-exit.ts', import.meta.url));
    const child = spawnSync(process.execPath, ['--import', 'tsx/esm', script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.stderr).toBe('');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(child.stdout.trim()).toMatch(/^helped [1-9]\d* pages$/);
  });

  it('refuses a thread count other than 1 or 2', () => {
    for (const captureThreads of [0, 3, 1.5, '2']) {
      expect(() =>
        createGuestMemory({ sizeBytes: MiB, captureThreads: captureThreads as unknown as 1 }),
      ).toThrow(InvalidOptionError);
    }
  });
});
