import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createCheckpointStore } from '../src/index.js';
import { fillPage, minimumBudget, type PageKind } from './pages.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function arrayBuffers(): number {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().arrayBuffers;
}

const KINDS: PageKind[] = ['random', 'text', 'zero', 'fill', 'text', 'random', 'zero', 'text'];

function fill(store: ReturnType<typeof createCheckpointStore>, pages: number, epochs: number): void {
  const page = new Uint8Array(4096);
  for (let e = 1; e <= epochs; e++) {
    store.begin(e);
    for (let p = 0; p < pages; p += e) {
      fillPage(page, KINDS[(p * 3 + e) % KINDS.length]!, p + e * 7);
      store.put(p, page);
    }
    store.commit(e);
  }
}

describe('RAM accounting', () => {
  // Warm the codecs (zstd keeps a context per process, the kernels their memory) so that they are
  // part of the baseline.
  const warm = createCheckpointStore({ pageCount: 64, codecPolicy: 'zstd' });
  fill(warm, 64, 1);
  while (warm.maintain(50)) {}
  warm.materialize(new Uint8Array(64 * 4096));
  warm.close();

  for (const budget of ['none', 'tight'] as const) {
    it(`stats().ramBytes matches process.memoryUsage().arrayBuffers, pending and settled (${budget} budget)`, () => {
      const pages = 4096; // 16 MiB image
      const ramBudgetBytes =
        budget === 'tight' ? minimumBudget({ pageCount: pages }) + 2 * 1024 * 1024 : Number.POSITIVE_INFINITY;
      const before = arrayBuffers();
      // In a function of its own, so that nothing references the store once it returns.
      const measure = () => {
        const store = createCheckpointStore({ pageCount: pages, ramBudgetBytes, backgroundCpuShare: 0 });
        try {
          fill(store, pages, 3);
          const pending = { held: arrayBuffers() - before, ...store.stats() };
          while (store.maintain(50)) {}
          return { pending, settled: { held: arrayBuffers() - before, ...store.stats() } };
        } finally {
          store.close();
        }
      };
      const { pending, settled } = measure();
      if (budget === 'none') expect(pending.pendingPages).toBeGreaterThan(pages / 4);
      expect(settled.pendingPages).toBe(0);
      expect(settled.ramBytes).toBeLessThan(settled.logicalBytes);
      for (const { held, ramBytes } of [pending, settled]) {
        if (budget === 'tight') expect(ramBytes).toBeLessThanOrEqual(ramBudgetBytes);
        // Within 3% and 64 KiB: the store counts every buffer it keeps.
        expect(Math.abs(held - ramBytes)).toBeLessThan(ramBytes * 0.03 + 65536);
        if (budget === 'tight') expect(held).toBeLessThan(ramBudgetBytes + 65536);
      }
      expect(arrayBuffers() - before).toBeLessThan(65536);
    });
  }
});
