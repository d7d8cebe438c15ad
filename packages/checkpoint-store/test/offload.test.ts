import { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { OffloadCorruptError, OffloadIoError } from '../src/index.js';
import { createCheckpointStoreWithHooks } from '../src/store.js';
import { expectBytes } from './helpers.js';
import { fillPage, minimumBudget, type PageKind } from './pages.js';

const P = 4096;
const root = mkdtempSync(join(tmpdir(), 'mc-offload-'));
const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function freshDir(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function store(options: Parameters<typeof createCheckpointStoreWithHooks>[0], hooks = {}) {
  const s = createCheckpointStoreWithHooks(options, hooks);
  open.push(s);
  return s;
}

const KINDS: PageKind[] = ['random', 'text', 'random', 'zero', 'random', 'fill', 'text', 'random'];

/** Writes epochs of mixed pages into the store and a model image; checks the budget after every call. */
function writeEpochs(
  s: ReturnType<typeof store>,
  model: Uint8Array,
  pages: number,
  epochs: number,
  firstEpoch = 1,
): number {
  let peak = 0;
  const page = new Uint8Array(P);
  for (let e = firstEpoch; e < firstEpoch + epochs; e++) {
    s.begin(e);
    for (let p = e % 3; p < pages; p += e === firstEpoch ? 1 : 3) {
      fillPage(page, KINDS[(p + e) % KINDS.length]!, p * 31 + e);
      s.put(p, page);
      model.set(page, p * P);
      const stats = s.stats();
      peak = Math.max(peak, stats.ramBytes);
      expect(stats.ramBytes).toBeLessThanOrEqual(stats.ramBudgetBytes);
    }
    s.commit(e);
  }
  return peak;
}

describe('flash offload under a RAM budget', () => {
  it('keeps RAM within a budget far below the image, and reads back every committed byte', () => {
    const pages = 2048; // 8 MiB
    const dir = freshDir('round-trip');
    const budget = minimumBudget({ pageCount: pages }) + 384 * 1024;
    const s = store({ pageCount: pages, ramBudgetBytes: budget, offloadDirectory: dir });
    const model = new Uint8Array(P * pages);
    const peak = writeEpochs(s, model, pages, 4);
    const stats = s.stats();
    expect(peak).toBeLessThanOrEqual(budget);
    expect(budget).toBeLessThan((P * pages) / 6);
    expect(stats.offloadedPages).toBeGreaterThan(pages / 4);
    expect(stats.diskBytes).toBeGreaterThan(0);
    expect(stats.recompressedRecords).toBeGreaterThan(0);
    const img = new Uint8Array(P * pages);
    s.materialize(img);
    expect(Buffer.compare(img, model)).toBe(0);
    for (let p = 0; p < pages; p += 7)
      expectBytes(s.readPage(p), model.subarray(p * P, p * P + P), `page ${p}`);
    expect(s.stats().ramBytes).toBeLessThanOrEqual(budget);
    s.verifyIntegrity();
  });

  it('compaction reclaims dead records and the files are removed on close', () => {
    const pages = 1024;
    const dir = freshDir('compaction');
    const budget = minimumBudget({ pageCount: pages }) + 256 * 1024;
    const s = store({ pageCount: pages, ramBudgetBytes: budget, offloadDirectory: dir });
    const model = new Uint8Array(P * pages);
    writeEpochs(s, model, pages, 8);
    const before = s.stats();
    expect(readdirSync(dir)).toHaveLength(1);
    const folder = join(dir, readdirSync(dir)[0]!);
    expect(readdirSync(folder).length).toBeGreaterThan(0);
    expect(before.diskBytes).toBeGreaterThan(before.diskLiveBytes);
    s.compact();
    const after = s.stats();
    expect(after.diskBytes).toBe(after.diskLiveBytes);
    expect(after.diskBytes).toBeLessThan(before.diskBytes);
    expect(after.segmentCompactions).toBeGreaterThan(0);
    const img = new Uint8Array(P * pages);
    s.materialize(img);
    expect(Buffer.compare(img, model)).toBe(0);
    s.verifyIntegrity();
    s.close();
    expect(readdirSync(dir)).toHaveLength(0);
  });

  it('moves an offloaded page back to RAM on read when there is room', () => {
    const pages = 512;
    const dir = freshDir('promote');
    const s = store({
      pageCount: pages,
      ramBudgetBytes: minimumBudget({ pageCount: pages }) + 4096,
      offloadDirectory: dir,
    });
    const model = new Uint8Array(P * pages);
    writeEpochs(s, model, pages, 1);
    expect(s.stats().offloadedPages).toBeGreaterThan(0);
    // Free RAM by zeroing most pages, then read everything back.
    s.begin(10);
    for (let p = 0; p < pages; p += 2) {
      s.put(p, new Uint8Array(0), 'zero');
      model.fill(0, p * P, p * P + P);
    }
    s.commit(10);
    for (let p = 0; p < pages; p++) expectBytes(s.readPage(p), model.subarray(p * P, p * P + P), `page ${p}`);
    expect(s.stats().promotedRecords).toBeGreaterThan(0);
    s.verifyIntegrity();
  });
});

describe('offload I/O errors are typed and never corrupt the committed image', () => {
  it('an unwritable offload directory fails at creation with OffloadIoError', () => {
    const file = join(freshDir('not-a-dir'), 'file');
    writeFileSync(file, 'x');
    let caught: unknown;
    try {
      store({ pageCount: 64, ramBudgetBytes: 4 * 1024 * 1024, offloadDirectory: join(file, 'sub') });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(OffloadIoError);
    expect((caught as OffloadIoError).code).toBe('MC_ERR_OFFLOAD_IO');
    expect(['ENOTDIR', 'ENOENT']).toContain((caught as OffloadIoError).ioCode);
  });

  it('a failing write (injected EIO) fails the put, keeps staging and the image', () => {
    const pages = 512;
    const dir = freshDir('eio');
    let failWrites = false;
    const s = store(
      { pageCount: pages, ramBudgetBytes: minimumBudget({ pageCount: pages }) + 4096, offloadDirectory: dir },
      {
        fault: (point: string) => {
          if (failWrites && point === 'offload:write')
            throw Object.assign(new Error('injected'), { code: 'EIO' });
        },
      },
    );
    const model = new Uint8Array(P * pages);
    writeEpochs(s, model, pages, 1);
    failWrites = true;
    s.begin(2);
    let caught: unknown;
    const page = new Uint8Array(P);
    let staged = 0;
    for (let p = 0; p < pages && caught === undefined; p++) {
      fillPage(page, 'random', p);
      try {
        s.put(p, page);
        staged++;
      } catch (err) {
        caught = err;
      }
    }
    expect(caught).toBeInstanceOf(OffloadIoError);
    expect((caught as OffloadIoError).ioCode).toBe('EIO');
    expect(s.stats().stagedPages).toBe(staged);
    s.verifyIntegrity();
    s.abort();
    const img = new Uint8Array(P * pages);
    s.materialize(img);
    expect(Buffer.compare(img, model)).toBe(0);
    failWrites = false;
    writeEpochs(s, model, pages, 1, 3);
    s.materialize(img);
    expect(Buffer.compare(img, model)).toBe(0);
  });

  it('a corrupted segment file is detected on read with OffloadCorruptError', () => {
    const pages = 512;
    const dir = freshDir('corrupt');
    const s = store({
      pageCount: pages,
      ramBudgetBytes: minimumBudget({ pageCount: pages }) + 4096,
      offloadDirectory: dir,
    });
    const model = new Uint8Array(P * pages);
    writeEpochs(s, model, pages, 1);
    const folder = join(dir, readdirSync(dir)[0]!);
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      const bytes = readFileSync(path);
      for (let i = 20; i < bytes.length; i += 97) bytes[i] = (bytes[i]! ^ 0x5a) & 0xff;
      writeFileSync(path, bytes);
    }
    let corrupt = 0;
    for (let p = 0; p < pages; p++) {
      try {
        expectBytes(s.readPage(p), model.subarray(p * P, p * P + P), `page ${p}`);
      } catch (err) {
        expect(err).toBeInstanceOf(OffloadCorruptError);
        corrupt++;
      }
    }
    expect(corrupt).toBeGreaterThan(0);
    expect(() => s.materialize(new Uint8Array(P * pages))).toThrow(OffloadCorruptError);
  });

  const isRoot = process.getuid?.() === 0;
  const mustRun = process.env.CI === 'true';
  it.skipIf(!isRoot && !mustRun)(
    'a full disk (a 1 MiB tmpfs, needs root) is ENOSPC, not a corrupt image',
    () => {
      if (!isRoot) throw new Error('CI=true but not root: this test needs root to mount a tmpfs');
      const mount = freshDir('tmpfs');
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount]);
      try {
        const pages = 1024;
        const s = store({
          pageCount: pages,
          ramBudgetBytes: minimumBudget({ pageCount: pages }) + 4096,
          offloadDirectory: mount,
        });
        const model = new Uint8Array(P * pages);
        const page = new Uint8Array(P);
        let caught: unknown;
        let epoch = 0;
        let committedModel = model.slice();
        for (let round = 0; round < 8 && caught === undefined; round++) {
          s.begin(++epoch);
          try {
            for (let p = 0; p < pages; p++) {
              fillPage(page, 'random', p + round);
              s.put(p, page);
              model.set(page, p * P);
            }
            s.commit(epoch);
            committedModel = model.slice();
          } catch (err) {
            caught = err;
            s.abort();
          }
        }
        expect(caught).toBeInstanceOf(OffloadIoError);
        expect((caught as OffloadIoError).ioCode).toBe('ENOSPC');
        s.verifyIntegrity();
        const img = new Uint8Array(P * pages);
        s.materialize(img);
        expect(Buffer.compare(img, committedModel)).toBe(0);
        s.close();
      } finally {
        execFileSync('umount', [mount]);
      }
    },
  );
});
