import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Channel,
  ChannelClosedError,
  ConnectError,
  connect,
  createServer,
  FrameTooLargeError,
  InvalidArgumentError,
  InvalidOptionError,
  type Message,
} from '../src/index.js';
import { closePair, collect, openPair, type Pair, randomBytes } from './helpers.js';

let pair: Pair | null = null;
afterEach(async () => {
  if (pair) await closePair(pair);
  pair = null;
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('channel round trip over loopback', () => {
  it('carries empty, 1-byte, page-sized and 64 MiB frames intact, with type and flags', async () => {
    pair = await openPair();
    const payloads = [
      new Uint8Array(0),
      new Uint8Array([0xab]),
      randomBytes(4096),
      randomBytes(64 * 1024 * 1024),
    ];
    const received = collect(pair.accepted, payloads.length);
    for (const [i, p] of payloads.entries()) pair.client.send(i + 1, p, 0x100 + i);
    const messages = await received;
    messages.forEach((m, i) => {
      expect(m.type).toBe(i + 1);
      expect(m.flags).toBe(0x100 + i);
      expect(m.payload.byteLength).toBe(payloads[i]!.byteLength);
      expect(m.payload).toBeInstanceOf(Uint8Array);
      expect(sha(m.payload)).toBe(sha(payloads[i]!));
    });
  });

  it('carries frames checksummed with xxh64 to a peer that sends crc32c', async () => {
    pair = await openPair();
    const acceptedPromise = new Promise<Channel>((resolve) => pair!.server.once('channel', resolve));
    const xxhClient = await connect({ port: pair.port, checksum: 'xxh64' });
    const accepted = await acceptedPromise;
    const payloads = [new Uint8Array(0), randomBytes(100), randomBytes(3 * 1024 * 1024)];
    const received = collect(accepted, payloads.length);
    for (const p of payloads) xxhClient.send(1, p);
    const messages = await received;
    for (const [i, m] of messages.entries()) expect(sha(m.payload)).toBe(sha(payloads[i]!));
    const replies = collect(xxhClient, 1);
    accepted.send(2, payloads[1]!);
    expect(sha((await replies)[0]!.payload)).toBe(sha(payloads[1]!));
    xxhClient.destroy();
    expect(() => createServer({ checksum: 'md5' as never })).toThrow(/checksum/);
  });

  it('gathers a payload given as parts without the caller joining them', async () => {
    pair = await openPair();
    const parts = [randomBytes(10), new Uint8Array(0), randomBytes(5000), randomBytes(1)];
    const received = collect(pair.accepted, 1);
    pair.client.send(7, parts);
    const [m] = await received;
    expect([...m!.payload]).toEqual(parts.flatMap((p) => [...p]));
  });

  it('delivers 100k random-size frames in order, each exactly once, honouring backpressure', async () => {
    pair = await openPair({ highWaterMarkBytes: 256 * 1024 });
    const count = 100_000;
    const sizes = Array.from({ length: count }, (_, i) => (i * 7919) % 2048);
    let next = 0;
    const done = new Promise<void>((resolve, reject) => {
      pair!.accepted.on('message', (m: Message) => {
        try {
          const view = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
          expect(m.payload.byteLength).toBe(sizes[next]! + 4);
          expect(view.getUint32(0, true)).toBe(next);
          next++;
          if (next === count) resolve();
        } catch (err) {
          reject(err);
        }
      });
    });
    let sent = 0;
    const pump = () => {
      while (sent < count) {
        const payload = new Uint8Array(sizes[sent]! + 4);
        new DataView(payload.buffer).setUint32(0, sent, true);
        sent++;
        if (!pair!.client.send(1, payload)) {
          pair!.client.once('drain', pump);
          return;
        }
      }
    };
    pump();
    await done;
    expect(next).toBe(count);
    expect(pair.client.stats().framesSent).toBe(count);
    expect(pair.accepted.stats().framesReceived).toBe(count);
    expect(pair.accepted.stats().bytesReceived).toBe(pair.client.stats().bytesSent);
  });

  it('serves messages through an async iterator that ends when the peer closes', async () => {
    pair = await openPair();
    for (let i = 0; i < 10; i++) pair.client.send(i, new Uint8Array([i]));
    const closing = pair.client.close();
    const types: number[] = [];
    for await (const m of pair.accepted) types.push(m.type);
    await closing;
    expect(types).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(() => pair!.accepted[Symbol.asyncIterator]().next()).toThrow(InvalidArgumentError);
  });

  it('delivers nothing before a consumer subscribes, and loses nothing either', async () => {
    pair = await openPair();
    pair.client.send(1, new Uint8Array([1]));
    pair.client.send(2, new Uint8Array([2]));
    await new Promise((r) => setTimeout(r, 50));
    const messages = await collect(pair.accepted, 2);
    expect(messages.map((m) => m.type)).toEqual([1, 2]);
  });
});

describe('send validation', () => {
  it('refuses oversized payloads, bad types and flags, and sends after close, with typed errors', async () => {
    pair = await openPair({ maxPayloadBytes: 1000 });
    expect(() => pair!.client.send(1, new Uint8Array(1001))).toThrow(FrameTooLargeError);
    expect(() => pair!.client.send(1, [new Uint8Array(600), new Uint8Array(401)])).toThrow(
      FrameTooLargeError,
    );
    expect(() => pair!.client.send(256, new Uint8Array(1))).toThrow(InvalidArgumentError);
    expect(() => pair!.client.send(1, new Uint8Array(1), 70000)).toThrow(InvalidArgumentError);
    expect(() => pair!.client.send(1, ['x' as unknown as Uint8Array])).toThrow(InvalidArgumentError);
    // Nothing invalid reached the wire: the next good frame is the first one received.
    const received = collect(pair.accepted, 1);
    pair.client.send(5, new Uint8Array(1000));
    expect((await received)[0]!.type).toBe(5);
    await pair.client.close();
    expect(() => pair!.client.send(1, new Uint8Array(1))).toThrow(ChannelClosedError);
  });

  it('validates options with errors that name the option', async () => {
    expect(() => createServer({ maxPayloadBytes: -1 })).toThrow(/maxPayloadBytes/);
    expect(() => createServer({ maxPayloadBytes: 2 ** 33 })).toThrow(InvalidOptionError);
    expect(() => createServer({ highWaterMarkBytes: 0 })).toThrow(/highWaterMarkBytes/);
    expect(() => createServer({ maxPayloadBytes: 100, maxQueuedBytes: 50 })).toThrow(/maxQueuedBytes/);
    expect(() => createServer({ port: 70000 })).toThrow(/port/);
    expect(() => createServer({ host: '' })).toThrow(/host/);
    await expect(connect({ port: 0 })).rejects.toThrow(/port/);
    await expect(connect({} as never)).rejects.toThrow(/port/);
    await expect(connect({ port: 1, connectTimeoutMs: 0 })).rejects.toThrow(/connectTimeoutMs/);
  });

  it('rejects connect to a closed port with ConnectError', async () => {
    const server = createServer();
    const { port } = await server.listen();
    await server.close();
    const err = await connect({ port }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe('MC_ERR_CONNECT');
    expect((err as ConnectError).cause).toBeInstanceOf(Error);
  });
});
