import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { InProcessArbiter } from '../src/arbiter/in-process.js';
import { AttachError, EngineStateError } from '../src/errors.js';
import { createGuestMemory, type GuestMemory } from '../src/guest-memory.js';
import { createInProcessGuest, type InProcessGuest } from '../src/guests/in-process.js';
import type { Primary } from '../src/primary.js';
import type { Secondary, TakeoverEvent } from '../src/secondary.js';
import {
  cleanups,
  freePort,
  makePrimary,
  runCleanups,
  startSecondary,
  TEST_KEEPALIVE,
  until,
} from './engine-helpers.js';

afterEach(runCleanups);

const SIZE = 1 << 20;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Total after request k when requests are 1, 2, 3, ...: the workload's replies are these. */
const totalAfter = (k: number) => (k * (k + 1)) / 2;

/**
 * The workload: request n adds n to a float64 total at byte 0, records n at byte 8 (so a survivor
 * knows where its clients resume) and touches page 1 + n % 100; the reply is the new total.
 */
function workload(memory: GuestMemory): InProcessGuest<number> {
  const view = new DataView(memory.bytes.buffer, memory.bytes.byteOffset, 16);
  const guest = createInProcessGuest<number>({
    memory,
    handler: (n, context) => {
      const total = view.getFloat64(0, true) + n;
      view.setFloat64(0, total, true);
      view.setUint32(8, n, true);
      memory.markDirty(0, 16);
      memory.write(4096 * (1 + (n % 100)), new Uint8Array([n & 255]));
      context.output(1, encoder.encode(String(total)));
    },
    output: () => undefined,
  });
  cleanups.push(() => guest.close());
  return guest;
}

const lastRequest = (memory: GuestMemory) =>
  new DataView(memory.bytes.buffer, memory.bytes.byteOffset, 16).getUint32(8, true);

/** Replies the clients saw (released by any node) and the ones survivors re-emitted. */
interface Ledger {
  released: number[];
  reemitted: number[];
}

interface Node {
  name: string;
  secondary: Secondary;
  port: number;
  memory: GuestMemory;
  guest: InProcessGuest<number> | null;
  takeover: Promise<TakeoverEvent>;
}

async function startNode(name: string, arbiter: InProcessArbiter, ledger: Ledger): Promise<Node> {
  const node = { name, guest: null } as Node;
  const { secondary, port, memory } = await startSecondary({
    arbiter,
    nodeId: name,
    takeover: ({ memory: restored }) => {
      node.guest = workload(restored);
      return {
        guest: node.guest,
        output: (_target, data) => ledger.released.push(Number(decoder.decode(data))),
        reemit: (_target, data) => ledger.reemitted.push(Number(decoder.decode(data))),
      };
    },
  });
  Object.assign(node, {
    secondary,
    port,
    memory,
    takeover: new Promise<TakeoverEvent>((resolve) => secondary.once('takeover', resolve)),
  });
  return node;
}

/**
 * Clients writing continuously: requests 1, 2, 3, ... to whichever guest serves now, a few per
 * millisecond, bounded. `follow` points them at a survivor, resuming after the last request its
 * state holds (the ones sent to the old node after its last checkpoint never had an effect).
 */
function clients(first: InProcessGuest<number>) {
  let guest = first;
  let next = 1;
  let sent = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < 5 && sent < 200_000; i++, sent++) guest.submit(next++);
  }, 1);
  cleanups.push(() => clearInterval(timer));
  return {
    follow(to: InProcessGuest<number>, resumeAfter: number) {
      guest = to;
      next = resumeAfter + 1;
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * The zero-loss check after a switchover: the replies the clients saw are exactly the totals of
 * requests 1..k, where k is the last request in the survivor's state, no gap and none ahead; every
 * re-emitted reply is one the clients already saw.
 */
function checkHop(ledger: Ledger, restoredRequest: number): void {
  const seen = new Set(ledger.released);
  const ahead = ledger.released.filter((t) => t > totalAfter(restoredRequest));
  expect(ahead, 'replies released ahead of the survivor state').toEqual([]);
  const missing: number[] = [];
  for (let k = 1; k <= restoredRequest; k++) if (!seen.has(totalAfter(k))) missing.push(k);
  expect(missing, 'acknowledged requests whose reply was lost').toEqual([]);
  expect(ledger.reemitted.every((t) => seen.has(t))).toBe(true);
}

describe('planned switchover and re-protection', () => {
  it('hand over A → B → C → D under load with zero lost output; every survivor continues the epochs, seq and generation', async () => {
    const arbiter = new InProcessArbiter();
    const ledger: Ledger = { released: [], reemitted: [] };
    const memoryA = createGuestMemory({ sizeBytes: SIZE });
    const guestA = workload(memoryA);
    let target = await startNode('B', arbiter, ledger);
    let primary: Primary = makePrimary(
      guestA,
      (_t, data) => ledger.released.push(Number(decoder.decode(data))),
      target.port,
      arbiter,
      { nodeId: 'A' },
    );
    await primary.start();
    const load = clients(guestA);
    let generation = 1;
    for (const next of ['C', 'D', null]) {
      await until(() => primary.status().committedEpoch >= 20, 20_000, 'epochs before the switchover');
      const before = primary.status();
      const event = await primary.switchover();
      expect(primary.state).toBe('handed-over');
      expect(event.generation).toBe(generation);
      expect(event.durationMs).toBeGreaterThanOrEqual(event.drainMs);
      expect(primary.status().switchover).toEqual(event);
      const takeover = await target.takeover;
      expect(takeover).toMatchObject({ trigger: 'handover', epoch: event.epoch, generation: generation + 1 });
      const restored = lastRequest(target.memory);
      // Everything acknowledged before the switchover was released by the old node: nothing to add.
      checkHop(ledger, restored);
      expect(Math.max(...ledger.released)).toBe(totalAfter(restored));
      // The survivor continues the output seq of the old primary.
      expect(target.secondary.status().cork.nextSeq).toBe(primary.status().cork.nextSeq);
      expect(primary.status().cork.nextSeq).toBeGreaterThanOrEqual(before.cork.nextSeq);
      load.follow(target.guest!, restored);
      generation++;
      await until(() => ledger.released.length > 0 && Math.max(...ledger.released) > totalAfter(restored));
      if (next === null) break;

      // Re-protect the survivor with a fresh secondary; the survivor's counters go on.
      const survivor = target;
      const nextNode = await startNode(next, arbiter, ledger);
      const reprotected = survivor.secondary.protect({
        secondary: { port: nextNode.port },
        epochMs: 10,
        keepalive: TEST_KEEPALIVE,
      });
      cleanups.push(() => reprotected.close());
      expect(() => survivor.secondary.protect({ secondary: { port: nextNode.port } })).toThrow(
        EngineStateError,
      );
      await reprotected.start();
      expect(survivor.secondary.state).toBe('reprotected');
      expect(nextNode.secondary.state).toBe('protecting');
      const status = reprotected.status();
      expect(status).toMatchObject({ state: 'protected', generation, fencingToken: generation });
      expect(status.committedEpoch).toBeGreaterThan(event.epoch);
      expect(status.cork.nextSeq).toBeGreaterThanOrEqual(survivor.secondary.status().cork.nextSeq);
      expect(nextNode.secondary.status()).toMatchObject({ generation, fencingToken: generation });
      primary = reprotected;
      target = nextNode;
    }
    load.stop();
    expect(target.secondary.status()).toMatchObject({ state: 'serving', generation: 4, fencingToken: 4 });
  });

  it('keep the survivor serving alone when the new secondary cannot be reached', async () => {
    const arbiter = new InProcessArbiter();
    const ledger: Ledger = { released: [], reemitted: [] };
    const b = await startNode('B', arbiter, ledger);
    const guestA = workload(createGuestMemory({ sizeBytes: SIZE }));
    const a = makePrimary(guestA, () => undefined, b.port, arbiter, { nodeId: 'A' });
    await a.start();
    for (let n = 1; n <= 50; n++) guestA.submit(n);
    await a.switchover();
    await b.takeover;
    const restored = lastRequest(b.memory);
    expect(restored).toBe(50);
    // A port nobody listens on.
    const deadPort = await freePort();
    const p = b.secondary.protect({ secondary: { port: deadPort }, attachTimeoutMs: 300 });
    await expect(p.start()).rejects.toBeInstanceOf(AttachError);
    expect(b.secondary.state).toBe('serving');
    // Output corked during the attempt leaves, and new output leaves at once again.
    const before = ledger.released.length;
    b.guest!.submit(51);
    await until(() => ledger.released.length > before, 5000, 'a reply after the failed attach');
    expect(ledger.released.at(-1)).toBe(totalAfter(51));
    // It can try again.
    const c = await startNode('C', arbiter, ledger);
    const again = b.secondary.protect({
      secondary: { port: c.port },
      epochMs: 10,
      keepalive: TEST_KEEPALIVE,
    });
    cleanups.push(() => again.close());
    await again.start();
    expect(again.status()).toMatchObject({ state: 'protected', generation: 2 });
    b.guest!.submit(52);
    await again.checkpoint();
    await sleep(1);
    expect(ledger.released.at(-1)).toBe(totalAfter(52));
  });

  it('protect a survivor again after its new secondary was lost: it wins the next generation, serves alone, then a third secondary protects it', async () => {
    const arbiter = new InProcessArbiter();
    const ledger: Ledger = { released: [], reemitted: [] };
    const b = await startNode('B', arbiter, ledger);
    const guestA = workload(createGuestMemory({ sizeBytes: SIZE }));
    const a = makePrimary(
      guestA,
      (_t, data) => ledger.released.push(Number(decoder.decode(data))),
      b.port,
      arbiter,
      { nodeId: 'A' },
    );
    await a.start();
    const load = clients(guestA);
    await until(() => a.status().committedEpoch >= 5, 20_000, 'epochs');
    await a.switchover();
    await b.takeover;
    load.follow(b.guest!, lastRequest(b.memory));

    const c = await startNode('C', arbiter, ledger);
    const withC = b.secondary.protect({
      secondary: { port: c.port },
      epochMs: 10,
      keepalive: TEST_KEEPALIVE,
    });
    cleanups.push(() => withC.close());
    await withC.start();
    // C goes away: B must win generation 3 before releasing anything alone.
    await c.secondary.close();
    await until(() => withC.state === 'unprotected', 10_000, 'B unprotected');
    expect(withC.status()).toMatchObject({ generation: 3, fencingToken: 3 });
    const served = ledger.released.length;
    await until(() => ledger.released.length > served, 5000, 'B serving alone');

    const d = await startNode('D', arbiter, ledger);
    const withD = withC.protect({ secondary: { port: d.port }, epochMs: 10, keepalive: TEST_KEEPALIVE });
    cleanups.push(() => withD.close());
    expect(() => withC.protect({ secondary: { port: d.port } })).toThrow(EngineStateError);
    await withD.start();
    expect(withC.state).toBe('reprotected');
    expect(withD.status()).toMatchObject({ state: 'protected', generation: 3, fencingToken: 3 });
    expect(withD.status().committedEpoch).toBeGreaterThan(withC.status().committedEpoch);
    await until(() => withD.status().committedEpoch >= withC.status().committedEpoch + 5, 20_000, 'epochs');
    const event = await withD.switchover();
    const takeover = await d.takeover;
    expect(takeover).toMatchObject({ trigger: 'handover', epoch: event.epoch, generation: 4 });
    load.stop();
    checkHop(ledger, lastRequest(d.memory));
    expect(Math.max(...ledger.released)).toBe(totalAfter(lastRequest(d.memory)));
  });

  it('refuse switchover() outside protection and protect() outside serving, with typed errors', async () => {
    const arbiter = new InProcessArbiter();
    const ledger: Ledger = { released: [], reemitted: [] };
    const b = await startNode('B', arbiter, ledger);
    const guestA = workload(createGuestMemory({ sizeBytes: SIZE }));
    const a = makePrimary(guestA, () => undefined, b.port, arbiter, { nodeId: 'A' });
    await expect(a.switchover()).rejects.toBeInstanceOf(EngineStateError);
    expect(() => b.secondary.protect({ secondary: { port: 1 } })).toThrow(EngineStateError);
  });
});
