import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';
import {
  type CorkItem,
  type CorkQueue,
  callbackSink,
  createCorkQueue,
  socketSink,
} from '@microcheckpoint/io-cork';
import { opsPerSecond } from '../benny-cases.js';
import { type BenchCase, benchCase, distributionCases } from '../results.js';
import type { BenchSuite, SuiteOptions } from '../suite.js';

// What does output commit cost? Items go append -> seal -> release through the cork queue; the
// baseline writes the same bytes straight to the same sink in the same process and run.

interface Shape {
  label: string;
  itemBytes: number;
  /** Items per measured operation (one epoch). */
  perEpoch: number;
}

const SHAPES: Shape[] = [
  { label: '64 B', itemBytes: 64, perEpoch: 1024 },
  { label: '4 KiB', itemBytes: 4096, perEpoch: 64 },
];

function payloads(shape: Shape): Uint8Array[] {
  return Array.from({ length: shape.perEpoch }, (_, i) => new Uint8Array(shape.itemBytes).fill(i & 0xff));
}

function throughputCases(shape: Shape, sinkName: string, corkOps: number, directOps: number): BenchCase[] {
  const items = (ops: number): number => ops * shape.perEpoch;
  const megabytes = (ops: number): number => (ops * shape.perEpoch * shape.itemBytes) / 1e6;
  return [
    benchCase(`${shape.label} items, ${sinkName}: items/s`, 'items/s', items(corkOps), items(directOps)),
    benchCase(`${shape.label} items, ${sinkName}: MB/s`, 'MB/s', megabytes(corkOps), megabytes(directOps)),
  ];
}

/** One epoch through the queue: open, append every payload, seal, release. */
function corkedEpoch(queue: CorkQueue, data: Uint8Array[], destination: string): void {
  const epoch = queue.lastEpoch + 1;
  queue.open(epoch);
  for (const bytes of data) queue.append(destination, bytes);
  queue.seal(epoch);
  queue.release(epoch);
}

/**
 * The sink both paths feed: it copies every item into its own 1 MiB ring, as an in-memory log or a
 * stream's buffer would, so "writing" costs what moving the bytes costs.
 */
function consumer(): { consume(data: Uint8Array): void; total(): number } {
  const ring = new Uint8Array(1 << 20);
  let position = 0;
  let bytes = 0;
  return {
    consume(data) {
      if (position + data.length > ring.length) position = 0;
      ring.set(data, position);
      position += data.length;
      bytes += data.length;
    },
    total: () => bytes,
  };
}

async function callbackThroughput(shape: Shape, options: SuiteOptions): Promise<BenchCase[]> {
  const data = payloads(shape);
  const sink = consumer();
  const queue = createCorkQueue();
  queue.attach(
    'out',
    callbackSink((item: CorkItem) => sink.consume(item.data)),
  );
  const [corkOps, directOps] = await opsPerSecond(
    `io-cork ${shape.label} buffering callback sink`,
    [
      { name: 'append-seal-release', fn: () => corkedEpoch(queue, data, 'out') },
      {
        name: 'direct',
        fn: () => {
          for (const bytes of data) sink.consume(bytes);
        },
      },
    ],
    options,
  );
  if (sink.total() === 0) throw new Error('the sink consumed nothing');
  return throughputCases(shape, 'buffering callback sink', corkOps!, directOps!);
}

/** A loopback TCP connection whose receiving end counts bytes; `until(n)` waits for n bytes in total. */
async function loopback(): Promise<{
  client: Socket;
  server: Server;
  peer: Socket;
  until(total: number): Promise<void>;
}> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const client = new Socket();
  const connected = once(client, 'connect');
  client.connect(address.port, '127.0.0.1');
  const [peer] = (await once(server, 'connection')) as [Socket];
  await connected;
  client.setNoDelay(true);
  let received = 0;
  // Several waits can be pending: benny prepares the cases of a suite concurrently.
  let waiting: Array<{ total: number; resolve: () => void }> = [];
  peer.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (waiting.length === 0) return;
    const due = waiting.filter((w) => received >= w.total);
    if (due.length === 0) return;
    waiting = waiting.filter((w) => received < w.total);
    for (const w of due) w.resolve();
  });
  return {
    client,
    server,
    peer,
    until: (total) =>
      received >= total
        ? Promise.resolve()
        : new Promise((resolve) => {
            waiting.push({ total, resolve });
          }),
  };
}

async function socketThroughput(shape: Shape, options: SuiteOptions): Promise<BenchCase[]> {
  const data = payloads(shape);
  const epochBytes = shape.perEpoch * shape.itemBytes;
  const link = await loopback();
  let sent = 0;
  const queue = createCorkQueue();
  // Raw framing: the receiver gets exactly the bytes the direct writes send.
  queue.attach('out', socketSink(link.client, { framing: 'raw' }));
  try {
    const [corkOps, directOps] = await opsPerSecond(
      `io-cork ${shape.label} loopback socket`,
      [
        {
          name: 'append-seal-release',
          fn: async () => {
            sent += epochBytes;
            corkedEpoch(queue, data, 'out');
            await link.until(sent);
          },
        },
        {
          // The strongest direct baseline: the same writes, corked into one vectored write.
          name: 'direct',
          fn: async () => {
            sent += epochBytes;
            link.client.cork();
            for (const bytes of data) link.client.write(bytes);
            link.client.uncork();
            await link.until(sent);
          },
        },
      ],
      options,
    );
    return throughputCases(shape, 'loopback socket', corkOps!, directOps!);
  } finally {
    link.client.destroy();
    link.peer.destroy();
    link.server.close();
  }
}

/**
 * Added latency at a 10 ms epoch, with the checkpoint path real: every 10 ms the batch is sealed,
 * serialized and shipped over loopback TCP to a secondary that decodes and ingests it and ACKs;
 * the ACK releases it. Output arrives steadily (4 items of 64 B per millisecond). Baseline: the
 * wait no output-commit scheme at this epoch can avoid, from append to the end of its epoch.
 */
async function latencyAtTenMs(options: SuiteOptions): Promise<BenchCase[]> {
  const epochMs = 10;
  const durationMs = options.quick ? 1500 : 6000;
  const primary = createCorkQueue({ source: 'bench' });
  const secondary = createCorkQueue({ source: 'bench' });
  const link = await loopback();
  const appendedAt: number[] = [];
  const sealedAt = new Map<number, number>();
  const samples: number[] = [];
  const baseline: number[] = [];
  primary.attach(
    'client',
    callbackSink((item) => {
      const now = performance.now();
      samples.push(now - appendedAt[item.seq]!);
      baseline.push(sealedAt.get(item.epoch)! - appendedAt[item.seq]!);
    }),
  );

  // Secondary: length-prefixed batches in, u32 epoch ACKs out.
  let staged: Buffer = Buffer.alloc(0);
  link.peer.on('data', (chunk: Buffer) => {
    staged = staged.length === 0 ? chunk : Buffer.concat([staged, chunk]);
    while (staged.length >= 4 && staged.length >= 4 + staged.readUInt32LE(0)) {
      const length = staged.readUInt32LE(0);
      const info = secondary.ingest(new Uint8Array(staged.subarray(4, 4 + length)));
      staged = staged.subarray(4 + length);
      const ack = Buffer.alloc(4);
      ack.writeUInt32LE(info.epoch);
      link.peer.write(ack);
    }
  });
  let acks: Buffer = Buffer.alloc(0);
  link.client.on('data', (chunk: Buffer) => {
    acks = acks.length === 0 ? chunk : Buffer.concat([acks, chunk]);
    while (acks.length >= 4) {
      primary.release(acks.readUInt32LE(0));
      acks = acks.subarray(4);
    }
  });

  const payload = new Uint8Array(64).fill(7);
  let epoch = 1;
  primary.open(epoch);
  const start = performance.now();
  const producer = setInterval(() => {
    for (let i = 0; i < 4; i++) {
      appendedAt[primary.nextSeq] = performance.now();
      primary.append('client', payload);
    }
  }, 1);
  const capture = setInterval(() => {
    primary.seal(epoch);
    sealedAt.set(epoch, performance.now());
    const batch = primary.serialize(epoch);
    const header = Buffer.alloc(4);
    header.writeUInt32LE(batch.length);
    link.client.cork();
    link.client.write(header);
    link.client.write(batch);
    link.client.uncork();
    epoch++;
    primary.open(epoch);
  }, epochMs);
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  clearInterval(producer);
  clearInterval(capture);
  const last = epoch;
  primary.seal(last);
  sealedAt.set(last, performance.now());
  const finalBatch = primary.serialize(last);
  const header = Buffer.alloc(4);
  header.writeUInt32LE(finalBatch.length);
  link.client.write(header);
  link.client.write(finalBatch);
  while (primary.releasedThrough < last && performance.now() - start < durationMs + 5000) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  link.client.destroy();
  link.peer.destroy();
  link.server.close();
  if (samples.length !== primary.metrics().appendedItems) {
    throw new Error(`released ${samples.length} of ${primary.metrics().appendedItems} items`);
  }
  return distributionCases('added latency at 10 ms epoch (append to release)', 'ms', samples, baseline);
}

const suite: BenchSuite = {
  name: 'io-cork',
  question:
    'What does output commit cost? Items/s and MB/s through append -> seal -> release for 64 B and 4 KiB ' +
    'items against writing the same bytes straight to the same sink (a callback; a loopback socket with ' +
    'corked writes), and the latency added at a 10 ms epoch with a real ship/ingest/ACK path against the ' +
    'unavoidable wait for the epoch boundary.',
  async run(options) {
    const cases: BenchCase[] = [];
    for (const shape of SHAPES) cases.push(...(await callbackThroughput(shape, options)));
    for (const shape of SHAPES) cases.push(...(await socketThroughput(shape, options)));
    cases.push(...(await latencyAtTenMs(options)));
    return cases;
  },
};

export default suite;
