import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createCheckpointStoreWithHooks } from '../src/store.js';
import { expectBytes, settle } from './helpers.js';
import { makePage, minimumBudget } from './pages.js';

const dir = mkdtempSync(join(tmpdir(), 'mc-dedup-'));
const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function store(options: Parameters<typeof createCheckpointStoreWithHooks>[0], hooks = {}) {
  const s = createCheckpointStoreWithHooks({ offloadDirectory: dir, ...options }, hooks);
  open.push(s);
  return s;
}

describe('content-hash deduplication', () => {
  it('stores identical pages once, refcounted, and frees the record when no page points at it', () => {
    const s = store({ pageCount: 128 });
    const page = makePage('text', 9);
    s.begin(1);
    for (let p = 0; p < 100; p++) s.put(p, page);
    s.commit(1);
    settle(s);
    let stats = s.stats();
    expect(stats.storedRecords).toBe(1);
    expect(stats.sharedPages).toBe(100);
    expect(stats.dedupHits).toBe(99);
    expect(stats.ramRecordBytes).toBeLessThan(4096);
    s.verifyIntegrity();
    s.begin(2);
    for (let p = 0; p < 99; p++) s.put(p, makePage('zero', 0));
    s.commit(2);
    stats = s.stats();
    expect(stats.storedRecords).toBe(1);
    expect(stats.sharedPages).toBe(0);
    expectBytes(s.readPage(99), page);
    s.begin(3);
    s.put(99, new Uint8Array(0), 'zero');
    s.commit(3);
    expect(s.stats().storedRecords).toBe(0);
    expect(s.stats().ramRecordBytes).toBe(0);
    s.verifyIntegrity();
  });

  it('dedups staged pages against committed ones and against each other; abort releases them', () => {
    const s = store({ pageCount: 8 });
    const a = makePage('random', 0);
    s.begin(1);
    s.put(0, a);
    s.commit(1);
    s.begin(2);
    s.put(1, a);
    s.put(2, a);
    expect(s.stats().storedRecords).toBe(1);
    s.abort();
    s.verifyIntegrity();
    s.begin(3);
    s.put(0, makePage('random', 1));
    s.put(3, a); // the old content of page 0 moves to page 3 in the same epoch
    s.commit(3);
    expectBytes(s.readPage(3), a);
    expect(s.stats().storedRecords).toBe(2);
    s.verifyIntegrity();
  });

  for (const budget of ['none', 'tight'] as const) {
    it(`confirms every hash hit byte for byte: colliding hashes forced through the hook (${budget} budget)`, () => {
      const options = { pageCount: 256 };
      const s = store(
        {
          ...options,
          ramBudgetBytes: budget === 'tight' ? minimumBudget(options) + 8192 : Number.POSITIVE_INFINITY,
        },
        { hashPage: () => 0x1234_5678_9abc_def0n },
      );
      const expected: Uint8Array[] = [];
      s.begin(1);
      for (let p = 0; p < 256; p++) {
        // 128 distinct contents, each on 2 pages: every put probes the one bucket.
        const page = makePage(p % 2 === 0 ? 'random' : 'text', p % 128);
        if (p % 2 === 0 && p >= 128) page.set(expected[p % 128]!);
        expected.push(page);
        s.put(p, page);
      }
      s.commit(1);
      const stats = s.stats();
      expect(stats.hashCollisions).toBeGreaterThan(0);
      expect(stats.storedRecords).toBe(128);
      expect(stats.dedupHits).toBe(128);
      if (budget === 'tight') expect(stats.offloadedPages).toBeGreaterThan(0);
      for (let p = 0; p < 256; p++) expectBytes(s.readPage(p), expected[p]!, `page ${p}`);
      const img = new Uint8Array(4096 * 256);
      s.materialize(img);
      for (let p = 0; p < 256; p++)
        expectBytes(img.subarray(p * 4096, (p + 1) * 4096), expected[p]!, `page ${p}`);
      s.verifyIntegrity();
    });
  }
});
