import { afterEach, describe, expect, it } from 'vitest';
import { lz4Compress } from '../src/codecs/lz4.js';
import { loadZstd } from '../src/codecs/zstd.js';
import {
  type CheckpointStore,
  CorruptPageError,
  createCheckpointStore,
  EpochOrderError,
  InvalidArgumentError,
  StagingFullError,
  StagingStateError,
  StoreClosedError,
  xbzrleEncode,
} from '../src/index.js';
import { expectBytes, settle } from './helpers.js';
import { makePage } from './pages.js';

const open: CheckpointStore[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

function store(options: Parameters<typeof createCheckpointStore>[0] = {}): CheckpointStore {
  const s = createCheckpointStore({ pageCount: 16, ...options });
  open.push(s);
  return s;
}

describe('staging and commit', () => {
  it('reads zeros before the first commit, then the committed bytes', () => {
    const s = store();
    expectBytes(s.readPage(3), new Uint8Array(4096));
    const page = makePage('text', 1);
    s.begin(1);
    s.put(3, page);
    expectBytes(s.readPage(3), new Uint8Array(4096), 'staged pages are invisible');
    s.commit(1);
    expect(s.committedEpoch).toBe(1);
    expectBytes(s.readPage(3), page);
    const target = new Uint8Array(4096);
    expect(s.readPage(3, target)).toBe(target);
  });

  it('copies the page at put: later writes to the caller buffer do not leak in', () => {
    const s = store({ codecPolicy: 'raw' });
    const page = makePage('random', 0);
    const copy = page.slice();
    s.begin(1);
    s.put(0, page);
    page.fill(0xee);
    s.commit(1);
    expectBytes(s.readPage(0), copy);
  });

  it('abort leaves the committed image untouched', () => {
    const s = store();
    const a = makePage('text', 2);
    s.begin(1);
    s.put(1, a);
    s.commit(1);
    s.begin(2);
    s.put(1, makePage('random', 0));
    s.put(2, makePage('fill', 3));
    s.abort();
    expect(s.stagingEpoch).toBeNull();
    expect(s.committedEpoch).toBe(1);
    expectBytes(s.readPage(1), a);
    expectBytes(s.readPage(2), new Uint8Array(4096));
    expect(s.stats().storedRecords).toBe(1);
    // An aborted epoch may be retried.
    s.begin(2);
    s.put(2, makePage('fill', 3));
    s.commit(2);
    expectBytes(s.readPage(2), makePage('fill', 3));
  });

  it('enforces epoch order and staging state with typed errors', () => {
    const s = store();
    expect(() => s.put(0, new Uint8Array(4096))).toThrow(StagingStateError);
    expect(() => s.commit(1)).toThrow(StagingStateError);
    s.begin(5);
    expect(() => s.begin(6)).toThrow(StagingStateError);
    expect(() => s.commit(4)).toThrow(EpochOrderError);
    s.commit(5);
    expect(() => s.begin(5)).toThrow(EpochOrderError);
    expect(() => s.begin(3)).toThrow(EpochOrderError);
    expect(() => s.begin(-1)).toThrow(InvalidArgumentError);
    expect(() => s.begin(1.5)).toThrow(InvalidArgumentError);
    s.begin(9);
    expect(() => s.put(16, new Uint8Array(4096))).toThrow(InvalidArgumentError);
    expect(() => s.put(-1, new Uint8Array(4096))).toThrow(InvalidArgumentError);
    expect(() => s.put(0, new Uint8Array(4096), 'gzip' as never)).toThrow(InvalidArgumentError);
    expect(() => s.readPage(0, new Uint8Array(10))).toThrow(InvalidArgumentError);
  });

  it('refuses to stage past maxCheckpointBytes, keeping what was staged', () => {
    const s = store({ maxCheckpointBytes: 3 * 4096 });
    s.begin(1);
    s.put(0, makePage('fill', 1));
    s.put(1, makePage('zero', 0));
    s.put(2, makePage('text', 1));
    s.put(2, makePage('text', 2)); // restaging a page does not grow the checkpoint
    let caught: unknown;
    try {
      s.put(3, makePage('fill', 2));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StagingFullError);
    expect((caught as StagingFullError).code).toBe('MC_ERR_STAGING_FULL');
    expect((caught as StagingFullError).limitBytes).toBe(3 * 4096);
    expect((caught as StagingFullError).requestedBytes).toBe(4 * 4096);
    expect(s.stats().stagedBytes).toBe(3 * 4096);
    s.commit(1);
    expectBytes(s.readPage(2), makePage('text', 2));
    expectBytes(s.readPage(3), new Uint8Array(4096));
  });

  it('accepts encoded pages: zero, lz4, zstd and XBZRLE against the current value', () => {
    const s = store();
    const zstd = loadZstd()!;
    const base = makePage('text', 5);
    s.begin(1);
    s.put(0, base);
    s.commit(1);
    const changed = base.slice();
    changed.set([1, 2, 3, 4], 100);
    const delta = xbzrleEncode(base, changed)!;
    expect(delta.length).toBeLessThan(20);
    const zOut = new Uint8Array(zstd.bound(4096));
    const zPage = makePage('text', 6);
    const zLen = zstd.compress(zPage, zOut);
    s.begin(2);
    s.put(0, delta, 'xbzrle');
    s.put(1, lz4Compress(makePage('text', 7)), 'lz4');
    s.put(2, zOut.subarray(0, zLen), 'zstd');
    s.put(3, new Uint8Array(0), 'zero');
    // A second delta in the same epoch applies to the page as staged.
    const again = changed.slice();
    again[4000] = 9;
    s.put(0, xbzrleEncode(changed, again)!, 'xbzrle');
    s.commit(2);
    expectBytes(s.readPage(0), again);
    expectBytes(s.readPage(1), makePage('text', 7));
    expectBytes(s.readPage(2), zPage);
    expectBytes(s.readPage(3), new Uint8Array(4096));
    const stats = s.stats();
    expect(stats.putsByCodec).toMatchObject({ raw: 1, xbzrle: 2, lz4: 1, zstd: 1, zero: 1 });
    expect(stats.pagesByCodec.zstd).toBe(1);
  });

  it('rejects bad pages with CorruptPageError and keeps staging and the image intact', () => {
    const s = store();
    const base = makePage('text', 1);
    s.begin(1);
    s.put(0, base);
    s.commit(1);
    s.begin(2);
    const good = makePage('fill', 4);
    s.put(1, good);
    const bad: Array<[Uint8Array, 'raw' | 'zero' | 'xbzrle' | 'lz4' | 'zstd']> = [
      [new Uint8Array(100), 'raw'],
      [new Uint8Array(1), 'zero'],
      [Uint8Array.from([0x05]), 'xbzrle'],
      [Uint8Array.from([0xff, 0x3f, 0x01, 0x01]), 'xbzrle'],
      [lz4Compress(new Uint8Array(8192).fill(1)), 'lz4'],
      [Uint8Array.from([1, 2, 3, 4, 5, 6]), 'lz4'],
      [Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0]), 'zstd'],
    ];
    for (const [data, codec] of bad) {
      let caught: unknown;
      try {
        s.put(0, data, codec);
      } catch (err) {
        caught = err;
      }
      expect(caught, codec).toBeInstanceOf(CorruptPageError);
      expect((caught as CorruptPageError).code).toBe('MC_ERR_CORRUPT_PAGE');
    }
    expect(s.stats().stagedPages).toBe(1);
    s.commit(2);
    expectBytes(s.readPage(0), base);
    expectBytes(s.readPage(1), good);
  });

  it('keeps a page that does not shrink raw, and compresses one that does', () => {
    const s = store({ codecPolicy: 'lz4' });
    s.begin(1);
    s.put(0, makePage('random', 0));
    s.put(1, makePage('text', 0));
    s.commit(1);
    settle(s);
    expect(s.stats().pagesByCodec).toMatchObject({ raw: 1, lz4: 1, zero: 14 });
  });

  it('tiered: LZ4 for pages LZ4 shrinks well, zstd for pages it shrinks poorly (text), raw for random', () => {
    const s = store();
    const table = new Uint8Array(4096);
    for (let slot = 0; slot < 32; slot++)
      table.set(new TextEncoder().encode(`key:${slot} {"v":${slot * 7}}`), slot * 128);
    const text = makePage('text', 0);
    expect(lz4Compress(text).length).toBeGreaterThan(2048);
    expect(lz4Compress(table).length).toBeLessThan(2048);
    s.begin(1);
    s.put(0, makePage('random', 0));
    s.put(1, text);
    s.put(2, table);
    // Arriving as a poorly shrinking LZ4 block: stored as it came, then tried with zstd.
    s.put(3, lz4Compress(makePage('text', 1)), 'lz4');
    s.commit(1);
    expect(s.stats().pagesByCodec).toMatchObject({ raw: 3, lz4: 1, zstd: 0 });
    expect(s.stats().pendingPages).toBe(4); // the random page has not been tried yet either
    settle(s);
    expect(s.stats().pagesByCodec).toMatchObject({ raw: 1, lz4: 1, zstd: 2, zero: 12 });
    expect(s.stats().pendingPages).toBe(0);
    expectBytes(s.readPage(1), text);
    expectBytes(s.readPage(2), table);
    expectBytes(s.readPage(3), makePage('text', 1));
  });

  it('throws StoreClosedError after close, and close is idempotent', () => {
    const s = createCheckpointStore({ pageCount: 4 });
    s.close();
    s.close();
    expect(() => s.begin(1)).toThrow(StoreClosedError);
    expect(() => s.readPage(0)).toThrow(StoreClosedError);
    expect(() => s.stats()).toThrow(StoreClosedError);
  });
});
