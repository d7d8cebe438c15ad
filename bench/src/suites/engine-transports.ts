import { once } from 'node:events';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import {
  createGuestMemory,
  createInProcessGuest,
  createPrimary,
  createSecondary,
  InProcessArbiter,
} from '@microcheckpoint/mc-core';
import { type BenchCase, benchCase } from '../results.js';
import type { BenchSuite, SuiteOptions } from '../suite.js';

// How fast the engine moves a whole guest image to the secondary (the initial live sync: every
// page, then the first checkpoint) over each transport, against the physical floor: the same bytes
// through one raw loopback TCP socket in the same process. The RDMA-semantics transport writes page
// messages one-sided into the secondary's ring (its NIC threads speak TCP underneath), so its ratio
// says what the verbs machinery and the ring's doorbells cost on top of TCP here; on real RDMA the
// floor would be the NIC, not a socket.

const MIB = 1024 * 1024;
const CHUNK = MIB;

/** Raw loopback socket: MB/s of `bytes` written in 1 MiB chunks until the reader has them all. */
async function rawSocketMBps(bytes: number): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = tcpConnect(port, '127.0.0.1');
  await once(client, 'connect');
  const [peer] = await accepted;
  const chunk = Buffer.alloc(CHUNK, 7);
  let received = 0;
  const done = new Promise<void>((resolve) => {
    peer.on('data', (data: Buffer) => {
      received += data.byteLength;
      if (received >= bytes) resolve();
    });
  });
  const started = performance.now();
  for (let sent = 0; sent < bytes; sent += CHUNK) {
    if (!client.write(chunk)) await once(client, 'drain');
  }
  await done;
  const seconds = (performance.now() - started) / 1000;
  client.destroy();
  peer.destroy();
  server.close();
  return bytes / MIB / seconds;
}

/** The engine's initial sync of a guest whose every page holds data: MB/s of guest memory. */
async function syncMBps(transport: 'tcp' | 'rdma-sim', sizeBytes: number): Promise<number> {
  const arbiter = new InProcessArbiter();
  const rdma = transport === 'rdma-sim' ? ({ kind: 'rdma-sim', ringBytes: 8 * MIB } as const) : undefined;
  const secondary = createSecondary({
    memory: createGuestMemory({ sizeBytes }),
    arbiter,
    takeover: () => {
      throw new Error('no takeover in this benchmark');
    },
    ...(rdma ? { transport: rdma } : {}),
    keepalive: { multiplier: 50, hangTimeoutMs: Number.POSITIVE_INFINITY },
  });
  const { port } = await secondary.start();
  const memory = createGuestMemory({ sizeBytes });
  // Every page non-zero and different, so no page is skipped as zero.
  for (let page = 0; page < sizeBytes / 4096; page++)
    memory.bytes.fill((page % 251) + 1, page * 4096, page * 4096 + 64);
  const guest = createInProcessGuest<number>({ memory, handler: () => undefined, output: () => undefined });
  const primary = createPrimary({
    guest,
    output: () => undefined,
    secondary: { port },
    arbiter,
    epochMs: 20,
    ...(rdma ? { transport: { kind: 'rdma-sim' } } : {}),
    keepalive: { multiplier: 50, hangTimeoutMs: Number.POSITIVE_INFINITY },
  });
  // From the first sync pass to the secondary's acknowledgement of the last one: the copy itself,
  // not the connection setup or the wait for the first epoch.
  let started = 0;
  let ended = 0;
  primary.on('state', (state) => {
    if (state === 'syncing') started = performance.now();
  });
  primary.on('sync', ({ final }) => {
    if (final) ended = performance.now();
  });
  await primary.start();
  const seconds = (ended - started) / 1000;
  await primary.close();
  await secondary.close();
  await guest.close();
  return sizeBytes / MIB / seconds;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function run(options: SuiteOptions): Promise<BenchCase[]> {
  const sizeBytes = (options.quick ? 16 : 64) * MIB;
  const rounds = options.quick ? 1 : 5;
  const cases: BenchCase[] = [];
  for (const transport of ['tcp', 'rdma-sim'] as const) {
    const values: number[] = [];
    const baselines: number[] = [];
    for (let round = 0; round < rounds; round++) {
      baselines.push(await rawSocketMBps(sizeBytes));
      values.push(await syncMBps(transport, sizeBytes));
    }
    cases.push(
      benchCase(
        `initial sync of ${sizeBytes / MIB} MiB over ${transport} vs raw socket (MB/s)`,
        'MB/s',
        median(values),
        median(baselines),
      ),
    );
  }
  return cases;
}

const suite: BenchSuite = {
  name: 'engine-transports',
  question:
    'How fast does the engine move a whole guest image to the secondary over TCP and over the RDMA-semantics transport, against the same bytes through one raw loopback socket?',
  run,
};

export default suite;
