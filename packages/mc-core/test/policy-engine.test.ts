import { setTimeout as sleep } from 'node:timers/promises';
import { type Channel, createServer } from '@microcheckpoint/transport-tcp';
import { afterEach, describe, expect, it } from 'vitest';
import { InProcessArbiter } from '../src/arbiter/in-process.js';
import type { PolicyEvent } from '../src/engine/policy-runner.js';
import { InvalidArgumentError, InvalidOptionError } from '../src/errors.js';
import { createGuestMemory } from '../src/guest-memory.js';
import { createInProcessGuest } from '../src/guests/in-process.js';
import { createWorkerGuest } from '../src/guests/worker.js';
import type { PolicyInput } from '../src/policy/contract.js';
import { defaultPolicy, throttleDown, throttleUp } from '../src/policy/default-policy.js';
import { createPrimary } from '../src/primary.js';
import {
  decodeMessage,
  encodeMessage,
  MESSAGE_TYPES,
  PROTOCOL_VERSION,
  ROLES,
} from '../src/protocol/messages.js';
import { FieldRangeError, TruncatedMessageError } from '../src/protocol/protocol-errors.js';
import { cleanups, makePrimary, runCleanups, startSecondary, until } from './engine-helpers.js';
import { xorshift } from './helpers.js';

afterEach(runCleanups);

const PAGE = 4096;
const SIZE = 4 << 20;

/** A worker guest writing random pages; `pace[0]` = ms between writes (0: flat out). */
function randomWriter(initialPaceMs: number) {
  const memory = createGuestMemory({ sizeBytes: SIZE });
  const pace = new Int32Array(new SharedArrayBuffer(8));
  pace[0] = initialPaceMs;
  const guest = createWorkerGuest({
    memory,
    module: new URL('./fixtures/random-writer.ts', import.meta.url),
    data: { pace: pace.buffer, seed: 11 },
    output: () => undefined,
  });
  cleanups.push(() => guest.close());
  return { memory, guest, pace };
}

/** Index of the first event matching, or -1. */
function firstIndex(events: PolicyEvent[], test: (e: PolicyEvent) => boolean, from = 0): number {
  for (let i = from; i < events.length; i++) if (test(events[i]!)) return i;
  return -1;
}

const isThrottleUp = (e: PolicyEvent) =>
  e.decision.kind === 'throttle' && e.decision.percent > (e.input?.throttlePercent ?? 0);
const isThrottleDown = (e: PolicyEvent) =>
  e.decision.kind === 'throttle' && e.decision.percent < (e.input?.throttlePercent ?? 100);

describe('the checkpoint policy in the engine, over TCP', () => {
  it('keep every checkpoint within the budget in force while a worker dirties flat out (HELLO budget, then a lower one by BUDGET); throttle, then ease when the writer slows', async () => {
    const arbiter = new InProcessArbiter();
    const budget = 64 * PAGE;
    const { secondary, port } = await startSecondary({
      arbiter,
      memoryOptions: { sizeBytes: SIZE },
      maxCheckpointBytes: budget,
    });
    const { guest, pace } = randomWriter(2);
    const primary = makePrimary(guest, () => undefined, port, arbiter, { epochMs: 20, policyIntervalMs: 1 });
    const events: PolicyEvent[] = [];
    primary.on('policy', (e) => events.push(e));
    const commits: Array<{ epoch: number; bytes: number }> = [];
    secondary.on('commit', ({ epoch, bytes }) => commits.push({ epoch, bytes }));
    const secondaryErrors: Error[] = [];
    secondary.on('error', (err) => secondaryErrors.push(err));
    const limits: Array<{ fromEpoch: number; bytes: number }> = [{ fromEpoch: 0, bytes: budget }];

    await primary.start();
    expect(primary.status().policy.budgetBytes).toBe(budget);
    expect(primary.status().policy.dirtyQuotaPages).toBe(48);
    const fastFrom = events.length;
    Atomics.store(pace, 0, 0);
    await until(() => primary.status().policy.throttlePercent >= 30, 30_000, 'throttle at 30%');

    // The secondary halves its budget at run time.
    const change = secondary.setBudget(32 * PAGE);
    expect(change.maxCheckpointBytes).toBe(32 * PAGE);
    limits.push({ fromEpoch: change.fromEpoch, bytes: 32 * PAGE });
    await until(() => primary.status().policy.budgetBytes === 32 * PAGE, 5000, 'BUDGET at the primary');
    expect(primary.status().policy.dirtyQuotaPages).toBe(24);
    await until(() => (commits.at(-1)?.epoch ?? 0) >= change.fromEpoch + 20, 30_000, '20 commits under it');

    // The writer slows to a trickle: the throttle eases off step by step, down to 0.
    const slowFrom = events.length;
    Atomics.store(pace, 0, 5);
    await until(() => primary.status().policy.throttlePercent === 0, 30_000, 'throttle eased to 0');
    await primary.checkpoint();

    const limitFor = (epoch: number) => {
      let limit = 0;
      for (const l of limits) if (epoch >= l.fromEpoch) limit = l.bytes;
      // Epochs the primary may have captured under the old budget keep it (see setBudget).
      return epoch < change.fromEpoch ? budget : limit;
    };
    const over = commits.filter((c) => c.bytes > limitFor(c.epoch));
    expect(over).toEqual([]);
    expect(commits.filter((c) => c.epoch >= change.fromEpoch).length).toBeGreaterThan(10);
    expect(secondaryErrors).toEqual([]);
    expect(secondary.state).toBe('protecting');
    expect(primary.state).toBe('protected');
    expect(primary.status().policy.blockedBytes).toBe(0);

    // In order: checkpoints cut early (or waited for) first, then the throttle, and the easing once the
    // writer slowed.
    const shorten = firstIndex(
      events,
      (e) => e.decision.kind === 'shorten-epoch' || e.decision.kind === 'pause',
      fastFrom,
    );
    const up = firstIndex(events, isThrottleUp, fastFrom);
    const ease = firstIndex(events, isThrottleDown, slowFrom);
    expect(shorten).toBeGreaterThanOrEqual(0);
    expect(up).toBeGreaterThan(shorten);
    expect(ease).toBeGreaterThan(up);
    // Each change walks the auto-converge ladder one step (0 → 20 → 30 … → 99, and back down).
    const steps = events.filter((e) => e.decision.kind === 'throttle');
    for (const e of steps) {
      const from = e.input!.throttlePercent;
      expect([throttleUp(from), throttleDown(from)]).toContain(e.throttlePercent);
    }
    expect(steps.some((e) => e.throttlePercent === 30)).toBe(true);
    expect(steps.at(-1)!.throttlePercent).toBe(0);
    for (const e of events) expect(e.source).toBe('policy');
    const status = primary.status().policy;
    expect(status.linkRateBytesPerSec).toBeGreaterThan(0);
    expect(status.decisionChanges).toBe(events.length);
  });

  it('keep an in-process guest that is handed requests flat out within the budget, and take a larger BUDGET at once', async () => {
    const arbiter = new InProcessArbiter();
    const budget = 16 * PAGE;
    const { secondary, port } = await startSecondary({
      arbiter,
      memoryOptions: { sizeBytes: SIZE },
      maxCheckpointBytes: budget,
    });
    const memory = createGuestMemory({ sizeBytes: SIZE });
    const next = xorshift(5);
    const guest = createInProcessGuest<number>({
      memory,
      // Each request dirties one random page.
      handler: (n) => memory.write((next() % memory.pageCount) * PAGE, new Uint8Array([n & 255, 1])),
      output: () => undefined,
    });
    cleanups.push(() => guest.close());
    const primary = makePrimary(guest, () => undefined, port, arbiter, { epochMs: 20, policyIntervalMs: 1 });
    const commits: Array<{ epoch: number; bytes: number }> = [];
    secondary.on('commit', ({ epoch, bytes }) => commits.push({ epoch, bytes }));
    await primary.start();
    // Keeps the guest busy for at least 200 rounds and until `done`, however slowly a loaded host
    // commits; 30 s is only the hang guard.
    const drive = async (done: () => boolean, what: string): Promise<void> => {
      const deadline = performance.now() + 30_000;
      for (let round = 0; round < 200 || !done(); round++) {
        if (performance.now() > deadline)
          throw new Error(`${what} not reached within 30 s (${commits.length} commits in all)`);
        while (guest.queuedRequests < 256) guest.submit(round);
        await sleep(1);
      }
    };
    await drive(() => commits.length > 10, 'ten commits under the first budget');
    const { fromEpoch } = secondary.setBudget(64 * PAGE);
    await drive(
      () => commits.filter((c) => c.epoch >= fromEpoch).length > 10,
      'ten commits under the raised budget',
    );
    await primary.checkpoint();
    const over = commits.filter((c) => c.bytes > (c.epoch >= fromEpoch ? 64 * PAGE : budget));
    expect(over).toEqual([]);
    expect(commits.length).toBeGreaterThan(20);
    expect(primary.state).toBe('protected');
    expect(secondary.state).toBe('protecting');
    expect(primary.status().policy.budgetBytes).toBe(64 * PAGE);
  });

  it('never ship a capture larger than the budget: hold it back with the guest paused until the secondary raises its budget', async () => {
    const arbiter = new InProcessArbiter();
    const { secondary, port } = await startSecondary({
      arbiter,
      memoryOptions: { sizeBytes: SIZE },
      maxCheckpointBytes: 16 * PAGE,
    });
    const memory = createGuestMemory({ sizeBytes: SIZE });
    const released: number[] = [];
    const guest = createInProcessGuest<number>({
      memory,
      // One request writes `pages` pages at once: more than the whole budget, past any quota.
      handler: (pages, context) => {
        memory.write(0, new Uint8Array(pages * PAGE).fill(7));
        context.output(1, new Uint8Array([pages]));
      },
      output: () => undefined,
    });
    cleanups.push(() => guest.close());
    const primary = makePrimary(guest, (_t, d) => released.push(d[0]!), port, arbiter, { epochMs: 20 });
    const commits: Array<{ epoch: number; bytes: number }> = [];
    secondary.on('commit', ({ epoch, bytes }) => commits.push({ epoch, bytes }));
    const errors: Error[] = [];
    primary.on('error', (err) => errors.push(err));
    const events: PolicyEvent[] = [];
    primary.on('policy', (e) => events.push(e));
    await primary.start();
    guest.submit(32);
    await until(() => primary.status().policy.blockedBytes > 0, 10_000, 'the capture held back');
    expect(primary.status().policy.blockedBytes).toBe(32 * PAGE);
    expect(guest.state).toBe('paused');
    expect(errors.some((e) => (e as { code?: string }).code === 'MC_ERR_CHECKPOINT_TOO_LARGE')).toBe(true);
    expect(events.at(-1)).toMatchObject({ source: 'budget', decision: { kind: 'pause' } });
    guest.submit(1); // queued: the guest waits
    await sleep(50);
    expect(released).toEqual([]);
    expect(guest.handledRequests).toBe(1);
    expect(commits.every((c) => c.bytes <= 16 * PAGE)).toBe(true);
    // A larger budget lets the held-back checkpoint go, whole.
    secondary.setBudget(64 * PAGE);
    await until(() => released.length === 2, 10_000, 'output released after the larger checkpoint');
    expect(released).toEqual([32, 1]);
    expect(commits.some((c) => c.bytes === 32 * PAGE)).toBe(true);
    expect(primary.status().policy.blockedBytes).toBe(0);
    expect(primary.state).toBe('protected');
    expect(secondary.state).toBe('protecting');
  });

  it('honour a user policy that pauses the guest, and report a policy that throws while the default decides', async () => {
    const arbiter = new InProcessArbiter();
    const { port } = await startSecondary({ arbiter, memoryOptions: { sizeBytes: SIZE } });
    const { guest, pace } = randomWriter(1);
    let mode: 'default' | 'pause' | 'throw' = 'default';
    const seen: PolicyInput[] = [];
    const primary = makePrimary(guest, () => undefined, port, arbiter, {
      epochMs: 20,
      policy: (input) => {
        seen.push(input);
        if (mode === 'throw') throw new Error('policy bug');
        if (mode === 'pause') return { kind: 'pause', reason: 'the test says so' };
        return defaultPolicy(input);
      },
    });
    const events: PolicyEvent[] = [];
    // Right after a pause decision is applied: the guest is pausing or paused, held by the policy.
    const afterPause: Array<{ guest: string; held: boolean }> = [];
    primary.on('policy', (e) => {
      events.push(e);
      if (e.decision.kind === 'pause')
        queueMicrotask(() =>
          afterPause.push({ guest: guest.state, held: primary.status().policy.pausedByPolicy }),
        );
    });
    const errors: Error[] = [];
    primary.on('error', (err) => errors.push(err));
    await primary.start();
    mode = 'pause';
    await until(() => afterPause.length >= 1, 10_000, 'a pause decision');
    for (const seen of afterPause) {
      expect(['pausing', 'paused']).toContain(seen.guest);
      expect(seen.held).toBe(true);
    }
    expect(events.find((e) => e.decision.kind === 'pause')).toMatchObject({
      source: 'policy',
      decision: { reason: 'the test says so' },
    });
    mode = 'throw';
    await until(() => errors.some((e) => e.message === 'policy bug'), 10_000, 'the error reported');
    mode = 'default';
    const writes = Atomics.load(pace, 1);
    await until(() => Atomics.load(pace, 1) > writes + 20, 10_000, 'the guest runs again');
    await primary.checkpoint();
    expect(primary.state).toBe('protected');
    expect(Object.isFrozen(seen[0])).toBe(true);
  });

  it('honour a user policy that fails over: last checkpoint acknowledged, guest paused here, the secondary takes over from it', async () => {
    const arbiter = new InProcessArbiter();
    const takeoverMemory = createGuestMemory({ sizeBytes: SIZE });
    let takenOver: { epoch: number } | null = null;
    const { secondary, port } = await startSecondary({
      arbiter,
      memory: takeoverMemory,
      takeover: ({ epoch }) => {
        takenOver = { epoch };
        const guest = createInProcessGuest({
          memory: takeoverMemory,
          handler: () => undefined,
          output: () => undefined,
        });
        cleanups.push(() => guest.close());
        return { guest, output: () => undefined };
      },
    });
    const { guest } = randomWriter(1);
    let failover = false;
    const primary = makePrimary(guest, () => undefined, port, arbiter, {
      epochMs: 20,
      policy: (input) => (failover ? { kind: 'failover', reason: 'host maintenance' } : defaultPolicy(input)),
    });
    const events: PolicyEvent[] = [];
    primary.on('policy', (e) => events.push(e));
    await primary.start();
    failover = true;
    await until(() => primary.state === 'handed-over', 10_000, 'handed over');
    expect(guest.state).toBe('paused');
    const acked = primary.status().committedEpoch;
    expect(events.at(-1)).toMatchObject({ decision: { kind: 'failover', reason: 'host maintenance' } });
    await until(() => secondary.state === 'serving', 30_000, 'the secondary serving');
    expect(takenOver!.epoch).toBeGreaterThanOrEqual(acked);
    // Nothing ran on the primary after its last checkpoint: the secondary's image is the primary's memory.
    const image = new Uint8Array(SIZE);
    secondary.materialize(image);
    expect(Buffer.from(image).equals(Buffer.from(guest.memory.bytes.subarray(0, SIZE)))).toBe(true);
  });

  it('refuse a policy that is not a function, a BUDGET below one page or a malformed one, with typed errors', async () => {
    const memory = createGuestMemory({ sizeBytes: 1 << 20 });
    const guest = createInProcessGuest({ memory, handler: () => undefined, output: () => undefined });
    cleanups.push(() => guest.close());
    const base = { guest, output: () => undefined, secondary: { port: 1 }, arbiter: new InProcessArbiter() };
    expect(() => createPrimary({ ...base, policy: 'eager' as never })).toThrow(InvalidOptionError);
    expect(() => createPrimary({ ...base, policyIntervalMs: 0 })).toThrow(/option policyIntervalMs/);

    const { secondary } = await startSecondary({ memoryOptions: { sizeBytes: 1 << 20 } });
    expect(() => secondary.setBudget(PAGE - 1)).toThrow(InvalidArgumentError);
    expect(() => secondary.setBudget(Number.NaN)).toThrow(InvalidArgumentError);
    expect(() => secondary.setBudget((1 << 20) + PAGE)).toThrow(InvalidArgumentError);

    for (const [name, payload, expected] of [
      [
        'below one page',
        encodeMessage({ kind: 'BUDGET', memoryBudgetBytes: 0, maxCheckpointBytes: PAGE - 1 }).parts,
        FieldRangeError,
      ],
      ['truncated', [new Uint8Array(3)], TruncatedMessageError],
    ] as const) {
      // A fake secondary over a real socket: answers HELLO, then sends the bad BUDGET.
      const server = createServer({ host: '127.0.0.1', port: 0 });
      cleanups.push(() => server.close());
      const reported = new Promise<{ type: number; payload: Uint8Array }>((resolve) => {
        server.on('channel', (channel: Channel) => {
          channel.on('message', (m) => {
            const message = decodeMessage(m.type, m.payload);
            if (message.kind === 'SYNC_BEGIN') channel.send(MESSAGE_TYPES.BUDGET, payload);
            else if (message.kind === 'HELLO') {
              const reply = encodeMessage({
                ...message,
                role: ROLES.secondary,
                protocolVersion: PROTOCOL_VERSION,
                maxCheckpointBytes: 1 << 20,
                maxInFlight: 1,
                committedEpoch: 0,
                heartbeatPort: 0,
                nodeId: 'fake-secondary',
              });
              channel.send(reply.type, reply.parts);
            } else if (message.kind === 'ERROR') resolve(m);
          });
        });
      });
      const { port } = await server.listen();
      const primary = makePrimary(guest, () => undefined, port, new InProcessArbiter(), {
        attachTimeoutMs: 5000,
      });
      const lost = new Promise<Error>((resolve) => primary.once('peer-lost', resolve));
      const started = primary.start();
      started.catch(() => undefined);
      const error = await lost;
      expect(error, name).toBeInstanceOf(expected);
      const report = decodeMessage((await reported).type, (await reported).payload);
      expect(report).toMatchObject({ kind: 'ERROR', code: (error as FieldRangeError).code });
      await expect(started).rejects.toThrow();
      await primary.close();
    }
  });
});
