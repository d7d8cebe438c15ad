import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type CheckpointStore, createCheckpointStore, InvalidArgumentError } from '../src/index.js';
import { fillPage, minimumBudget, type PageKind } from './pages.js';

const dir = mkdtempSync(join(tmpdir(), 'mc-materialize-'));
const open: CheckpointStore[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const P = 4096;
const KINDS: PageKind[] = ['zero', 'zero', 'text', 'random', 'fill', 'zero', 'text', 'fill'];

function build(options: Parameters<typeof createCheckpointStore>[0], pages: number) {
  const store = createCheckpointStore({ pageCount: pages, offloadDirectory: dir, ...options });
  open.push(store);
  const model = new Uint8Array(P * pages);
  const page = new Uint8Array(P);
  store.begin(1);
  for (let p = 0; p < pages; p++) {
    fillPage(page, KINDS[(p * 5) % KINDS.length]!, p % 11);
    store.put(p, page);
    model.set(page, p * P);
  }
  store.commit(1);
  return { store, model };
}

describe('materialize', () => {
  for (const codecPolicy of ['tiered', 'raw', 'zstd'] as const) {
    it(`writes the whole committed image into a Uint8Array and a SharedArrayBuffer (${codecPolicy})`, () => {
      const { store, model } = build({ codecPolicy }, 512);
      const target = new Uint8Array(P * 512).fill(0xcc); // stale bytes must be overwritten, zero runs too
      expect(store.materialize(target)).toBe(1);
      expect(Buffer.compare(target, model)).toBe(0);
      const shared = new SharedArrayBuffer(P * 512 + 100);
      store.materialize(shared);
      expect(Buffer.compare(new Uint8Array(shared, 0, P * 512), model)).toBe(0);
      expect(store.stats().sharedPages).toBeGreaterThan(0);
    });
  }

  it('reads offloaded pages back in segment order', () => {
    const pages = 1024;
    const { store, model } = build({ ramBudgetBytes: minimumBudget({ pageCount: pages }) + 4096 }, pages);
    expect(store.stats().offloadedPages).toBeGreaterThan(0);
    const target = new Uint8Array(P * pages);
    store.materialize(target);
    expect(Buffer.compare(target, model)).toBe(0);
  });

  it('shows the committed image while an epoch is staging', () => {
    const { store, model } = build({}, 64);
    store.begin(2);
    store.put(3, new Uint8Array(P).fill(1));
    const target = new Uint8Array(P * 64);
    expect(store.materialize(target)).toBe(1);
    expect(Buffer.compare(target, model)).toBe(0);
  });

  it('rejects a target that is too small', () => {
    const { store } = build({}, 8);
    expect(() => store.materialize(new Uint8Array(P * 8 - 1))).toThrow(InvalidArgumentError);
    expect(() => store.materialize({} as Uint8Array)).toThrow(InvalidArgumentError);
  });
});
