import { setTimeout as sleep } from 'node:timers/promises';
import { createGuestMemory } from '@microcheckpoint/mc-core';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError, KvFormatError } from '../src/errors.js';
import { createKvServer } from '../src/server.js';
import { createKvService, type KvService } from '../src/service.js';
import { connectClient, encode, type TestClient } from './resp-client.js';

const services: KvService[] = [];
const clients: TestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(services.splice(0).map((s) => s.close()));
});

async function start(options: Parameters<typeof createKvService>[0] = {}) {
  const service = await createKvService({
    memory: createGuestMemory({ sizeBytes: 4 * 1024 * 1024 }),
    slotCount: 4096,
    ...options,
  });
  services.push(service);
  return service;
}

async function client(port: number) {
  const c = await connectClient(port);
  clients.push(c);
  return c;
}

describe('KV service over a real socket', () => {
  it('answers the Redis subset', async () => {
    const service = await start();
    const c = await client(service.port);
    expect(await c.call('PING')).toBe('PONG');
    expect(await c.call('SET', 'greeting', 'hello')).toBe('OK');
    expect(await c.call('GET', 'greeting')).toBe('hello');
    expect(await c.call('INCR', 'hits')).toBe(1);
    expect(await c.call('INCR', 'hits')).toBe(2);
    expect(await c.call('MGET', 'greeting', 'missing', 'hits')).toEqual(['hello', null, '2']);
    expect(await c.call('EXISTS', 'greeting', 'missing')).toBe(1);
    expect(await c.call('DEL', 'greeting')).toBe(1);
    expect(await c.call('GET', 'greeting')).toBe(null);
    expect(await c.call('NOPE')).toEqual({ error: "ERR unknown command 'NOPE'" });
    expect(await c.raw('PING\r\n', 1)).toEqual(['PONG']);
  });

  it('answers pipelined commands in order, from several clients at once', async () => {
    const service = await start();
    const [a, b] = await Promise.all([client(service.port), client(service.port)]);
    const commands = (name: string) => Array.from({ length: 2000 }, () => ['INCR', name]);
    const [ra, rb] = await Promise.all([a.pipeline(commands('a')), b.pipeline(commands('b'))]);
    expect(ra).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
    expect(rb).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
    expect(service.guest.handledRequests).toBe(4000);
  });

  it('a protocol error gets its reply after the earlier replies, then the connection closes', async () => {
    const service = await start();
    const c = await client(service.port);
    const replies = await c.raw(
      Buffer.concat([encode(['SET', 'k', 'v']), Buffer.from('*1\r\n$-7\r\n'), encode(['GET', 'k'])]),
      2,
    );
    expect(replies).toEqual(['OK', { error: 'ERR Protocol error: invalid bulk length' }]);
    await c.ended;
    expect(c.received).toEqual([]);
    const d = await client(service.port);
    expect(await d.call('GET', 'k')).toBe('v');
  });

  it('while the guest is paused nothing is executed or answered; a capture then holds the state', async () => {
    const service = await start();
    const c = await client(service.port);
    await c.call('SET', 'before', '1');
    service.memory.capture().release();
    await service.guest.pause();
    const replies = c.pipeline([
      ['SET', 'during', '2'],
      ['GET', 'before'],
    ]);
    await sleep(30);
    expect(c.received).toEqual([]);
    expect(service.table.has(Buffer.from('during'))).toBe(false);
    // Nothing ran since the last capture: the paused guest's memory has no new dirty page.
    expect(service.memory.dirtyPageCount()).toBe(0);
    service.guest.resume();
    expect(await replies).toEqual(['OK', '1']);
    expect(service.memory.dirtyPageCount()).toBeGreaterThan(0);
  });

  it('pushes back on clients while paused, and loses nothing (10000 pipelined commands)', async () => {
    const service = await start();
    const c = await client(service.port);
    await service.guest.pause();
    const replies = c.pipeline(Array.from({ length: 10_000 }, (_, i) => ['SET', `k${i % 500}`, `v${i}`]));
    // Wait for the commands to arrive and the queue to stop growing (10 s is only the hang guard).
    const deadline = Date.now() + 10_000;
    let queued = -1;
    while (service.guest.queuedRequests === 0 || service.guest.queuedRequests !== queued) {
      if (Date.now() > deadline) throw new Error(`the queue did not settle: ${service.guest.queuedRequests}`);
      queued = service.guest.queuedRequests;
      await sleep(100);
    }
    // The queue stopped near the high-water mark instead of swallowing everything.
    expect(service.guest.queuedRequests).toBeLessThan(10_000);
    expect(service.guest.queuedRequests).toBeGreaterThan(0);
    service.guest.resume();
    const all = await replies;
    expect(all).toHaveLength(10_000);
    expect(all.every((r) => r === 'OK')).toBe(true);
    expect(await c.call('GET', 'k499')).toBe('v9999');
  });

  it('a secondary restores the table from checkpointed pages and serves it on its own address', async () => {
    const primary = await start();
    const c = await client(primary.port);
    const replica = createGuestMemory({ sizeBytes: 4 * 1024 * 1024 });
    for (let epoch = 0; epoch < 5; epoch++) {
      await c.pipeline(
        Array.from({ length: 100 }, (_, i) => ['SET', `e${epoch}:${i}`, `value ${epoch}/${i}`]),
      );
      await c.pipeline([
        ['INCR', 'epochs'],
        ['DEL', `e${epoch - 1}:0`],
      ]);
      await primary.guest.pause();
      const capture = primary.memory.capture();
      replica.restorePages(capture.runs, capture.data);
      capture.release();
      primary.guest.resume();
    }
    const secondary = await start({ memory: replica, restore: true });
    expect(secondary.port).not.toBe(primary.port);
    const s = await client(secondary.port);
    expect(await s.call('GET', 'epochs')).toBe('5');
    expect(await s.call('MGET', 'e4:99', 'e3:0', 'e4:0')).toEqual(['value 4/99', null, 'value 4/0']);
    expect(await s.call('EXISTS', ...Array.from({ length: 100 }, (_, i) => `e2:${i}`))).toBe(99);
    expect(await s.call('INCR', 'epochs')).toBe(6);
  });

  it('validates options', async () => {
    await expect(createKvService({ restore: true })).rejects.toThrow(InvalidOptionError);
    await expect(
      createKvService({ memory: createGuestMemory({ sizeBytes: 65536 }), restore: true }),
    ).rejects.toThrow(KvFormatError);
    expect(() => createKvServer({ guest: {} as never })).toThrow(/option guest/);
    const service = await start();
    expect(() => createKvServer({ guest: service.guest, port: 70_000 })).toThrow(/option port/);
    expect(() => createKvServer({ guest: service.guest, maxArgs: 0 })).toThrow(/option maxArgs/);
  });
});
