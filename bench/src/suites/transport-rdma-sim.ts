import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import {
  Access,
  type CompletionQueue,
  createDevice,
  type Device,
  type Fabric,
  type MemoryRegion,
  type QueuePair,
  type SendWorkRequest,
  sharedMemoryFabric,
  tcpFabric,
} from '@microcheckpoint/transport-rdma-sim';
import { type Channel, connect } from '@microcheckpoint/transport-tcp';
import { opsPerSecond } from '../benny-cases.js';
import { type BenchCase, benchCase } from '../results.js';
import type { BenchSuite } from '../suite.js';

// What one-sided RDMA WRITEs cost in the simulator, per fabric, against the physical floor of the
// same bytes: a TypedArray.set between the same shared buffers (shared-memory fabric: the NIC threads
// do exactly that copy, plus the verbs machinery), and framed transport-tcp messages of the same size
// to a receiver thread that copies them out (TCP fabric: the NICs speak transport-tcp underneath).

const KIB = 1024;
const MIB = 1024 * 1024;
/** Message size, and how many messages one measured operation moves (the last one is signaled). */
const SIZES: ReadonlyArray<{ label: string; size: number; count: number }> = [
  { label: '4 KiB', size: 4 * KIB, count: 256 },
  { label: '1 MiB', size: MIB, count: 16 },
];

interface Connected {
  devices: Device[];
  qp: QueuePair;
  cq: CompletionQueue;
  src: MemoryRegion;
  dst: MemoryRegion;
}

/** Two devices on `fabric`, an RC queue pair between them, a source and a target region of `bytes`. */
async function connectDevices(fabric: Fabric, bytes: number): Promise<Connected> {
  const [a, b] = await Promise.all([createDevice({ fabric }), createDevice({ fabric })]);
  const pa = a.allocPd();
  const pb = b.allocPd();
  const src = pa.registerMemoryRegion(
    new Uint8Array(new SharedArrayBuffer(bytes)).fill(0x5a),
    Access.LOCAL_WRITE,
  );
  const dst = pb.registerMemoryRegion(
    new Uint8Array(new SharedArrayBuffer(bytes)),
    Access.LOCAL_WRITE | Access.REMOTE_WRITE,
  );
  const cq = a.createCq({ capacity: 1024 });
  const cqB = b.createCq();
  const qp = pa.createQp({ sendCq: cq, recvCq: cq, maxSendWr: 1024 });
  const qpB = pb.createQp({ sendCq: cqB, recvCq: cqB });
  qp.modify({ state: 'INIT' });
  qpB.modify({ state: 'INIT', access: Access.REMOTE_WRITE });
  qp.modify({ state: 'RTR', remote: qpB.endpoint });
  qpB.modify({ state: 'RTR', remote: qp.endpoint });
  qp.modify({ state: 'RTS' });
  qpB.modify({ state: 'RTS' });
  return { devices: [a, b], qp, cq, src, dst };
}

/** A measured operation with requests still in flight after it returns; `drain()` waits them out. */
interface Pipelined {
  fn: () => Promise<void>;
  drain: () => Promise<void>;
}

/** Batches kept in flight: the next one is posted before the previous one has completed. */
const DEPTH = 2;

/**
 * One operation: `count` RDMA WRITEs of `size` bytes, only the last signaled, then wait until at
 * most DEPTH - 1 batches are outstanding, so the NICs always have the next batch to work on.
 */
function rdmaBatches(c: Connected, size: number, count: number): Pipelined {
  const wrs: SendWorkRequest[] = Array.from({ length: count }, (_, i) => ({
    wrId: i,
    opcode: 'RDMA_WRITE',
    sgList: [c.src.sge(i * size, size)],
    remoteAddr: c.dst.addr + i * size,
    rkey: c.dst.rkey,
    signaled: i === count - 1,
  }));
  let posted = 0;
  let completed = 0;
  const settle = async (outstanding: number) => {
    while (posted - completed > outstanding) {
      const done = c.cq.poll(16);
      for (const wc of done) if (wc.status !== 'SUCCESS') throw new Error(`RDMA_WRITE failed: ${wc.status}`);
      completed += done.length;
      if (done.length === 0) await c.cq.wait();
    }
  };
  return {
    fn: async () => {
      c.qp.postSend(wrs);
      posted++;
      await settle(DEPTH - 1);
    },
    drain: () => settle(0),
  };
}

/** The baseline of the shared-memory fabric: the same pages copied with TypedArray.set. */
function setBatch(src: Uint8Array, dst: Uint8Array, size: number, count: number): () => void {
  return () => {
    for (let i = 0; i < count; i++) dst.set(src.subarray(i * size, (i + 1) * size), i * size);
  };
}

/**
 * A transport-tcp receiver in its own thread (as the TCP fabric's target NIC is): it copies every
 * payload into a buffer, as placement would, and answers the frame flagged last with a receipt.
 */
async function startSink(bytes: number): Promise<{ port: number; worker: Worker }> {
  const moduleUrl = import.meta.resolve('@microcheckpoint/transport-tcp');
  const code = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(moduleUrl)}).then(async ({ createServer }) => {
      const target = new Uint8Array(${bytes});
      const server = createServer({ port: 0 });
      server.on('channel', (channel) => {
        let at = 0;
        channel.on('message', (m) => {
          if (at + m.payload.length > target.length) at = 0;
          target.set(m.payload, at);
          at += m.payload.length;
          if (m.flags === 1) { channel.send(2, new Uint8Array(0)); at = 0; }
        });
      });
      const { port } = await server.listen();
      parentPort.postMessage(port);
    });`;
  const worker = new Worker(code, { eval: true });
  const [port] = (await once(worker, 'message')) as [number];
  return { port, worker };
}

/** One operation of the TCP baseline: `count` frames of `size` bytes, pipelined as the writes are. */
function framedBatches(channel: Channel, payload: Uint8Array, count: number): Pipelined {
  let posted = 0;
  let receipts = 0;
  let wake: (() => void) | null = null;
  channel.on('message', () => {
    receipts++;
    wake?.();
  });
  const settle = async (outstanding: number) => {
    while (posted - receipts > outstanding) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = null;
    }
  };
  return {
    fn: async () => {
      for (let i = 0; i < count; i++) {
        if (!channel.send(1, payload, i === count - 1 ? 1 : 0)) await once(channel, 'drain');
      }
      posted++;
      await settle(DEPTH - 1);
    },
    drain: () => settle(0),
  };
}

const suite: BenchSuite = {
  name: 'transport-rdma-sim',
  question:
    'MB/s of 4 KiB and 1 MiB RDMA WRITEs (batches of unsignaled writes ended by a signaled one, two batches in flight) on the shared-memory fabric against TypedArray.set of the same bytes, and on the TCP fabric against transport-tcp messages of the same size to a receiving thread, pipelined alike',
  async run(options) {
    const cases: BenchCase[] = [];
    const bytes = Math.max(...SIZES.map((s) => s.size * s.count));

    const shm = await connectDevices(sharedMemoryFabric({ name: `bench-${process.pid}` }), bytes);
    try {
      for (const { label, size, count } of SIZES) {
        const batchMb = (size * count) / 1e6;
        const rdma = rdmaBatches(shm, size, count);
        const [rdmaOps, setOps] = await opsPerSecond(
          `shared-memory fabric ${label}`,
          [
            { name: `RDMA_WRITE ${label}`, fn: rdma.fn },
            { name: `TypedArray.set ${label}`, fn: setBatch(shm.src.buffer, shm.dst.buffer, size, count) },
          ],
          options,
        );
        await rdma.drain();
        cases.push(
          benchCase(`shared-memory RDMA_WRITE ${label}`, 'MB/s', rdmaOps! * batchMb, setOps! * batchMb),
        );
      }
    } finally {
      await Promise.all(shm.devices.map((d) => d.close()));
    }

    const tcp = await connectDevices(tcpFabric(), bytes);
    const sink = await startSink(bytes);
    const channel = await connect({ port: sink.port });
    try {
      for (const { label, size, count } of SIZES) {
        const batchMb = (size * count) / 1e6;
        const payload = new Uint8Array(size).fill(0x5a);
        const rdma = rdmaBatches(tcp, size, count);
        const framed = framedBatches(channel, payload, count);
        const [rdmaOps, framedOps] = await opsPerSecond(
          `TCP fabric ${label}`,
          [
            { name: `RDMA_WRITE ${label}`, fn: rdma.fn },
            { name: `transport-tcp ${label}`, fn: framed.fn },
          ],
          options,
        );
        await rdma.drain();
        await framed.drain();
        channel.removeAllListeners('message');
        cases.push(benchCase(`TCP RDMA_WRITE ${label}`, 'MB/s', rdmaOps! * batchMb, framedOps! * batchMb));
      }
    } finally {
      await channel.close();
      await sink.worker.terminate();
      await Promise.all(tcp.devices.map((d) => d.close()));
    }
    return cases;
  },
};

export default suite;
