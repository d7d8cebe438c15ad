import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  GuestClosedError,
  GuestFailedError,
  GuestQueueFullError,
  GuestStateError,
  InvalidOptionError,
  PauseTimeoutError,
} from '../src/errors.js';
import { createGuestMemory } from '../src/guest-memory.js';
import { createInProcessGuest, type RequestHandler } from '../src/guests/in-process.js';
import { until } from './engine-helpers.js';

// A tiny state machine kept in guest memory: request n adds n to a u32 counter at offset 0 and
// outputs the new total.
function counterGuest(
  options: { handler?: RequestHandler<number>; highWaterMark?: number; maxQueuedRequests?: number } = {},
) {
  const memory = createGuestMemory({ sizeBytes: 65536 });
  const outputs: Array<[number, number]> = [];
  const view = new DataView(memory.bytes.buffer, 0, 4);
  const handler: RequestHandler<number> =
    options.handler ??
    ((n, context) => {
      const total = view.getUint32(0, true) + n;
      view.setUint32(0, total, true);
      context.memory.markDirty(0, 4);
      context.output(1, new Uint8Array(new Uint32Array([total]).buffer));
    });
  const guest = createInProcessGuest<number>({
    memory,
    handler,
    output: (target, data) => outputs.push([target, new Uint32Array(data.buffer, data.byteOffset, 1)[0]!]),
    ...(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark }),
    ...(options.maxQueuedRequests === undefined ? {} : { maxQueuedRequests: options.maxQueuedRequests }),
  });
  return { guest, memory, outputs, total: () => view.getUint32(0, true) };
}

describe('in-process guest', () => {
  it('validates its options', () => {
    const memory = createGuestMemory({ sizeBytes: 65536 });
    const handler = () => undefined;
    const output = () => undefined;
    expect(() => createInProcessGuest({ memory: {} as never, handler, output })).toThrow(/option memory/);
    expect(() => createInProcessGuest({ memory, handler: 1 as never, output })).toThrow(/option handler/);
    expect(() => createInProcessGuest({ memory, handler, output: null as never })).toThrow(/option output/);
    expect(() => createInProcessGuest({ memory, handler, output, maxQueuedRequests: 0 })).toThrow(
      InvalidOptionError,
    );
    expect(() =>
      createInProcessGuest({ memory, handler, output, maxQueuedRequests: 4, highWaterMark: 5 }),
    ).toThrow(/option highWaterMark/);
    expect(() => createInProcessGuest({ memory, handler, output, pauseTimeoutMs: -1 })).toThrow(
      /option pauseTimeoutMs/,
    );
    expect(() => createInProcessGuest({ memory, handler, output, requestsPerTurn: 1.5 })).toThrow(
      /option requestsPerTurn/,
    );
  });

  it('handles a request at once when running and idle', () => {
    const { guest, outputs } = counterGuest();
    expect(guest.submit(5)).toBe(true);
    expect(outputs).toEqual([[1, 5]]);
    expect(guest.handledRequests).toBe(1);
  });

  it('pausing means not starting the next request: nothing changes until resume, then requests run in order', async () => {
    const { guest, memory, outputs, total } = counterGuest();
    guest.submit(1);
    await guest.pause();
    expect(guest.state).toBe('paused');
    for (let i = 2; i <= 5; i++) guest.submit(i);
    await sleep(5);
    expect(total()).toBe(1);
    expect(outputs).toHaveLength(1);
    expect(guest.queuedRequests).toBe(4);
    // Paused: a capture now is a consistent image of the state after request 1.
    const capture = memory.capture();
    expect(new Uint32Array(capture.data.buffer, capture.data.byteOffset, 1)[0]).toBe(1);
    capture.release();
    guest.resume();
    await until(() => outputs.length >= 5, 10_000, 'the queued requests handled');
    expect(outputs.map(([, v]) => v)).toEqual([1, 3, 6, 10, 15]);
    expect(guest.queuedRequests).toBe(0);
    guest.resume();
  });

  it('a pause waits for an asynchronous handler to finish, and output goes only inside requests', async () => {
    let finish: (() => void) | undefined;
    const log: string[] = [];
    const { guest } = counterGuest({
      handler: async (n, context) => {
        log.push(`start ${n}`);
        await new Promise<void>((resolve) => (finish = resolve));
        context.output(2, new Uint8Array(4));
        log.push(`end ${n}`);
      },
    });
    guest.submit(1);
    guest.submit(2);
    const paused = guest.pause();
    expect(guest.state).toBe('pausing');
    expect(() => guest.resume()).toThrow(GuestStateError);
    await sleep(5);
    expect(log).toEqual(['start 1']);
    finish!();
    await paused;
    expect(guest.state).toBe('paused');
    expect(log).toEqual(['start 1', 'end 1']);
    guest.resume();
    await until(() => log.length >= 3, 10_000, 'the next request started');
    expect(log).toEqual(['start 1', 'end 1', 'start 2']);
    finish!();
    await sleep(1);
    const outside = createInProcessGuest<number>({
      memory: createGuestMemory({ sizeBytes: 65536 }),
      handler: (_n, context) => {
        setImmediate(() => {
          try {
            context.output(1, new Uint8Array(1));
            log.push('escaped');
          } catch (err) {
            log.push((err as GuestStateError).code);
          }
        });
      },
      output: () => undefined,
    });
    outside.submit(1);
    await until(
      () => log.includes('MC_ERR_GUEST_STATE') || log.includes('escaped'),
      10_000,
      'the late output attempt',
    );
    expect(log.at(-1)).toBe('MC_ERR_GUEST_STATE');
  });

  it('a pause that cannot reach a safe point in time is withdrawn with a typed error', async () => {
    let finish: (() => void) | undefined;
    const { guest } = counterGuest({
      handler: () => new Promise<void>((resolve) => (finish = resolve)),
    });
    guest.submit(1);
    guest.submit(2);
    await expect(guest.pause({ timeoutMs: 20 })).rejects.toThrow(PauseTimeoutError);
    expect(guest.state).toBe('running');
    const first = finish;
    finish!();
    await until(() => guest.handledRequests >= 1 && finish !== first, 10_000, 'the second request started');
    expect(guest.handledRequests).toBe(1);
    finish!();
    await until(() => guest.handledRequests >= 2, 10_000, 'the second request handled');
    expect(guest.handledRequests).toBe(2);
  });

  it('pushes back: submit() returns false at the high-water mark, throws at the cap, and drains', async () => {
    const { guest, outputs } = counterGuest({ highWaterMark: 3, maxQueuedRequests: 5 });
    await guest.pause();
    expect([guest.submit(1), guest.submit(1)]).toEqual([true, true]);
    expect(guest.submit(1)).toBe(false);
    guest.submit(1);
    guest.submit(1);
    expect(() => guest.submit(1)).toThrow(GuestQueueFullError);
    const drained = new Promise<void>((resolve) => guest.on('drain', resolve));
    guest.resume();
    await drained;
    expect(outputs).toHaveLength(5);
  });

  it('yields to the event loop on a long queue, so timers run between turns', async () => {
    const memory = createGuestMemory({ sizeBytes: 65536 });
    let handled = 0;
    const guest = createInProcessGuest<number>({
      memory,
      handler: () => {
        handled++;
      },
      output: () => undefined,
      requestsPerTurn: 10,
    });
    await guest.pause();
    for (let i = 0; i < 100; i++) guest.submit(i);
    guest.resume();
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(handled).toBeGreaterThan(0);
    expect(handled).toBeLessThan(100);
    await until(() => handled >= 100, 10_000, 'all requests handled');
    expect(handled).toBe(100);
  });

  it('fails when the handler throws: error event, pause rejects, no more requests', async () => {
    const { guest } = counterGuest({
      handler: () => {
        throw new Error('boom');
      },
    });
    const errors: Error[] = [];
    guest.on('error', (err) => errors.push(err));
    guest.submit(1);
    expect(guest.state).toBe('failed');
    expect(errors[0]).toBeInstanceOf(GuestFailedError);
    expect((errors[0]!.cause as Error).message).toBe('boom');
    await expect(guest.pause()).rejects.toThrow(GuestFailedError);
    expect(() => guest.submit(2)).toThrow(GuestClosedError);
    expect(() => guest.resume()).toThrow(GuestClosedError);
  });

  it('close waits for the request in flight, then refuses everything', async () => {
    let finish: (() => void) | undefined;
    const { guest } = counterGuest({
      handler: () => new Promise<void>((resolve) => (finish = resolve)),
    });
    guest.submit(1);
    guest.submit(2);
    let closed = false;
    const closing = guest.close().then(() => {
      closed = true;
    });
    await sleep(5);
    expect(closed).toBe(false);
    finish!();
    await closing;
    expect(guest.state).toBe('stopped');
    expect(guest.handledRequests).toBe(1);
    expect(() => guest.submit(3)).toThrow(GuestClosedError);
    await guest.pause();
    await guest.close();
  });

  it('setOutput() reroutes output (the engine installs its cork queue this way)', () => {
    const { guest, outputs } = counterGuest();
    const rerouted: number[] = [];
    guest.setOutput((target) => rerouted.push(target));
    guest.submit(1);
    expect(outputs).toEqual([]);
    expect(rerouted).toEqual([1]);
    expect(() => guest.setOutput(3 as never)).toThrow(InvalidOptionError);
  });
});
