import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { SlabBusyError } from '../src/errors.js';
import { createGuestMemory, type GuestMemory } from '../src/guest-memory.js';
import { applyAndRelease, expectedRuns, firstDifferentPage } from './helpers.js';

const PAGE = 4096;
const SIZE = 2 * 1024 * 1024; // 512 pages: 16 bitmap words, so runs cross word boundaries
const PAGES = SIZE / PAGE;

function fillPattern(memory: GuestMemory, seed: number): void {
  const words = new Uint32Array(memory.bytes.buffer, 0, memory.sizeBytes / 4);
  for (let i = 0; i < words.length; i++) words[i] = Math.imul(i + 1, 2654435761) ^ seed;
}

function setBits(memory: GuestMemory, pages: readonly number[]): void {
  for (const p of pages) Atomics.or(memory.dirtyBitmap, p >>> 5, 1 << (p & 31));
}

const dirtySet = fc.oneof(
  fc.uniqueArray(fc.integer({ min: 0, max: PAGES - 1 }), { maxLength: PAGES }),
  // Clustered: a few long runs, the shape that coalescing is for.
  fc
    .array(
      fc.record({ start: fc.integer({ min: 0, max: PAGES - 1 }), length: fc.integer({ min: 1, max: 80 }) }),
      {
        maxLength: 8,
      },
    )
    .map((runs) =>
      runs
        .flatMap(({ start, length }) => Array.from({ length }, (_, i) => start + i))
        .filter((p) => p < PAGES),
    ),
  fc.constant(Array.from({ length: PAGES }, (_, i) => i)),
  fc.constant(Array.from({ length: PAGES / 2 }, (_, i) => i * 2)),
);

describe('capture kernels', () => {
  const memories: GuestMemory[] = [];
  afterEach(() => {
    memories.length = 0;
  });
  function memory(options: Parameters<typeof createGuestMemory>[0]): GuestMemory {
    const m = createGuestMemory(options);
    memories.push(m);
    return m;
  }

  it('the WebAssembly kernel is the one in use by default', () => {
    expect(memory({ sizeBytes: 65536 }).kernel).toBe('wasm');
  });

  for (const kernel of ['wasm', 'js'] as const) {
    it(`${kernel}: gathers exactly the dirty pages, coalesced into runs, and clears the log`, () => {
      const m = memory({ sizeBytes: SIZE, kernel });
      fc.assert(
        fc.property(dirtySet, fc.integer(), (pages, seed) => {
          fillPattern(m, seed);
          setBits(m, pages);
          const capture = m.capture();
          const runs = expectedRuns(pages, PAGES);
          expect([...capture]).toEqual(runs.map((r) => ({ ...r, slabOffset: r.slabOffset * PAGE })));
          expect(capture.complete).toBe(true);
          expect(capture.pageCount).toBe(new Set(pages).size);
          expect(capture.byteLength).toBe(capture.pageCount * PAGE);
          for (const run of capture) {
            const source = m.bytes.subarray(run.pageIndex * PAGE, (run.pageIndex + run.pageCount) * PAGE);
            const gathered = capture.data.subarray(run.slabOffset, run.slabOffset + run.pageCount * PAGE);
            expect(Buffer.from(gathered).equals(Buffer.from(source))).toBe(true);
          }
          expect(m.dirtyPageCount()).toBe(0);
          capture.release();
        }),
        { numRuns: 60 },
      );
    });

    it(`${kernel}: a slab smaller than the dirty set takes what fits and leaves the rest dirty`, () => {
      const slabPages = 37;
      const m = memory({ sizeBytes: SIZE, slabBytes: slabPages * PAGE, kernel });
      fc.assert(
        fc.property(dirtySet, (pages) => {
          const distinct = [...new Set(pages)].sort((a, b) => a - b);
          setBits(m, distinct);
          const replica = createGuestMemory({ sizeBytes: SIZE, kernel: 'js' });
          fillPattern(m, distinct.length);
          let taken = 0;
          let rounds = 0;
          for (;;) {
            const before = m.dirtyPageCount();
            const capture = m.capture();
            const expected = expectedRuns(distinct.slice(taken), PAGES, slabPages);
            expect([...capture]).toEqual(expected.map((r) => ({ ...r, slabOffset: r.slabOffset * PAGE })));
            expect(capture.complete).toBe(before <= slabPages);
            expect(m.dirtyPageCount()).toBe(before - capture.pageCount);
            taken += capture.pageCount;
            applyAndRelease(capture, replica);
            rounds++;
            if (capture.complete) break;
          }
          expect(taken).toBe(distinct.length);
          expect(rounds).toBe(Math.max(1, Math.ceil(distinct.length / slabPages)));
          for (const page of distinct) {
            const at = page * PAGE;
            expect(
              Buffer.from(replica.bytes.subarray(at, at + PAGE)).equals(
                Buffer.from(m.bytes.subarray(at, at + PAGE)),
              ),
            ).toBe(true);
          }
        }),
        { numRuns: 40 },
      );
    });

    it(`${kernel}: scan mode finds pages written without a report, and only those`, () => {
      const m = memory({ sizeBytes: SIZE, tracking: 'scan', kernel });
      const replica = memory({ sizeBytes: SIZE, kernel: 'js' });
      fc.assert(
        fc.property(
          fc.array(
            fc.record({
              offset: fc.integer({ min: 0, max: SIZE - 1 }),
              value: fc.integer({ min: 1, max: 255 }),
            }),
            {
              maxLength: 200,
            },
          ),
          fc.uniqueArray(fc.integer({ min: 0, max: PAGES - 1 }), { maxLength: 20 }),
          (writes, reported) => {
            const changed = new Set<number>();
            for (const { offset, value } of writes) {
              // Opaque writes: straight into the bytes, no report. A write of the value already there
              // changes nothing and must not be captured.
              if (m.bytes[offset] !== value) changed.add(Math.floor(offset / PAGE));
              m.bytes[offset] = value;
            }
            setBits(m, reported);
            const capture = m.capture();
            const pages = [...new Set([...changed, ...reported])];
            expect([...capture]).toEqual(
              expectedRuns(pages, PAGES).map((r) => ({ ...r, slabOffset: r.slabOffset * PAGE })),
            );
            applyAndRelease(capture, replica);
            expect(firstDifferentPage(m, replica)).toBe(-1);
            // Nothing changed since: the next scan finds nothing.
            const again = m.capture();
            expect(again.runCount).toBe(0);
            again.release();
          },
        ),
        { numRuns: 60 },
      );
    });
  }

  it('both kernels produce identical captures, also from a small slab and in scan mode', () => {
    fc.assert(
      fc.property(
        dirtySet,
        fc.integer({ min: 1, max: PAGES }),
        fc.boolean(),
        fc.array(fc.integer({ min: 0, max: SIZE - 1 }), { maxLength: 50 }),
        (pages, slabPages, scan, opaque) => {
          const pair = (['wasm', 'js'] as const).map((kernel) =>
            createGuestMemory({
              sizeBytes: SIZE,
              slabBytes: slabPages * PAGE,
              tracking: scan ? 'scan' : 'bitmap',
              kernel,
            }),
          );
          const results = pair.map((m) => {
            fillPattern(m, 7);
            for (const offset of opaque) m.bytes[offset] = (m.bytes[offset]! + 1) & 255;
            setBits(m, pages);
            const capture = m.capture();
            const result = {
              runs: [...capture.runs],
              data: createHash('sha256').update(capture.data).digest('hex'),
              complete: capture.complete,
              pageCount: capture.pageCount,
              leftover: [...m.dirtyBitmap],
            };
            capture.release();
            return result;
          });
          expect(results[0]).toEqual(results[1]);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('large captures (where long runs are copied from JavaScript) are identical in both kernels', () => {
    const size = 32 * 1024 * 1024;
    for (const pageSizeBytes of [4096, 65536]) {
      const pair = (['wasm', 'js'] as const).map((kernel) =>
        createGuestMemory({ sizeBytes: size, pageSizeBytes, kernel }),
      );
      for (const m of pair) fillPattern(m, pageSizeBytes);
      const pages = size / pageSizeBytes;
      // Long runs, single pages and short runs mixed, well past LARGE_CAPTURE_BYTES.
      const dirty: number[] = [];
      for (let p = 0; p < pages; p++) if (p % 97 < 40 || p % 7 === 0 || p % 13 === 1) dirty.push(p);
      const results = pair.map((m) => {
        setBits(m, dirty);
        const capture = m.capture();
        expect(capture.byteLength).toBeGreaterThan(8 * 1024 * 1024);
        for (const run of capture) {
          const from = run.pageIndex * pageSizeBytes;
          const source = m.bytes.subarray(from, from + run.pageCount * pageSizeBytes);
          const copied = capture.data.subarray(
            run.slabOffset,
            run.slabOffset + run.pageCount * pageSizeBytes,
          );
          expect(Buffer.from(copied).equals(Buffer.from(source))).toBe(true);
        }
        const result = {
          runs: createHash('sha256').update(capture.runs).digest('hex'),
          data: createHash('sha256').update(capture.data).digest('hex'),
        };
        capture.release();
        return result;
      });
      expect(results[0]).toEqual(results[1]);
    }
  });

  it('bits past the last page are ignored and cleared', () => {
    for (const kernel of ['wasm', 'js'] as const) {
      // 65536 / 4096 = 16 pages: half of the only bitmap word belongs to no page.
      const m = memory({ sizeBytes: 65536, kernel });
      Atomics.store(m.dirtyBitmap, 0, 0xffff0001 | 0);
      const capture = m.capture();
      expect([...capture]).toEqual([{ pageIndex: 0, pageCount: 1, slabOffset: 0 }]);
      expect(m.dirtyBitmap[0]).toBe(0);
      capture.release();
    }
  });

  it('alternates two slabs, refuses a third capture without touching the log, and reuses a released slab', () => {
    for (const kernel of ['wasm', 'js'] as const) {
      const m = memory({ sizeBytes: SIZE, kernel });
      m.write(0, new Uint8Array([1]));
      const first = m.capture();
      m.write(PAGE, new Uint8Array([2]));
      const second = m.capture();
      expect([first.slab, second.slab]).toEqual([0, 1]);
      expect([first.sequence, second.sequence]).toEqual([1, 2]);
      expect(m.capturesInFlight).toBe(2);
      m.write(2 * PAGE, new Uint8Array([3]));
      expect(() => m.capture()).toThrow(SlabBusyError);
      expect(m.isDirty(2)).toBe(true);
      // The first capture's data is intact while the second one was taken.
      expect(first.data[0]).toBe(1);
      expect(second.data[0]).toBe(2);
      first.release();
      first.release();
      expect(first.released).toBe(true);
      const third = m.capture();
      expect(third.slab).toBe(0);
      expect([...third]).toEqual([{ pageIndex: 2, pageCount: 1, slabOffset: 0 }]);
      expect(third.data[0]).toBe(3);
      second.release();
      third.release();
      expect(m.capturesInFlight).toBe(0);
    }
  });

  it('an empty log gives an empty capture', () => {
    const m = memory({ sizeBytes: SIZE });
    const capture = m.capture();
    expect(capture.runCount).toBe(0);
    expect(capture.byteLength).toBe(0);
    expect(capture.complete).toBe(true);
    expect([...capture]).toEqual([]);
    expect(capture.durationMs).toBeGreaterThanOrEqual(0);
    expect(() => capture.run(0)).toThrow(/outside/);
    capture.release();
  });

  it('a whole memory with page sizes from 256 B to 64 KiB round-trips through a replica', () => {
    for (const pageSizeBytes of [256, 4096, 65536]) {
      for (const kernel of ['wasm', 'js'] as const) {
        const m = memory({ sizeBytes: 1024 * 1024, pageSizeBytes, kernel });
        const replica = memory({ sizeBytes: 1024 * 1024, pageSizeBytes, kernel });
        fillPattern(m, pageSizeBytes);
        m.markDirty(0, m.sizeBytes);
        const capture = m.capture();
        expect(capture.runCount).toBe(1);
        expect(capture.pageCount).toBe(m.pageCount);
        applyAndRelease(capture, replica);
        expect(firstDifferentPage(m, replica)).toBe(-1);
      }
    }
  });
});
