import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CorkItem,
  type CorkQueue,
  callbackSink,
  createCorkQueue,
  createDedupFilter,
  createItemFrameDecoder,
  InvalidArgumentError,
  InvalidOptionError,
  type ReceivedItem,
  SinkClosedError,
  type SinkError,
  socketSink,
  writableSink,
} from '../src/index.js';

const text = new TextEncoder();
const decode = (data: Uint8Array): string => new TextDecoder().decode(data);

/** A real loopback server; every accepted socket and the server are closed after each test. */
interface Loopback {
  server: Server;
  client: Socket;
  peer: Socket;
}

const cleanup: Array<() => void> = [];
afterEach(() => {
  while (cleanup.length > 0) cleanup.pop()!();
});

async function loopback(): Promise<Loopback> {
  const server = createServer();
  const accepted: Socket[] = [];
  server.on('connection', (socket) => accepted.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const client = new Socket();
  const connected = once(client, 'connect');
  client.connect(address.port, '127.0.0.1');
  const [peer] = (await once(server, 'connection')) as [Socket];
  await connected;
  peer.on('error', () => {});
  client.on('error', () => {});
  cleanup.push(() => {
    client.destroy();
    for (const socket of accepted) socket.destroy();
    server.close();
  });
  return { server, client, peer };
}

/** Collects framed items arriving on a socket. */
function frameCollector(socket: Socket): { items: ReceivedItem[]; arrived(count: number): Promise<void> } {
  const decoder = createItemFrameDecoder();
  const items: ReceivedItem[] = [];
  let waiter: { count: number; resolve: () => void } | undefined;
  socket.on('data', (chunk: Buffer) => {
    items.push(...decoder.push(chunk));
    if (waiter !== undefined && items.length >= waiter.count) waiter.resolve();
  });
  return {
    items,
    arrived: (count) =>
      items.length >= count
        ? Promise.resolve()
        : new Promise((resolve) => {
            waiter = { count, resolve };
          }),
  };
}

function epoch(queue: CorkQueue, n: number, items: Array<[string, Uint8Array]>): void {
  queue.open(n);
  for (const [destination, data] of items) queue.append(destination, data);
  queue.seal(n);
}

describe('socket sink', () => {
  it('writes framed items a receiver decodes with their identity, only after release', async () => {
    const { client, peer } = await loopback();
    const received = frameCollector(peer);
    const queue = createCorkQueue({ source: 'kv', generation: 7 });
    queue.attach('client', socketSink(client));
    const big = new Uint8Array(100_000).map((_, i) => i % 251);
    epoch(queue, 1, [
      ['client', text.encode('+OK\r\n')],
      ['client', big],
    ]);
    epoch(queue, 2, [['client', text.encode(':42\r\n')]]);

    // Sealed is not released: give any premature write time to cross the loopback.
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(received.items).toHaveLength(0);

    queue.release(1);
    await received.arrived(2);
    queue.release(2);
    await received.arrived(3);
    expect(received.items.map((i) => [i.source, i.generation, i.epoch, i.seq])).toEqual([
      ['kv', 7, 1, 0],
      ['kv', 7, 1, 1],
      ['kv', 7, 2, 2],
    ]);
    expect(decode(received.items[0]!.data)).toBe('+OK\r\n');
    expect(received.items[1]!.data).toEqual(big);
    expect(decode(received.items[2]!.data)).toBe(':42\r\n');
  });

  it('raw framing writes exactly the data bytes', async () => {
    const { client, peer } = await loopback();
    const chunks: Buffer[] = [];
    peer.on('data', (chunk: Buffer) => chunks.push(chunk));
    const queue = createCorkQueue();
    queue.attach('c', socketSink(client, { framing: 'raw', noDelay: false }));
    epoch(queue, 1, [
      ['c', text.encode('hello ')],
      ['c', text.encode('world')],
    ]);
    queue.release(1);
    await queue.idle();
    while (Buffer.concat(chunks).length < 11) await once(peer, 'data');
    expect(Buffer.concat(chunks).toString()).toBe('hello world');
  });

  it('a receiver that stops reading holds up only its own destination, then gets everything in order', async () => {
    const { client, peer } = await loopback();
    peer.pause();
    const queue = createCorkQueue({ maxHeldBytes: 256 * 1024 * 1024, highWaterBytes: 128 * 1024 * 1024 });
    queue.attach('slow-socket', socketSink(client));
    const other: CorkItem[] = [];
    queue.attach(
      'fast',
      callbackSink((item) => void other.push(item)),
    );
    const count = 400;
    const payload = new Uint8Array(64 * 1024);
    queue.open(1);
    for (let i = 0; i < count; i++) {
      queue.append('slow-socket', payload);
      queue.append('fast', text.encode(`f${i}`));
    }
    queue.seal(1);
    queue.release(1);
    // The fast destination got everything at once; the socket applied backpressure.
    expect(other).toHaveLength(count);
    const stalled = queue.metrics();
    expect(stalled.pendingItems).toBeGreaterThan(0);
    expect(stalled.inFlightWrites).toBe(1);

    const received = frameCollector(peer);
    peer.resume();
    await received.arrived(count);
    await queue.idle();
    expect(received.items.map((i) => i.seq)).toEqual(Array.from({ length: count }, (_, i) => 2 * i));
    expect(queue.metrics()).toMatchObject({ pendingItems: 0, inFlightWrites: 0, sinkErrors: 0 });
  });

  it('a socket closed by its peer reports every item written to it, and does not crash the process', async () => {
    const { client, peer } = await loopback();
    const closed = once(client, 'close');
    peer.destroy();
    client.end();
    await closed;
    const queue = createCorkQueue();
    const errors: SinkError[] = [];
    queue.on('sink-error', (error) => errors.push(error));
    queue.attach('dead', socketSink(client));
    const alive: CorkItem[] = [];
    queue.attach(
      'alive',
      callbackSink((item) => void alive.push(item)),
    );
    epoch(queue, 1, [
      ['dead', text.encode('a')],
      ['alive', text.encode('b')],
      ['dead', text.encode('c')],
    ]);
    queue.release(1);
    expect(errors.map((e) => [e.item.seq, e.destination, e.code])).toEqual([
      [0, 'dead', 'MC_ERR_SINK'],
      [2, 'dead', 'MC_ERR_SINK'],
    ]);
    expect(errors[0]!.cause).toBeInstanceOf(SinkClosedError);
    expect(alive.map((i) => i.seq)).toEqual([1]);
    expect(queue.metrics().sinkErrors).toBe(2);
  });

  it('validates its arguments', () => {
    expect(() => socketSink({} as Socket)).toThrow(InvalidArgumentError);
    expect(() => socketSink(new Socket(), { framing: 'json' as never })).toThrow(InvalidOptionError);
    expect(() => socketSink(new Socket(), { noDelay: 1 as never })).toThrow(InvalidOptionError);
    expect(() => writableSink(42 as never)).toThrow(InvalidArgumentError);
    expect(() => writableSink(new Writable(), { maxBufferedBytes: -1 })).toThrow(InvalidOptionError);
  });
});

describe('writable sink', () => {
  it('honours a slow Writable: waits for drain, keeps order', async () => {
    const written: string[] = [];
    const slow = new Writable({
      highWaterMark: 64,
      write(chunk: Buffer, _encoding, callback) {
        written.push(chunk.toString());
        setTimeout(callback, 2);
      },
    });
    const queue = createCorkQueue();
    const sink = writableSink(slow, { framing: 'raw', maxBufferedBytes: 64 });
    cleanup.push(() => sink.dispose());
    queue.attach('w', sink);
    queue.open(1);
    for (let i = 0; i < 30; i++) queue.append('w', text.encode(`item-${String(i).padStart(3, '0')}|`));
    queue.seal(1);
    queue.release(1);
    expect(queue.metrics().pendingItems).toBeGreaterThan(0);
    await queue.idle();
    await new Promise<void>((resolve) => slow.end(resolve));
    expect(written.join('')).toBe(
      Array.from({ length: 30 }, (_, i) => `item-${String(i).padStart(3, '0')}|`).join(''),
    );
  });

  it('a Writable that fails: every item is either written or reported, exactly once', async () => {
    const decoder = createItemFrameDecoder();
    const written: number[] = [];
    let writes = 0;
    const failing = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        writes++;
        // From the third write on the device is broken, as a real one stays.
        if (writes >= 3) {
          callback(new Error('disk full'));
          return;
        }
        for (const item of decoder.push(chunk)) written.push(item.seq);
        callback();
      },
    });
    const queue = createCorkQueue();
    const reported: number[] = [];
    queue.on('sink-error', (error) => reported.push(error.item.seq));
    const sink = writableSink(failing);
    queue.attach('w', sink);
    for (let e = 1; e <= 4; e++) {
      queue.open(e);
      // Small items are gathered into one write, large ones are written on their own.
      for (let i = 0; i < 4; i++) queue.append('w', new Uint8Array(i % 2 === 0 ? 10 : 5000));
      queue.seal(e);
      queue.release(e);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await queue.idle();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(sink.lastError?.message).toBe('disk full');
    expect(written.length).toBeGreaterThan(0);
    expect(reported.length).toBeGreaterThan(0);
    expect([...written, ...reported].sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i));
  });
});

describe('callback sinks', () => {
  it('a slow sink does not hold up other destinations and keeps its own order', async () => {
    const queue = createCorkQueue();
    const slow: number[] = [];
    const fast: number[] = [];
    queue.attach(
      'slow',
      callbackSink(async (item) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        slow.push(item.seq);
      }),
    );
    queue.attach(
      'fast',
      callbackSink((item) => void fast.push(item.seq)),
    );
    queue.open(1);
    for (let i = 0; i < 5; i++) {
      queue.append('slow', new Uint8Array(1));
      queue.append('fast', new Uint8Array(1));
    }
    queue.seal(1);
    queue.release(1);
    expect(fast).toEqual([1, 3, 5, 7, 9]);
    expect(slow).toEqual([]);
    expect(queue.metrics()).toMatchObject({ inFlightWrites: 1, pendingItems: 4 });
    await queue.idle();
    expect(slow).toEqual([0, 2, 4, 6, 8]);
  });

  it('a failing sink reports the item it failed on (throw or rejection) and continues', async () => {
    const queue = createCorkQueue();
    const errors: SinkError[] = [];
    queue.on('sink-error', (error) => errors.push(error));
    const got: number[] = [];
    queue.attach(
      'flaky',
      callbackSink((item) => {
        if (item.seq === 0) throw new Error('sync failure');
        if (item.seq === 2) return Promise.reject(new Error('async failure'));
        got.push(item.seq);
      }),
    );
    const other: number[] = [];
    queue.attach(
      'other',
      callbackSink((item) => void other.push(item.seq)),
    );
    epoch(queue, 1, [
      ['flaky', new Uint8Array(1)],
      ['flaky', new Uint8Array(1)],
      ['flaky', new Uint8Array(1)],
      ['other', new Uint8Array(1)],
      ['flaky', new Uint8Array(1)],
    ]);
    queue.release(1);
    await queue.idle();
    expect(errors.map((e) => [e.item.seq, (e.cause as Error).message])).toEqual([
      [0, 'sync failure'],
      [2, 'async failure'],
    ]);
    expect(got).toEqual([1, 4]);
    expect(other).toEqual([3]);
    expect(queue.metrics().sinkErrors).toBe(2);
  });

  it('exactly-once after takeover holds end to end through a socket and the dedup filter', async () => {
    const { client, peer } = await loopback();
    const received = frameCollector(peer);
    const primary = createCorkQueue({ source: 'svc', generation: 1 });
    const secondary = createCorkQueue({ source: 'svc' });
    primary.attach('c', socketSink(client));
    for (let e = 1; e <= 3; e++) {
      epoch(primary, e, [['c', text.encode(`epoch ${e}`)]]);
      secondary.ingest(primary.serialize(e));
    }
    primary.release(2); // ACK 3 never arrives: the primary dies
    await received.arrived(2);
    const second = await loopback();
    const survivorReceived = frameCollector(second.peer);
    secondary.setGeneration(2);
    secondary.attach('c', socketSink(second.client));
    expect(secondary.reemit()).toBe(3);
    await survivorReceived.arrived(3);
    const filter = createDedupFilter({ trackGeneration: true });
    const accepted = [...received.items, ...survivorReceived.items].filter((i) => filter.accept(i));
    expect(accepted.map((i) => [i.seq, decode(i.data)])).toEqual([
      [0, 'epoch 1'],
      [1, 'epoch 2'],
      [2, 'epoch 3'],
    ]);
    // The deposed primary is fenced off once the survivor's generation has been seen.
    expect(filter.check({ source: 'svc', seq: 3, generation: 1 })).toBe('stale-generation');
  });
});
