import { Buffer } from 'node:buffer';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type CheckpointStore,
  type CheckpointStoreOptions,
  createCheckpointStore,
  InvalidArgumentError,
  StoreClosedError,
} from '../src/index.js';
import { createCheckpointStoreWithHooks, type StoreHooks } from '../src/store.js';
import { expectBytes, settle } from './helpers.js';
import { fillPage, makePage, minimumBudget, type PageKind } from './pages.js';

const P = 4096;
const root = mkdtempSync(join(tmpdir(), 'mc-deferred-'));
const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function store(options: CheckpointStoreOptions, hooks: StoreHooks = {}) {
  const s = createCheckpointStoreWithHooks({ backgroundCpuShare: 0, ...options }, hooks);
  open.push(s);
  return s;
}

const KINDS: PageKind[] = ['text', 'random', 'fill', 'zero', 'text', 'fill', 'random', 'text'];

/** Stages and commits `pages` pages of mixed kinds as epoch `epoch`, mirroring them into `model`. */
function commitEpoch(s: CheckpointStore, model: Uint8Array, pages: number, epoch: number, step = 1): void {
  const page = new Uint8Array(P);
  s.begin(epoch);
  for (let p = epoch % step; p < pages; p += step) {
    fillPage(page, KINDS[(p + epoch) % KINDS.length]!, p * 13 + epoch);
    s.put(p, page);
    model.set(page, p * P);
  }
  s.commit(epoch);
}

function expectImage(s: CheckpointStore, model: Uint8Array, label: string): void {
  const img = new Uint8Array(model.length);
  s.materialize(img);
  expect(Buffer.compare(img, model), label).toBe(0);
}

describe('deferred compression', () => {
  it('commits pages raw, then maintain() compresses them without changing a byte', () => {
    const pages = 256;
    const s = store({ pageCount: pages });
    const model = new Uint8Array(P * pages);
    commitEpoch(s, model, pages, 1);
    const pending = s.stats();
    expect(pending.deferCompression).toBe(true);
    expect(pending.pendingPages).toBe(pages - pending.zeroPages);
    expect(pending.pendingRecords).toBeGreaterThan(0);
    expect(pending.pagesByCodec.lz4 + pending.pagesByCodec.zstd).toBe(0);
    expectImage(s, model, 'pending');
    settle(s);
    const settled = s.stats();
    expect(settled.pendingPages).toBe(0);
    expect(settled.pendingRecords).toBe(0);
    expect(settled.compressedInBackground).toBeGreaterThanOrEqual(pending.pendingRecords);
    expect(settled.compressedUnderPressure).toBe(0);
    expect(settled.pagesByCodec.lz4 + settled.pagesByCodec.zstd).toBeGreaterThan(pages / 2);
    expect(settled.ramBytes).toBeLessThan(pending.ramBytes * 0.75);
    expect(settled.backgroundMs).toBeGreaterThan(0);
    expectImage(s, model, 'settled');
    for (let p = 0; p < pages; p += 5)
      expectBytes(s.readPage(p), model.subarray(p * P, p * P + P), `page ${p}`);
    s.verifyIntegrity();
    expect(s.maintain()).toBe(false);
  });

  it('maintain(budgetMs) makes progress in bounded steps and reads stay exact halfway', () => {
    const pages = 512;
    const s = store({ pageCount: pages });
    const model = new Uint8Array(P * pages);
    commitEpoch(s, model, pages, 1);
    let previous = s.stats().pendingRecords;
    let calls = 0;
    // A zero budget still compresses at least one page per call.
    while (s.maintain(0)) {
      const now = s.stats().pendingRecords;
      if (now > 0) expect(now).toBeLessThan(previous);
      previous = now;
      if (++calls % 50 === 0) {
        expectImage(s, model, `after ${calls} calls`);
        s.verifyIntegrity();
      }
      expect(calls).toBeLessThan(2 * pages);
    }
    expect(s.stats().pendingPages).toBe(0);
    expectImage(s, model, 'settled');
    expect(() => s.maintain(-1)).toThrow(InvalidArgumentError);
    expect(() => s.maintain(Number.NaN)).toThrow(InvalidArgumentError);
  });

  it('commit and abort with pending pages: aborts release staged pending records, commits replace them', () => {
    const pages = 128;
    const s = store({ pageCount: pages });
    const model = new Uint8Array(P * pages);
    commitEpoch(s, model, pages, 1);
    const pendingOne = s.stats().pendingRecords;
    // Stage new content over pending pages, then abort: epoch 1's pending records are untouched.
    s.begin(2);
    for (let p = 0; p < pages; p += 2) s.put(p, makePage('text', p + 500));
    expect(s.stats().pendingRecords).toBeGreaterThan(pendingOne);
    s.abort();
    expect(s.stats().pendingRecords).toBe(pendingOne);
    s.verifyIntegrity();
    expectImage(s, model, 'after abort');
    // Half the pending pages compressed, then an epoch replaces some compressed and some pending ones.
    s.maintain(0);
    s.maintain(0);
    commitEpoch(s, model, pages, 3, 3);
    s.verifyIntegrity();
    expectImage(s, model, 'after commit over pending pages');
    // Staged pages are compressed too when background work runs mid-epoch; abort still drops them.
    s.begin(4);
    for (let p = 1; p < pages; p += 4) s.put(p, makePage('fill', p));
    settle(s);
    expect(s.stats().pendingRecords).toBe(0);
    s.abort();
    s.verifyIntegrity();
    expectImage(s, model, 'after abort of a compressed staging');
    settle(s);
    expectImage(s, model, 'settled');
    s.verifyIntegrity();
  });

  it('the RAM budget holds at every call while compression is pending: puts compress under pressure', () => {
    const pages = 2048; // 8 MiB, mostly compressible
    const dir = join(root, 'pressure');
    mkdirSync(dir, { recursive: true });
    const budget = minimumBudget({ pageCount: pages }) + 1024 * 1024;
    const s = store({ pageCount: pages, ramBudgetBytes: budget, offloadDirectory: dir });
    const model = new Uint8Array(P * pages);
    const page = new Uint8Array(P);
    let peak = 0;
    for (let e = 1; e <= 3; e++) {
      s.begin(e);
      for (let p = e - 1; p < pages; p += e) {
        fillPage(page, (['text', 'fill', 'text', 'zero'] as PageKind[])[(p + e) % 4]!, p + e);
        s.put(p, page);
        model.set(page, p * P);
        const { ramBytes } = s.stats();
        peak = Math.max(peak, ramBytes);
        expect(ramBytes).toBeLessThanOrEqual(budget);
      }
      s.commit(e);
      expect(s.stats().ramBytes).toBeLessThanOrEqual(budget);
    }
    const stats = s.stats();
    expect(stats.compressedUnderPressure).toBeGreaterThan(pages / 4);
    expect(stats.compressedInBackground).toBe(0);
    expect(peak).toBeGreaterThan(budget * 0.9);
    expectImage(s, model, 'under pressure');
    // Background work never allocates: the budget holds through it as well.
    while (s.maintain(1)) expect(s.stats().ramBytes).toBeLessThanOrEqual(budget);
    expectImage(s, model, 'settled');
    s.verifyIntegrity();
  });

  it('deferCompression false compresses at put: nothing is ever pending', () => {
    const pages = 64;
    const s = store({ pageCount: pages, deferCompression: false });
    const model = new Uint8Array(P * pages);
    commitEpoch(s, model, pages, 1);
    const stats = s.stats();
    expect(stats.deferCompression).toBe(false);
    expect(stats.pendingRecords).toBe(0);
    expect(stats.pagesByCodec.lz4 + stats.pagesByCodec.zstd).toBeGreaterThan(0);
    expect(s.maintain()).toBe(false);
    expectImage(s, model, 'inline');
  });
});

describe('automatic background slices', () => {
  it('drain pending pages on the event loop after a commit, within the configured CPU share', async () => {
    const pages = 1024;
    const s = createCheckpointStore({ pageCount: pages, backgroundCpuShare: 0.5 });
    open.push(s);
    const model = new Uint8Array(P * pages);
    const started = performance.now();
    commitEpoch(s, model, pages, 1);
    expect(s.stats().pendingPages).toBeGreaterThan(0);
    for (let i = 0; i < 1000 && s.stats().pendingRecords > 0; i++) await sleep(10);
    const elapsed = performance.now() - started;
    const stats = s.stats();
    expect(stats.pendingPages).toBe(0);
    expect(stats.compressedInBackground).toBeGreaterThan(0);
    expect(stats.backgroundErrors).toBe(0);
    // Slices are spaced so that they take at most half of the wall-clock time (plus half the last one).
    expect(stats.backgroundMs).toBeLessThanOrEqual(0.5 * elapsed + 50);
    expectImage(s, model, 'after automatic compression');
  });

  it('a share of 0 leaves everything to maintain()', async () => {
    const s = createCheckpointStore({ pageCount: 64, backgroundCpuShare: 0 });
    open.push(s);
    const model = new Uint8Array(P * 64);
    commitEpoch(s, model, 64, 1);
    const pending = s.stats().pendingRecords;
    await sleep(30);
    expect(s.stats().pendingRecords).toBe(pending);
    expect(s.stats().backgroundCpuShare).toBe(0);
  });

  it('a slice that throws is counted and stops the schedule until the next commit', async () => {
    let failing = true;
    const s = createCheckpointStoreWithHooks(
      { pageCount: 64, backgroundCpuShare: 1 },
      {
        fault: (point) => {
          if (failing && point === 'compress:encode') throw new Error('injected background fault');
        },
      },
    );
    open.push(s);
    const model = new Uint8Array(P * 64);
    commitEpoch(s, model, 64, 1);
    await sleep(30);
    const stats = s.stats();
    expect(stats.backgroundErrors).toBe(1);
    expect((stats.lastBackgroundError as Error).message).toBe('injected background fault');
    expect(stats.pendingPages).toBeGreaterThan(0);
    s.verifyIntegrity();
    expectImage(s, model, 'after a failed slice');
    failing = false;
    commitEpoch(s, model, 64, 2, 8);
    for (let i = 0; i < 500 && s.stats().pendingRecords > 0; i++) await sleep(10);
    expect(s.stats().pendingRecords).toBe(0);
    expectImage(s, model, 'after the schedule resumed');
  });

  it('close while pages are pending: no slice runs afterwards and the offload files are removed', async () => {
    const pages = 512;
    const dir = join(root, 'close-pending');
    mkdirSync(dir, { recursive: true });
    let compressions = 0;
    let closed = false;
    let afterClose = 0;
    const s = createCheckpointStoreWithHooks(
      {
        pageCount: pages,
        ramBudgetBytes: minimumBudget({ pageCount: pages }) + 256 * 1024,
        offloadDirectory: dir,
        backgroundCpuShare: 1,
      },
      {
        fault: (point) => {
          if (point !== 'compress:encode') return;
          compressions++;
          if (closed) afterClose++;
        },
      },
    );
    const model = new Uint8Array(P * pages);
    commitEpoch(s, model, pages, 1);
    commitEpoch(s, model, pages, 2, 2);
    expect(s.stats().pendingRecords).toBeGreaterThan(0);
    expect(readdirSync(dir)).toHaveLength(1);
    // Let a slice or two run, then close with work left.
    await new Promise((resolve) => setImmediate(resolve));
    s.close();
    closed = true;
    await sleep(30);
    expect(afterClose).toBe(0);
    expect(compressions).toBeGreaterThan(0);
    expect(readdirSync(dir)).toHaveLength(0);
    expect(() => s.stats()).toThrow(StoreClosedError);
    expect(() => s.maintain()).toThrow(StoreClosedError);
    s.close();
  });
});
