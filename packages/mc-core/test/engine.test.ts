import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { InProcessArbiter } from '../src/arbiter/in-process.js';
import { InvalidOptionError } from '../src/errors.js';
import { createGuestMemory, type DirtyTracking } from '../src/guest-memory.js';
import { createInProcessGuest } from '../src/guests/in-process.js';
import { createWorkerGuest } from '../src/guests/worker.js';
import { createPrimary } from '../src/primary.js';
import { HandshakeError } from '../src/protocol/protocol-errors.js';
import { createSecondary } from '../src/secondary.js';
import { cleanups, GatedArbiter, makePrimary, runCleanups, startSecondary, until } from './engine-helpers.js';
import type { WriteMode } from './fixtures/write-pattern.js';

afterEach(runCleanups);

const SIZE = 1 << 20;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An in-process guest: request n adds n to a counter in page 0 and touches page 1 + n % 200. */
function counterGuest() {
  const memory = createGuestMemory({ sizeBytes: SIZE });
  const counter = new DataView(memory.bytes.buffer, 0, 8);
  const guest = createInProcessGuest<number>({
    memory,
    handler: (n, context) => {
      const total = counter.getUint32(0, true) + n;
      counter.setUint32(0, total, true);
      memory.markDirty(0, 4);
      memory.write(4096 * (1 + (n % 200)), new Uint8Array([n & 255, total & 255]));
      context.output(1, encoder.encode(String(total)));
    },
    output: () => {
      throw new Error('the engine routes output through its cork queue');
    },
  });
  cleanups.push(() => guest.close());
  return { memory, guest };
}

describe('primary and secondary over TCP', () => {
  it('release each output only once the checkpoint covering it is committed on the secondary', async () => {
    const arbiter = new InProcessArbiter();
    const { secondary, port } = await startSecondary({ arbiter });
    const { memory, guest } = counterGuest();
    const image = new Uint8Array(SIZE);
    const released: number[] = [];
    const early: string[] = [];
    const primary = makePrimary(
      guest,
      (target, data) => {
        expect(target).toBe(1);
        const total = Number(decoder.decode(data));
        // The state that produced this reply must already be committed on the secondary.
        secondary.materialize(image);
        const committed = new DataView(image.buffer).getUint32(0, true);
        if (committed < total) early.push(`reply ${total} released with ${committed} committed`);
        released.push(total);
      },
      port,
      arbiter,
    );
    const states: string[] = [];
    primary.on('state', (s) => states.push(s));
    const started = primary.start();
    await until(() => primary.state === 'syncing', 5000, 'syncing');
    guest.submit(1); // during the sync: corked, released with the first checkpoint
    await started;
    expect(primary.state).toBe('protected');
    expect(secondary.state).toBe('protecting');
    let expected = 1;
    for (let i = 2; i <= 400; i++) {
      guest.submit(i);
      expected += i;
      if (i % 40 === 0) await sleep(3);
    }
    // The guest serves its queue one request per turn; a loaded machine may still be working through
    // it, and requests not yet served are not in the next checkpoint. Wait until all have run.
    await until(() => guest.queuedRequests === 0, 10_000, 'all requests served');
    await primary.checkpoint();
    expect(early).toEqual([]);
    expect(released.length).toBe(400);
    expect(released.at(-1)).toBe(expected);
    expect(released).toEqual([...released].sort((a, b) => a - b));
    expect(new DataView(memory.bytes.buffer).getUint32(0, true)).toBe(expected);
    const status = primary.status();
    expect(status).toMatchObject({ role: 'primary', state: 'protected', generation: 1, inFlight: 0 });
    expect(status.committedEpoch).toBeGreaterThan(1);
    expect(status.pauseMs.count).toBeGreaterThan(1);
    expect(status.pauseMs.p99).toBeGreaterThanOrEqual(status.pauseMs.p50);
    expect(status.cork.corkedItems).toBe(0);
    expect(status.peer.state).toBe('alive');
    const s = secondary.status();
    expect(s.committedEpoch).toBe(status.committedEpoch);
    expect(s.store?.committedEpoch).toBe(status.committedEpoch);
    expect(states).toEqual(['attaching', 'syncing', 'protected']);
    await primary.close();
    await until(() => secondary.state === 'stopped', 5000, 'secondary stopped');
    // After close the guest runs on, unprotected: its output goes straight to the application.
    guest.submit(1);
    await until(() => released.length === 401, 2000, 'direct output');
  });

  for (const [mode, tracking] of [
    ['api', 'bitmap'],
    ['self', 'bitmap'],
    ['opaque', 'scan'],
  ] as Array<[WriteMode, DirtyTracking]>) {
    it(`capture every write of a worker that never stops (${mode} writes, ${tracking} tracking): after each commit the secondary's image is the primary's at that capture`, async () => {
      const arbiter = new InProcessArbiter();
      const { secondary, port } = await startSecondary({ arbiter });
      const memory = createGuestMemory({ sizeBytes: SIZE, tracking });
      const guest = createWorkerGuest({
        memory,
        module: new URL('./fixtures/paced-writer.ts', import.meta.url),
        data: { mode, seed: 7 },
        output: () => undefined,
      });
      cleanups.push(() => guest.close());
      const primary = makePrimary(guest, () => undefined, port, arbiter, { epochMs: 5 });
      const snapshots = new Map<number, Buffer>();
      primary.on('capture', ({ epoch }) => snapshots.set(epoch, Buffer.from(memory.bytes)));
      const image = new Uint8Array(SIZE);
      const mismatches: string[] = [];
      let commits = 0;
      secondary.on('commit', ({ epoch }) => {
        commits++;
        secondary.materialize(image);
        const expected = snapshots.get(epoch);
        if (expected === undefined || !expected.equals(image)) {
          let page = -1;
          for (let p = 0; p < SIZE / 4096 && expected; p++) {
            if (expected.compare(image, p * 4096, (p + 1) * 4096, p * 4096, (p + 1) * 4096) !== 0) {
              page = p;
              break;
            }
          }
          mismatches.push(`epoch ${epoch}: first different page ${page}`);
        }
        snapshots.delete(epoch);
      });
      await primary.start();
      await until(() => commits >= 25, 20_000, '25 commits');
      expect(mismatches).toEqual([]);
      const pages = primary.status().checkpointBytes;
      expect(pages.max).toBeGreaterThan(0);
    });
  }

  it('ship two checkpoints at once when the secondary allows it, releasing output in epoch order', async () => {
    const arbiter = new InProcessArbiter();
    const { secondary, port } = await startSecondary({ arbiter, maxInFlight: 2 });
    const { guest } = counterGuest();
    const released: number[] = [];
    const primary = makePrimary(guest, (_t, d) => released.push(Number(decoder.decode(d))), port, arbiter, {
      epochMs: 2,
    });
    let most = 0;
    primary.on('capture', () => {
      most = Math.max(most, primary.status().inFlight + 1);
    });
    const epochs: number[] = [];
    primary.on('checkpoint', ({ epoch }) => epochs.push(epoch));
    await primary.start();
    let total = 0;
    for (let i = 1; i <= 2000; i++) {
      guest.submit(i);
      total += i;
      if (i % 50 === 0) await sleep(1);
    }
    await until(() => guest.queuedRequests === 0, 10_000, 'all requests served');
    await primary.checkpoint();
    expect(most).toBeLessThanOrEqual(2);
    expect(epochs).toEqual([...epochs].sort((a, b) => a - b));
    expect(new Set(epochs).size).toBe(epochs.length);
    expect(released.length).toBe(2000);
    expect(released.at(-1)).toBe(total);
    expect(secondary.status().committedEpoch).toBe(primary.status().committedEpoch);
  });

  it('keep output corked while the arbiter decides, then run unprotected once it grants', async () => {
    const arbiter = new GatedArbiter();
    const { secondary, port } = await startSecondary({ arbiter });
    const { guest } = counterGuest();
    const released: number[] = [];
    const primary = makePrimary(guest, (_t, d) => released.push(Number(decoder.decode(d))), port, arbiter);
    await primary.start();
    guest.submit(5);
    await primary.checkpoint();
    expect(released).toEqual([5]);
    arbiter.close();
    const lost = new Promise<Error>((resolve) => primary.once('peer-lost', resolve));
    await secondary.close();
    await lost;
    expect(primary.state).toBe('arbitrating');
    guest.submit(6);
    guest.submit(7);
    await sleep(100);
    expect(released).toEqual([5]);
    arbiter.open();
    await until(() => primary.state === 'unprotected', 5000, 'unprotected');
    await until(() => released.length === 3, 2000, 'corked output released');
    expect(released).toEqual([5, 11, 18]);
    expect(arbiter.requests.at(-1)).toMatchObject({ generation: 2 });
    expect(primary.status()).toMatchObject({ generation: 2, fencingToken: 2 });
    guest.submit(1);
    await until(() => released.length === 4, 2000, 'direct output');
  });

  it('fence itself when its grant lapses while renewals fail (arbiter unreachable): output corked again', async () => {
    const arbiter = new GatedArbiter();
    const { secondary, port } = await startSecondary({ arbiter });
    const { guest } = counterGuest();
    const released: number[] = [];
    const primary = makePrimary(guest, (_t, d) => released.push(Number(decoder.decode(d))), port, arbiter, {
      arbiterTtlMs: 300,
    });
    const errors: Error[] = [];
    primary.on('error', (err) => errors.push(err));
    await primary.start();
    guest.submit(2);
    await primary.checkpoint();
    const lost = new Promise<Error>((resolve) => primary.once('peer-lost', resolve));
    await secondary.close();
    await lost;
    await until(() => primary.state === 'unprotected', 5000, 'unprotected');
    guest.submit(1);
    await until(() => released.length === 2, 2000, 'direct output while the grant is valid');
    // The arbiter becomes unreachable: renewals fail with errors, never with a clear "lost".
    arbiter.renewalsFail = true;
    await until(() => primary.state === 'deposed', 2000, 'deposed when the grant lapsed');
    const releasedAtFence = released.length;
    guest.submit(5);
    await sleep(100);
    // Nothing leaves a node whose grant lapsed, however long the arbiter stays away.
    expect(released.length).toBe(releasedAtFence);
    expect(errors.some((e) => /unreachable/.test(e.message))).toBe(true);
  });

  it('keep output corked for good and stop the guest when another node won the next generation', async () => {
    const arbiter = new GatedArbiter();
    const { secondary, port } = await startSecondary({ arbiter });
    const { guest } = counterGuest();
    const released: number[] = [];
    const primary = makePrimary(guest, (_t, d) => released.push(Number(decoder.decode(d))), port, arbiter);
    await primary.start();
    // Someone else holds generation 2 (as a secondary that took over would).
    expect(await arbiter.inner.acquire({ generation: 2, node: 'intruder', ttlMs: 60_000 })).not.toBeNull();
    guest.submit(3);
    await secondary.close();
    await until(() => primary.state === 'deposed', 5000, 'deposed');
    await until(() => guest.state === 'paused', 2000, 'guest paused');
    await sleep(50);
    expect(released).toEqual([]);
    expect(primary.status().cork.corkedItems).toBe(1);
  });

  it('refuse a secondary whose memory has another shape, with a typed handshake error', async () => {
    const arbiter = new InProcessArbiter();
    const { port } = await startSecondary({ arbiter, memoryOptions: { sizeBytes: 2 * SIZE } });
    const { guest } = counterGuest();
    const primary = makePrimary(guest, () => undefined, port, arbiter, { attachTimeoutMs: 3000 });
    await expect(primary.start()).rejects.toBeInstanceOf(HandshakeError);
    expect(primary.state).toBe('idle');
  });

  it('validate their options, naming the option', () => {
    const arbiter = new InProcessArbiter();
    const memory = createGuestMemory({ sizeBytes: 65536 });
    const guest = createInProcessGuest({ memory, handler: () => undefined, output: () => undefined });
    const base = { guest, output: () => undefined, secondary: { port: 1 }, arbiter };
    expect(() => createPrimary({ ...base, epochMs: 0 })).toThrow(/option epochMs/);
    expect(() => createPrimary({ ...base, secondary: { port: 70000 } })).toThrow(/option secondary.port/);
    expect(() => createPrimary({ ...base, arbiter: {} as never })).toThrow(/option arbiter/);
    expect(() => createPrimary({ ...base, guest: {} as never })).toThrow(InvalidOptionError);
    expect(() => createPrimary({ ...base, maxMessageBytes: 10 })).toThrow(/option maxMessageBytes/);
    const takeover = () => ({ guest, output: () => undefined });
    expect(() => createSecondary({ memory, arbiter, takeover, maxInFlight: 3 })).toThrow(
      /option maxInFlight/,
    );
    expect(() => createSecondary({ memory, arbiter, takeover: 1 as never })).toThrow(/option takeover/);
    expect(() => createSecondary({ memory: {} as never, arbiter, takeover })).toThrow(/option memory/);
    expect(() => createSecondary({ memory, arbiter, takeover, maxCheckpointBytes: 5 })).toThrow(
      /option maxCheckpointBytes/,
    );
  });
});
