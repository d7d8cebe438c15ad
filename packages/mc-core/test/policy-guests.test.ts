import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { InProcessArbiter } from '../src/arbiter/in-process.js';
import type { PolicyEvent } from '../src/engine/policy-runner.js';
import { InvalidArgumentError } from '../src/errors.js';
import { createGuestMemory } from '../src/guest-memory.js';
import { createInProcessGuest } from '../src/guests/in-process.js';
import { createWorkerGuest } from '../src/guests/worker.js';
import { cleanups, makePrimary, runCleanups, startSecondary, until } from './engine-helpers.js';

afterEach(runCleanups);

const PAGE = 4096;

function worker(sizeBytes: number, paceMs: number) {
  const memory = createGuestMemory({ sizeBytes });
  const pace = new Int32Array(new SharedArrayBuffer(8));
  pace[0] = paceMs;
  const guest = createWorkerGuest({
    memory,
    module: new URL('./fixtures/random-writer.ts', import.meta.url),
    data: { pace: pace.buffer, seed: 3 },
    output: () => undefined,
  });
  cleanups.push(() => guest.close());
  return { memory, guest, writes: () => Atomics.load(pace, 1) };
}

describe('guest throttle and dirty quota', () => {
  it('in-process: a throttled guest still handles every request, pauses at once, and refuses a percent outside 0..99', async () => {
    const memory = createGuestMemory({ sizeBytes: 65536 });
    let handled = 0;
    const guest = createInProcessGuest<number>({
      memory,
      handler: () => {
        // About 50 µs of work, so that the throttle's slices fill up.
        const until = performance.now() + 0.05;
        while (performance.now() < until);
        handled++;
      },
      output: () => undefined,
      requestsPerTurn: 8,
    });
    cleanups.push(() => guest.close());
    expect(() => guest.throttle(100)).toThrow(InvalidArgumentError);
    expect(() => guest.throttle(-1)).toThrow(InvalidArgumentError);
    expect(() => guest.throttle(2.5)).toThrow(InvalidArgumentError);
    guest.throttle(90);
    expect(guest.throttlePercent).toBe(90);
    for (let i = 0; i < 400; i++) guest.submit(i);
    await until(() => handled > 50, 10_000, 'progress while throttled');
    // A pause is not held up by a throttle sleep.
    await guest.pause();
    expect(guest.state).toBe('paused');
    const atPause = handled;
    await sleep(20);
    expect(handled).toBe(atPause);
    guest.resume();
    guest.throttle(0);
    await until(() => handled === 400, 10_000, 'all requests handled');
  });

  it('in-process: hold the next request at the dirty quota until the quota is set again (after a capture)', async () => {
    const memory = createGuestMemory({ sizeBytes: 65536 });
    const guest = createInProcessGuest<number>({
      memory,
      handler: (n) => memory.write(n * PAGE, new Uint8Array([1])),
      output: () => undefined,
    });
    cleanups.push(() => guest.close());
    expect(() => guest.setDirtyQuota(-1)).toThrow(InvalidArgumentError);
    guest.setDirtyQuota(3);
    for (let i = 0; i < 8; i++) guest.submit(i);
    await sleep(20);
    expect(guest.handledRequests).toBe(3);
    expect(memory.dirtyPageCount()).toBe(3);
    const capture = memory.capture();
    capture.release();
    guest.setDirtyQuota(3);
    await until(() => guest.handledRequests === 6, 5000, 'three more');
    await sleep(20);
    expect(guest.handledRequests).toBe(6);
    guest.setDirtyQuota(0);
    await until(() => guest.handledRequests === 8, 5000, 'the rest once lifted');
  });

  it('worker: wait at the dirty quota until a capture empties the log; a throttled worker still pauses at once', async () => {
    const { memory, guest, writes } = worker(1 << 20, 0);
    guest.setDirtyQuota(4);
    await until(() => memory.dirtyPageCount() >= 4, 5000, 'quota reached');
    await sleep(30);
    // One write per safe point: it stops at the quota (a page written twice counts once).
    expect(memory.dirtyPageCount()).toBe(4);
    const stalled = writes();
    await sleep(30);
    expect(writes()).toBe(stalled);
    await guest.pause();
    memory.capture().release();
    guest.resume();
    await until(() => writes() > stalled, 5000, 'writes again after the capture');
    guest.setDirtyQuota(0);
    guest.throttle(99);
    expect(guest.throttlePercent).toBe(99);
    const before = writes();
    await until(() => writes() > before + 10, 5000, 'progress at 99%');
    // The worker sleeps 99% of the time; a pause wakes it.
    await guest.pause();
    const paused = writes();
    await sleep(20);
    expect(writes()).toBe(paused);
    guest.throttle(0);
    guest.resume();
    await until(() => writes() > paused + 1000, 5000, 'full speed again');
  });

  it('live sync: throttle a guest that does not let the sync converge, step by step, then copy the rest with it paused', async () => {
    const arbiter = new InProcessArbiter();
    const size = 4 << 20;
    const { port } = await startSecondary({
      arbiter,
      memoryOptions: { sizeBytes: size },
      maxCheckpointBytes: 64 * PAGE,
    });
    const { guest, writes } = worker(size, 0);
    // The worker thread takes a while to start on a loaded machine: the sync must meet it writing.
    await until(() => writes() > 10_000, 20_000, 'the writer running');
    const primary = makePrimary(guest, () => undefined, port, arbiter, { epochMs: 20, maxSyncPasses: 3 });
    const events: PolicyEvent[] = [];
    primary.on('policy', (e) => events.push(e));
    const passes: Array<{ pass: number; pages: number; final: boolean }> = [];
    primary.on('sync', (p) => passes.push(p));
    let first = 0;
    primary.once('checkpoint', ({ bytes }) => {
      first = bytes;
    });
    await primary.start();
    const sync = events.filter((e) => e.source === 'sync');
    const throttles = sync.filter((e) => e.decision.kind === 'throttle').map((e) => e.throttlePercent);
    // The rule, pass by pass: every non-final pass after the first that carried more than half the
    // pages of the one before stepped the throttle up once (a busy machine may let a pass converge).
    let expected = 0;
    for (let i = 1; i < passes.length; i++) {
      const pass = passes[i]!;
      if (!pass.final && pass.pages > passes[i - 1]!.pages * 0.5) expected++;
    }
    expect(throttles.length).toBe(Math.min(expected, 9));
    expect(throttles).toEqual(throttles.map((_, i) => Math.min(99, 20 + 10 * i)));
    expect(passes.at(-1)!.final).toBe(true);
    // A stop-and-copy pass is announced as a pause decision of the sync, and ends the sync.
    const stopAndCopy = sync.filter((e) => e.decision.kind === 'pause').length;
    expect(stopAndCopy).toBeLessThanOrEqual(1);
    if (passes.length > 3 && expected >= 2) expect(throttles.length).toBeGreaterThan(1);
    expect(first).toBeLessThanOrEqual(64 * PAGE);
    expect(primary.state).toBe('protected');
  });
});
