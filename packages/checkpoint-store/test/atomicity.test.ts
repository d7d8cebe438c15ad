import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { lz4Compress } from '../src/codecs/lz4.js';
import { OffloadIoError, xbzrleEncode } from '../src/index.js';
import { createCheckpointStoreWithHooks, type FaultPoint } from '../src/store.js';
import { expectBytes } from './helpers.js';
import { makePage, minimumBudget, type PageKind } from './pages.js';

const dir = mkdtempSync(join(tmpdir(), 'mc-atomicity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const P = 4096;
const N = 128;

class Injected extends Error {}

/** Epoch 1's image, and the puts of epoch 2 (every input codec, restaging, dedup, zero). */
function scenario() {
  const one = new Uint8Array(P * N);
  for (let p = 0; p < N; p++)
    one.set(makePage((['text', 'random', 'fill', 'zero'] as PageKind[])[p % 4]!, p), p * P);
  const two = one.slice();
  const puts: Array<[number, Uint8Array, 'raw' | 'xbzrle' | 'lz4' | 'zero']> = [];
  for (let p = 0; p < N; p += 2) {
    const old = one.subarray(p * P, p * P + P);
    const next = p % 8 === 0 ? makePage('random', p + 1000) : old.slice();
    next[p] = (next[p]! + 1) & 0xff;
    next[P - 1 - p] = 7;
    two.set(next, p * P);
    if (p % 6 === 0)
      puts.push([p, xbzrleEncode(old, next) ?? next, xbzrleEncode(old, next) ? 'xbzrle' : 'raw']);
    else if (p % 6 === 2) puts.push([p, lz4Compress(next), 'lz4']);
    else puts.push([p, next, 'raw']);
  }
  // Restage a page, stage a zero page and a duplicate of another page.
  puts.push([2, two.subarray(2 * P, 3 * P).slice(), 'raw']);
  puts.push([1, new Uint8Array(0), 'zero']);
  two.fill(0, P, 2 * P);
  puts.push([5, two.subarray(4 * P, 5 * P).slice(), 'raw']);
  two.copyWithin(5 * P, 4 * P, 5 * P);
  return { one, two, puts };
}

const { one, two, puts } = scenario();

function image(store: { materialize(t: Uint8Array): unknown }): Uint8Array {
  const out = new Uint8Array(P * N);
  store.materialize(out);
  return out;
}

function runEpoch2(store: ReturnType<typeof createCheckpointStoreWithHooks>): void {
  store.begin(2);
  for (const [p, data, codec] of puts) store.put(p, data, codec);
  store.commit(2);
}

describe('commit/abort atomicity with a failure injected at every step', () => {
  // Deferred (the default): epoch 1's pages are still pending (raw) when epoch 2 runs, and under the
  // budget epoch 2 compresses them synchronously. Inline: every put compresses.
  const modes = [
    { budget: Number.POSITIVE_INFINITY, deferCompression: true, expect: 'put:store' },
    { budget: 600 * 1024, deferCompression: true, expect: 'compress:encode' },
    { budget: Number.POSITIVE_INFINITY, deferCompression: false, expect: 'put:encode' },
    { budget: 600 * 1024, deferCompression: false, expect: 'put:encode' },
  ] as const;
  for (const { budget, deferCompression, expect: mustSee } of modes) {
    it(`never shows a mixed image (budget ${budget}, deferCompression ${deferCompression})`, () => {
      const options = {
        pageCount: N,
        ramBudgetBytes: budget,
        offloadDirectory: dir,
        deferCompression,
        backgroundCpuShare: 0,
      };
      // Count the fault points the scenario passes through.
      let count = 0;
      const points: FaultPoint[] = [];
      const counting = createCheckpointStoreWithHooks(options, {
        fault: (point) => {
          count++;
          points.push(point);
        },
      });
      counting.begin(1);
      for (let p = 0; p < N; p++) counting.put(p, one.subarray(p * P, p * P + P));
      counting.commit(1);
      const pendingAfterOne = counting.stats().pendingPages;
      const before = count;
      runEpoch2(counting);
      counting.close();
      const total = count - before;
      const seen = new Set(points.slice(before));
      expect(seen.has('commit:swap') && seen.has('commit:publish') && seen.has('put:stage')).toBe(true);
      expect(seen.has(mustSee), `passes through ${mustSee}`).toBe(true);
      if (Number.isFinite(budget)) expect(seen.has('offload:write')).toBe(true);
      if (deferCompression && !Number.isFinite(budget)) expect(pendingAfterOne).toBeGreaterThan(N / 2);

      for (let k = 1; k <= total; k++) {
        let armed = false;
        let calls = 0;
        const store = createCheckpointStoreWithHooks(options, {
          fault: (point) => {
            if (!armed) return;
            calls++;
            if (calls === k) throw new Injected(`fault at ${point} #${k}`);
          },
        });
        try {
          store.begin(1);
          for (let p = 0; p < N; p++) store.put(p, one.subarray(p * P, p * P + P));
          store.commit(1);
          armed = true;
          let failed: unknown = null;
          try {
            runEpoch2(store);
          } catch (err) {
            failed = err;
          }
          armed = false;
          expect(failed, `step ${k}`).not.toBeNull();
          const injected =
            failed instanceof Injected ||
            (failed instanceof OffloadIoError && failed.cause instanceof Injected);
          expect(injected, `step ${k}: ${String(failed)}`).toBe(true);
          store.verifyIntegrity();
          expect(store.committedEpoch).toBe(1);
          expect(Buffer.compare(image(store), one), `step ${k}: the image must be epoch 1`).toBe(0);
          // Abort and run the epoch again: it commits whole, before and after background work.
          store.abort();
          store.verifyIntegrity();
          runEpoch2(store);
          store.verifyIntegrity();
          expect(Buffer.compare(image(store), two), `step ${k}: the retry must give epoch 2`).toBe(0);
          while (store.maintain(50)) {}
          store.verifyIntegrity();
          expect(Buffer.compare(image(store), two), `step ${k}: settling keeps epoch 2`).toBe(0);
        } finally {
          store.close();
        }
      }
    });
  }

  it('a failure at every step of background compression leaves every page and count as it was', () => {
    const options = { pageCount: N, backgroundCpuShare: 0 };
    const load = (store: ReturnType<typeof createCheckpointStoreWithHooks>) => {
      store.begin(1);
      for (let p = 0; p < N; p++) store.put(p, one.subarray(p * P, p * P + P));
      store.commit(1);
      store.begin(2);
      for (const [p, data, codec] of puts.slice(0, 20)) store.put(p, data, codec);
    };
    let total = 0;
    const counting = createCheckpointStoreWithHooks(options, {
      fault: (point) => {
        if (point === 'compress:encode') total++;
      },
    });
    load(counting);
    while (counting.maintain(50)) {}
    counting.close();
    expect(total).toBeGreaterThan(N / 2);
    for (let k = 1; k <= total; k++) {
      let calls = 0;
      const store = createCheckpointStoreWithHooks(options, {
        fault: (point) => {
          if (point === 'compress:encode' && ++calls === k) throw new Injected(`background fault #${k}`);
        },
      });
      try {
        load(store); // epoch 2 stays staged: background work runs with pages staged and pending
        expect(() => {
          while (store.maintain(50)) {}
        }).toThrow(Injected);
        store.verifyIntegrity();
        expect(Buffer.compare(image(store), one), `fault ${k}: the image is epoch 1`).toBe(0);
        store.abort();
        runEpoch2(store);
        while (store.maintain(50)) {}
        store.verifyIntegrity();
        expect(store.stats().pendingPages).toBe(0);
        expect(Buffer.compare(image(store), two), `fault ${k}: then epoch 2`).toBe(0);
      } finally {
        store.close();
      }
    }
  });
});

describe('the store against a model (property)', () => {
  type Op =
    | { op: 'begin' }
    | { op: 'put'; page: number; kind: PageKind; seed: number; codec: 'raw' | 'xbzrle' | 'lz4' | 'zero' }
    | { op: 'commit' }
    | { op: 'abort' }
    | { op: 'read'; page: number }
    | { op: 'compact' }
    | { op: 'maintain'; budgetMs: number };
  const pages = 400;
  const MP = 512;
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 1, arbitrary: fc.constant({ op: 'begin' } as Op) },
    {
      weight: 12,
      arbitrary: fc.record({
        op: fc.constant('put' as const),
        page: fc.nat(pages - 1),
        kind: fc.constantFrom<PageKind>('zero', 'random', 'random', 'random', 'text', 'fill'),
        seed: fc.nat(20),
        codec: fc.constantFrom('raw' as const, 'xbzrle' as const, 'lz4' as const, 'zero' as const),
      }),
    },
    { weight: 2, arbitrary: fc.constant({ op: 'commit' } as Op) },
    { weight: 1, arbitrary: fc.constant({ op: 'abort' } as Op) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('read' as const), page: fc.nat(pages - 1) }) },
    { weight: 1, arbitrary: fc.constant({ op: 'compact' } as Op) },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant('maintain' as const), budgetMs: fc.constantFrom(0, 0, 1, 50) }),
    },
  );

  /** More distinct incompressible pages than a tight budget holds: this sequence must offload. */
  const offloadingOps: Op[] = [];
  for (let page = 0; page < pages; page++) {
    offloadingOps.push({
      op: 'put',
      page,
      kind: 'random',
      seed: 1000 + page,
      codec: page % 2 ? 'raw' : 'lz4',
    });
    if (page % 50 === 49) offloadingOps.push({ op: 'commit' }, { op: 'maintain', budgetMs: 50 });
  }
  for (let page = 0; page < pages; page += 7) offloadingOps.push({ op: 'read', page });

  it('matches a map of committed pages under any sequence, with and without a budget', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 300, maxLength: 500 }),
        fc.constantFrom('tiered', 'lz4', 'raw', 'zstd'),
        fc.boolean(),
        fc.boolean(),
        (ops, codecPolicy, tight, deferCompression) => {
          const store = createCheckpointStoreWithHooks(
            {
              pageSize: MP,
              pageCount: pages,
              codecPolicy: codecPolicy as 'tiered',
              ramBudgetBytes: tight
                ? minimumBudget({ pageSize: MP, pageCount: pages }) + 4096
                : Number.POSITIVE_INFINITY,
              offloadDirectory: dir,
              deferCompression,
              backgroundCpuShare: 0,
            },
            {},
          );
          try {
            const committed = new Map<number, Uint8Array>();
            let staged: Map<number, Uint8Array> | null = null;
            let epoch = 0;
            const current = (p: number) => staged?.get(p) ?? committed.get(p) ?? new Uint8Array(MP);
            for (const o of ops) {
              if (o.op === 'begin') {
                if (staged !== null) continue;
                store.begin(++epoch);
                staged = new Map();
              } else if (o.op === 'put') {
                if (staged === null) {
                  store.begin(++epoch);
                  staged = new Map();
                }
                const page = o.codec === 'zero' ? new Uint8Array(MP) : makePage(o.kind, o.seed, MP);
                if (o.codec === 'xbzrle') {
                  const delta = xbzrleEncode(current(o.page), page);
                  store.put(o.page, delta ?? page, delta ? 'xbzrle' : 'raw');
                } else if (o.codec === 'lz4') {
                  store.put(o.page, lz4Compress(page), 'lz4');
                } else if (o.codec === 'zero') {
                  store.put(o.page, new Uint8Array(0), 'zero');
                } else {
                  store.put(o.page, page);
                }
                staged.set(o.page, page);
              } else if (o.op === 'commit') {
                if (staged === null) continue;
                store.commit(epoch);
                for (const [p, page] of staged) committed.set(p, page);
                staged = null;
              } else if (o.op === 'abort') {
                store.abort();
                staged = null;
              } else if (o.op === 'read') {
                expectBytes(
                  store.readPage(o.page),
                  committed.get(o.page) ?? new Uint8Array(MP),
                  `read ${o.page}`,
                );
              } else if (o.op === 'maintain') {
                store.maintain(o.budgetMs);
              } else {
                store.compact();
              }
              const stats = store.stats();
              expect(stats.ramBytes).toBeLessThanOrEqual(stats.ramBudgetBytes);
            }
            store.verifyIntegrity();
            if (ops === offloadingOps) {
              expect(store.stats().evictedRecords, 'the offloading example').toBeGreaterThan(0);
            }
            const img = new Uint8Array(MP * pages);
            store.materialize(img);
            for (let p = 0; p < pages; p++) {
              expectBytes(
                img.subarray(p * MP, p * MP + MP),
                committed.get(p) ?? new Uint8Array(MP),
                `page ${p}`,
              );
            }
          } finally {
            store.close();
          }
        },
      ),
      // Random sequences reach the budget only some of the time (identical pages deduplicate), so
      // these examples, which always run first, make sure every run of this test goes through
      // offload and reads back from flash.
      {
        numRuns: 60,
        examples: [
          [offloadingOps, 'raw', true, false],
          [offloadingOps, 'tiered', true, true],
        ],
      },
    );
  });
});
