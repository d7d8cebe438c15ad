import { type ChildProcess, spawn } from 'node:child_process';
import { connect as netConnect, createServer as netCreateServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Channel,
  connect,
  createServer,
  encodeFrame,
  FRAME_HEADER_BYTES,
  type Message,
  SendQueueFullError,
  type Server,
  type TransportError,
} from '../src/index.js';
import { collect } from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listening(options = {}): Promise<{ server: Server; port: number; errors: TransportError[] }> {
  const server = createServer(options);
  const errors: TransportError[] = [];
  server.on('channelError', (err) => errors.push(err));
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  return { server, port, errors };
}

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1' }, () => resolve(socket));
    socket.on('error', reject);
    cleanups.push(() => socket.destroy());
  });
}

/** Accepts each channel, echoes every message back and records what it received. */
function echo(server: Server, received: Message[]): void {
  server.on('channel', (channel) =>
    channel.on('message', (m) => {
      received.push(m);
      channel.send(m.type, m.payload);
    }),
  );
}

describe('a peer that sends bad input', () => {
  const cases: Array<[string, (good: Uint8Array) => Uint8Array, string]> = [
    ['garbage', () => new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'MC_ERR_FRAME_MAGIC'],
    [
      'a wrong version',
      (good) => {
        const bad = good.slice();
        bad[2] = 99;
        return bad;
      },
      'MC_ERR_FRAME_VERSION',
    ],
    [
      'a corrupted payload',
      (good) => {
        const bad = good.slice();
        bad[FRAME_HEADER_BYTES + 3]! ^= 0x40;
        return bad;
      },
      'MC_ERR_FRAME_CHECKSUM',
    ],
    [
      'a length over the maximum',
      (good) => {
        const bad = good.slice(0, FRAME_HEADER_BYTES);
        new DataView(bad.buffer).setUint32(8, 2 ** 30, true);
        return bad;
      },
      'MC_ERR_FRAME_TOO_LARGE',
    ],
  ];

  for (const [what, corrupt, code] of cases) {
    it(`ends only that connection on ${what}, with ${code}; the server and other channels keep working`, async () => {
      const { server, port, errors } = await listening({ maxPayloadBytes: 1 << 20 });
      const received: Message[] = [];
      echo(server, received);
      const healthy = await connect({ port });
      cleanups.push(() => healthy.destroy());
      const replies = collect(healthy, 2);
      healthy.send(1, new Uint8Array([1]));

      const bad = await rawSocket(port);
      const badClosed = new Promise((resolve) => bad.on('close', resolve));
      bad.write(corrupt(encodeFrame(9, new Uint8Array(64).fill(5))));
      await badClosed;
      expect(errors.map((e) => e.code)).toEqual([code]);
      expect(received.some((m) => m.type === 9)).toBe(false);

      healthy.send(2, new Uint8Array([2]));
      expect((await replies).map((m) => m.type)).toEqual([1, 2]);
      // New connections are still accepted.
      const late = await connect({ port });
      cleanups.push(() => late.destroy());
      const lateReply = collect(late, 1);
      late.send(3, new Uint8Array([3]));
      expect((await lateReply)[0]!.type).toBe(3);
    });
  }
});

describe('a peer killed mid-frame', () => {
  it('ends the connection with MC_ERR_FRAME_TRUNCATED and delivers no partial frame', async () => {
    const { server, port, errors } = await listening();
    const received: Message[] = [];
    const closed = new Promise<unknown>((resolve) =>
      server.on('channel', (channel) => {
        channel.on('message', (m) => received.push(m));
        channel.on('close', resolve);
      }),
    );
    const whole = encodeFrame(4, new Uint8Array(10).fill(1));
    const partial = encodeFrame(5, new Uint8Array(100_000).fill(2)).subarray(0, FRAME_HEADER_BYTES + 5000);
    const script = `
      const net = require('node:net');
      const s = net.connect(${port}, '127.0.0.1', () => {
        s.write(Buffer.from('${Buffer.from(whole).toString('hex')}', 'hex'));
        s.write(Buffer.from('${Buffer.from(partial).toString('hex')}', 'hex'), () => process.stdout.write('sent\\n'));
      });
      setInterval(() => {}, 1000);`;
    const child: ChildProcess = spawn(process.execPath, ['-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(() => child.kill('SIGKILL'));
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    // Give the bytes time to be read by the server before the process dies.
    await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    const reason = (await closed) as TransportError;
    expect(reason.code).toBe('MC_ERR_FRAME_TRUNCATED');
    expect(errors.map((e) => e.code)).toEqual(['MC_ERR_FRAME_TRUNCATED']);
    expect(received.map((m) => m.type)).toEqual([4]);
  });
});

describe('backpressure', () => {
  it('holds the send queue bounded when the peer stops reading, and refuses to pass the hard cap', async () => {
    // A raw server that accepts and never reads: the kernel buffers fill, then our queue.
    const stalled = netCreateServer((socket) => {
      socket.pause();
      cleanups.push(() => socket.destroy());
    });
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => stalled.close(resolve)));
    const port = (stalled.address() as { port: number }).port;
    const highWaterMarkBytes = 1 << 20;
    const maxQueuedBytes = 8 << 20;
    const channel = await connect({ port, highWaterMarkBytes, maxQueuedBytes, maxPayloadBytes: 1 << 20 });
    cleanups.push(() => channel.destroy());

    const payload = new Uint8Array(64 * 1024);
    let accepted = 0;
    // Send until told to wait: the queue never exceeds the high-water mark by more than one frame.
    for (let i = 0; i < 100_000 && channel.send(1, payload); i++) accepted++;
    expect(channel.stats().queuedBytes).toBeGreaterThanOrEqual(highWaterMarkBytes);
    expect(channel.stats().queuedBytes).toBeLessThan(
      highWaterMarkBytes + payload.length + FRAME_HEADER_BYTES,
    );
    expect(channel.stats().backpressureEvents).toBe(1);
    // A caller that ignores `false` is stopped by a typed error at the hard cap, not by memory growth.
    let error: unknown = null;
    for (let i = 0; i < 1000 && error === null; i++) {
      try {
        channel.send(1, payload);
      } catch (err) {
        error = err;
      }
    }
    expect(error).toBeInstanceOf(SendQueueFullError);
    expect((error as SendQueueFullError).code).toBe('MC_ERR_SEND_QUEUE_FULL');
    expect(channel.stats().queuedBytes).toBeLessThanOrEqual(maxQueuedBytes);
    expect(accepted).toBeGreaterThan(0);
    expect(channel.stats().blockedMs).toBeGreaterThanOrEqual(0);
  });

  it('a slow async-iterator consumer pushes back on the sender instead of buffering without bound', async () => {
    const { server, port } = await listening({ readBufferBytes: 1 << 20, maxPayloadBytes: 1 << 20 });
    const accepted = new Promise<Channel>((resolve) => server.once('channel', resolve));
    const sender = await connect({ port, highWaterMarkBytes: 256 * 1024 });
    cleanups.push(() => sender.destroy());
    const receiver = await accepted;
    const iterator = receiver[Symbol.asyncIterator]();
    const first = await (async () => {
      sender.send(0, new Uint8Array(1));
      return iterator.next();
    })();
    expect(first.done).toBe(false);

    // Keep sending on every 'drain' while the consumer takes nothing, until the sender stays blocked:
    // kernel buffers are full and the receiver has stopped reading.
    const payload = new Uint8Array(64 * 1024);
    let sent = 0;
    let lastDrain = Date.now();
    sender.on('drain', () => {
      lastDrain = Date.now();
      pump();
    });
    const pump = () => {
      for (let i = 0; i < 10_000 && sent < 100_000; i++) {
        sent++;
        if (!sender.send(1, payload)) return;
      }
    };
    pump();
    for (let i = 0; i < 100 && Date.now() - lastDrain < 300; i++) await new Promise((r) => setTimeout(r, 50));
    expect(Date.now() - lastDrain).toBeGreaterThanOrEqual(300);
    const receivedBytes = receiver.stats().bytesReceived;
    expect(receivedBytes).toBeLessThan(sent * (payload.length + FRAME_HEADER_BYTES));
    // At most the read buffer plus one socket read (64 KiB) plus one frame past the limit.
    expect(receivedBytes).toBeLessThan((1 << 20) + 2 * 65536 + 2 * (payload.length + FRAME_HEADER_BYTES));

    // Draining the iterator lets everything through, in order, exactly once.
    sender.removeAllListeners('drain');
    for (let i = 0; i < sent; i++) {
      const next = await iterator.next();
      expect(next.done).toBe(false);
      expect(next.value!.type).toBe(1);
    }
    expect(receiver.stats().framesReceived).toBe(sent + 1);
    await sender.close();
    expect((await iterator.next()).done).toBe(true);
    expect(receiver.closed).toBe(true);
  });
});
