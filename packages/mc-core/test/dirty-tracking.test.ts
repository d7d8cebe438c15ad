import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createGuestMemory, type DirtyTracking, type GuestMemory } from '../src/guest-memory.js';
import { createWorkerGuest, type WorkerGuest } from '../src/guests/worker.js';
import type { KernelName } from '../src/kernel.js';
import type { WriteMode } from './fixtures/write-pattern.js';
import { applyAndRelease, firstDifferentPage, startRestlessWriter } from './helpers.js';

// Every write is captured: after each capture, a replica built only from captures (as a secondary
// builds its image) must equal the source. Three ways pages become dirty, both kernels.
const MODES: Array<{ mode: WriteMode; tracking: DirtyTracking }> = [
  { mode: 'api', tracking: 'bitmap' },
  { mode: 'self', tracking: 'bitmap' },
  { mode: 'opaque', tracking: 'scan' },
];
const KERNELS: KernelName[] = ['wasm', 'js'];

const workers: Worker[] = [];
const guests: WorkerGuest[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
  await Promise.all(guests.splice(0).map((g) => g.close()));
});

describe('writes through the API, from this thread', () => {
  for (const kernel of KERNELS) {
    for (const tracking of ['bitmap', 'scan'] as const) {
      it(`${kernel}, ${tracking}: the replica equals the source after every capture`, () => {
        const size = 1024 * 1024;
        const source = createGuestMemory({ sizeBytes: size, pageSizeBytes: 1024, tracking, kernel });
        const replica = createGuestMemory({ sizeBytes: size, pageSizeBytes: 1024, kernel: 'js' });
        const op = fc.oneof(
          fc.record({
            kind: fc.constant('write' as const),
            offset: fc.integer({ min: 0, max: size - 1 }),
            data: fc.uint8Array({ minLength: 1, maxLength: 3000 }),
          }),
          fc.record({
            kind: fc.constant('bytes-then-mark' as const),
            offset: fc.integer({ min: 0, max: size - 1 }),
            data: fc.uint8Array({ minLength: 1, maxLength: 5000 }),
          }),
          fc.record({ kind: fc.constant('capture' as const) }),
        );
        fc.assert(
          fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
            for (const o of [...ops, { kind: 'capture' as const }]) {
              if (o.kind === 'capture') {
                applyAndRelease(source.capture(), replica);
                expect(firstDifferentPage(source, replica)).toBe(-1);
                continue;
              }
              const data = o.data.subarray(0, size - o.offset);
              if (o.kind === 'write') {
                source.write(o.offset, data);
              } else {
                source.bytes.set(data, o.offset);
                source.markDirty(o.offset, data.length);
              }
            }
          }),
          { numRuns: 40 },
        );
      });
    }
  }
});

describe('a writer in a worker thread that never stops writing during capture', () => {
  for (const kernel of KERNELS) {
    for (const { mode, tracking } of MODES) {
      it(`${kernel}, ${mode} writes, ${tracking} tracking: nothing written is ever lost`, async () => {
        const size = 64 * 1024 * 1024;
        const source = createGuestMemory({ sizeBytes: size, tracking, kernel });
        const replica = createGuestMemory({ sizeBytes: size, kernel: 'js' });
        const { worker, flags, next } = startRestlessWriter({
          handle: source.handle(),
          mode,
          seed: 12345,
          spinMicros: 1,
        });
        workers.push(worker);
        expect(await next()).toBe('started');

        let captures = 0;
        let concurrent = 0;
        // At least half a second of captures, and on until 30 of them raced a write, however loaded
        // the machine is (the test must have exercised the race it is about); 30 s is the hang guard.
        const started = Date.now();
        const enough = (): boolean => Date.now() - started > 500 && concurrent >= 30;
        while (!enough() && Date.now() - started < 30_000) {
          const before = Atomics.load(flags, 1);
          const capture = source.capture();
          // The writer wrote while this capture ran: the case the dirty log must get right.
          if (Atomics.load(flags, 1) !== before) concurrent++;
          applyAndRelease(capture, replica);
          captures++;
          if (captures % 4 === 0) await sleep(1);
        }
        Atomics.store(flags, 0, 1);
        const done = (await next()) as { writes: number };
        // The writer has stopped: one more capture takes what the last ones could not.
        applyAndRelease(source.capture(), replica);

        expect(done.writes).toBeGreaterThan(10_000);
        expect(
          concurrent,
          `only ${concurrent} of ${captures} captures raced a write in 30 s`,
        ).toBeGreaterThanOrEqual(30);
        expect(firstDifferentPage(source, replica)).toBe(-1);
      });
    }
  }
});

describe('a worker guest paused at safe points', () => {
  for (const kernel of KERNELS) {
    for (const { mode, tracking } of MODES) {
      it(`${kernel}, ${mode} writes, ${tracking} tracking: each paused capture is an exact image`, async () => {
        const size = 8 * 1024 * 1024;
        const source = createGuestMemory({ sizeBytes: size, tracking, kernel });
        const replica = createGuestMemory({ sizeBytes: size, kernel: 'js' });
        const guest = createWorkerGuest({
          memory: source,
          module: new URL('./fixtures/paced-writer.ts', import.meta.url),
          data: { mode, seed: 777 },
          output: () => undefined,
        });
        guests.push(guest);
        let pages = 0;
        for (let epoch = 0; epoch < 25; epoch++) {
          await sleep(3);
          await guest.pause();
          const capture = source.capture();
          pages += capture.pageCount;
          applyAndRelease(capture, replica);
          expect(firstDifferentPage(source, replica)).toBe(-1);
          guest.resume();
        }
        expect(pages).toBeGreaterThan(100);
      });
    }
  }
});

function memoryFor(tracking: DirtyTracking, kernel: KernelName): GuestMemory {
  return createGuestMemory({ sizeBytes: 65536, tracking, kernel });
}

describe('writes that bitmap mode cannot see', () => {
  it('an opaque write is missed in bitmap mode and caught in scan mode (the reason scan mode exists)', () => {
    for (const kernel of KERNELS) {
      const bitmap = memoryFor('bitmap', kernel);
      const scan = memoryFor('scan', kernel);
      for (const m of [bitmap, scan]) m.bytes[5000] = 42;
      const missed = bitmap.capture();
      const caught = scan.capture();
      expect(missed.runCount).toBe(0);
      expect([...caught]).toEqual([{ pageIndex: 1, pageCount: 1, slabOffset: 0 }]);
      missed.release();
      caught.release();
    }
  });
});
