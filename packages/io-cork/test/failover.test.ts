import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  callbackSink,
  createCorkQueue,
  createDedupFilter,
  createItemFrameDecoder,
  type ReceivedItem,
  socketSink,
} from '../src/index.js';

const fixture = fileURLToPath(new URL('./fixtures/failover-primary.ts', import.meta.url));
const packageDir = fileURLToPath(new URL('..', import.meta.url));
const decode = (data: Uint8Array): string => new TextDecoder().decode(data);

const cleanup: Array<() => void> = [];
afterEach(() => {
  while (cleanup.length > 0) cleanup.pop()!();
});

async function listen(onConnection: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return { server, port: address.port };
}

describe('failover with a real primary process', () => {
  it('after SIGKILL of the primary, the survivor re-emits and the receiver gets every committed item once', async () => {
    // Receiver: one log of (connection, item) in arrival order.
    const arrivals: Array<{ from: number; item: ReceivedItem }> = [];
    let connections = 0;
    let arrived: (() => void) | undefined;
    const receiver = await listen((socket) => {
      const from = connections++;
      const decoder = createItemFrameDecoder();
      socket.on('data', (chunk: Buffer) => {
        for (const item of decoder.push(chunk)) arrivals.push({ from, item });
        arrived?.();
      });
    });

    // Secondary: ingests each shipped batch (the commit), then ACKs its epoch.
    const secondary = createCorkQueue({ source: 'failover' });
    let staged = Buffer.alloc(0);
    const checkpointServer = await listen((socket) => {
      socket.on('data', (chunk: Buffer) => {
        staged = Buffer.concat([staged, chunk]);
        while (staged.length >= 4 && staged.length >= 4 + staged.readUInt32LE(0)) {
          const length = staged.readUInt32LE(0);
          const info = secondary.ingest(new Uint8Array(staged.subarray(4, 4 + length)));
          staged = staged.subarray(4 + length);
          const ack = Buffer.alloc(4);
          ack.writeUInt32LE(info.epoch);
          socket.write(ack);
        }
      });
    });

    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', fixture, String(checkpointServer.port), String(receiver.port)],
      { cwd: packageDir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    cleanup.push(() => child.kill('SIGKILL'));
    const exited = once(child, 'exit');

    // Let the primary run, commit and release a good number of epochs, then kill it mid-flight.
    const deadline = Date.now() + 20_000;
    while (arrivals.length < 90 && Date.now() < deadline && child.exitCode === null) {
      await new Promise<void>((resolve) => {
        arrived = resolve;
        setTimeout(resolve, 50);
      });
    }
    expect(stderr).toBe('');
    expect(arrivals.length).toBeGreaterThanOrEqual(90);
    child.kill('SIGKILL');
    await exited;
    staged = Buffer.alloc(0); // a checkpoint cut off mid-transfer was never committed

    const committedThrough = secondary.lastEpoch;
    const committedNextSeq = secondary.nextSeq;
    const fromDeadPrimary = arrivals.filter((a) => a.from === 0).map((a) => a.item);
    // Nothing the dead primary released was ahead of its checkpoint's commit.
    expect(Math.max(...fromDeadPrimary.map((i) => i.epoch))).toBeLessThanOrEqual(committedThrough);

    // Takeover: a higher generation, a new connection to the receiver, re-emit, then carry on.
    secondary.setGeneration(2);
    const link = new Socket();
    const linked = once(link, 'connect');
    link.connect(receiver.port, '127.0.0.1');
    await linked;
    cleanup.push(() => link.destroy());
    secondary.attach('client', socketSink(link));
    const reemitted = secondary.reemit();
    expect(reemitted).toBeGreaterThan(0);
    for (let epoch = committedThrough + 1; epoch <= committedThrough + 3; epoch++) {
      secondary.open(epoch);
      secondary.append('client', new TextEncoder().encode(`e${epoch}:s${secondary.nextSeq}`));
      secondary.seal(epoch);
      secondary.release(epoch); // running unprotected until re-protection
    }
    const expectedTotal = committedNextSeq + 3;
    const filter = createDedupFilter({ trackGeneration: true });
    const accepted: ReceivedItem[] = [];
    const settle = Date.now() + 10_000;
    let consumed = 0;
    while (Date.now() < settle) {
      for (; consumed < arrivals.length; consumed++) {
        const { item } = arrivals[consumed]!;
        if (filter.accept(item)) accepted.push(item);
      }
      if (accepted.length >= expectedTotal) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    // Every committed item exactly once, in seq order, intact, then the survivor's new output.
    expect(accepted.map((i) => i.seq)).toEqual(Array.from({ length: expectedTotal }, (_, i) => i));
    for (const item of accepted) expect(decode(item.data)).toBe(`e${item.epoch}:s${item.seq}`);
    expect(accepted.slice(committedNextSeq).every((i) => i.generation === 2)).toBe(true);
    // The survivor re-emitted what it could not prove released; exactly the part the dead primary
    // had in fact released reached the receiver twice, and the filter dropped it.
    const seenFromDead = new Set(fromDeadPrimary.map((i) => i.seq));
    const reemittedSeqs = Array.from({ length: reemitted }, (_, i) => committedNextSeq - reemitted + i);
    expect(filter.stats.duplicates).toBe(reemittedSeqs.filter((seq) => seenFromDead.has(seq)).length);
    expect(filter.stats.stale).toBe(0);
    await secondary.idle();
  });

  it('a survivor whose destination has not reconnected keeps re-emitted output until it does', () => {
    const primary = createCorkQueue({ source: 'failover', generation: 1 });
    const secondary = createCorkQueue({ source: 'failover' });
    primary.open(1);
    primary.append('client', new TextEncoder().encode('committed'));
    primary.seal(1);
    secondary.ingest(primary.serialize(1));
    secondary.setGeneration(2);
    secondary.reemit();
    expect(secondary.metrics()).toMatchObject({ pendingItems: 1, corkedItems: 0, reemittedItems: 1 });
    const got: string[] = [];
    secondary.attach(
      'client',
      callbackSink((item) => void got.push(decode(item.data))),
    );
    expect(got).toEqual(['committed']);
  });
});
