import {
  Access,
  type CompletionQueue,
  type Device,
  type Fabric,
  type MemoryRegion,
  type ProtectionDomain,
  type QpCapabilities,
  type QueuePair,
  sharedMemoryFabric,
  tcpFabric,
  type WorkCompletion,
} from '../../src/index.js';

/** The fabrics every fidelity test runs against. */
export const FABRICS: ReadonlyArray<{ name: string; make: () => Fabric }> = [
  { name: 'shared-memory', make: () => sharedMemoryFabric({ name: `test-${process.pid}` }) },
  { name: 'tcp', make: () => tcpFabric() },
];

/** One side of a connected pair. */
export interface Side {
  device: Device;
  pd: ProtectionDomain;
  cq: CompletionQueue;
  qp: QueuePair;
  mr: MemoryRegion;
}

export interface PairOptions {
  bytes?: number;
  mrAccessA?: number;
  mrAccessB?: number;
  qpAccessA?: number;
  qpAccessB?: number;
  caps?: QpCapabilities & { signalAll?: boolean };
  pathMtu?: number;
  minRnrTimerMs?: number;
  ackTimeoutMs?: number;
  retryCount?: number;
  rnrRetry?: number;
  recvB?: number;
  cqCapacity?: number;
  sqPsnA?: number;
  rqPsnB?: number;
}

export interface Pair {
  a: Side;
  b: Side;
  dispose(): void;
}

const ALL = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;

/** Shared memory of `bytes` bytes. */
export function shared(bytes: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(bytes));
}

/** Creates PD, CQ, MR and QP on both devices and connects the QPs (A → B and B → A) to RTS. */
export function connectPair(devA: Device, devB: Device, options: PairOptions = {}): Pair {
  const bytes = options.bytes ?? 64 * 1024;
  const side = (device: Device, mrAccess: number): Side => {
    const pd = device.allocPd();
    const cq = device.createCq({ capacity: options.cqCapacity ?? 1024 });
    const mr = pd.registerMemoryRegion(shared(bytes), mrAccess);
    const qp = pd.createQp({ sendCq: cq, recvCq: cq, ...options.caps });
    return { device, pd, cq, qp, mr };
  };
  const a = side(devA, options.mrAccessA ?? ALL);
  const b = side(devB, options.mrAccessB ?? ALL);
  a.qp.modify({ state: 'INIT', access: options.qpAccessA ?? Access.REMOTE_WRITE | Access.REMOTE_READ });
  b.qp.modify({ state: 'INIT', access: options.qpAccessB ?? Access.REMOTE_WRITE | Access.REMOTE_READ });
  if (options.recvB) b.qp.postRecv(Array.from({ length: options.recvB }, (_, i) => ({ wrId: 1000 + i })));
  const rtr = { pathMtu: options.pathMtu, minRnrTimerMs: options.minRnrTimerMs };
  const rts = {
    ackTimeoutMs: options.ackTimeoutMs,
    retryCount: options.retryCount,
    rnrRetry: options.rnrRetry,
  };
  a.qp.modify({ state: 'RTR', remote: b.qp.endpoint, ...rtr });
  b.qp.modify({ state: 'RTR', remote: a.qp.endpoint, ...rtr, rqPsn: options.rqPsnB });
  a.qp.modify({ state: 'RTS', ...rts, sqPsn: options.sqPsnA });
  b.qp.modify({ state: 'RTS', ...rts });
  return {
    a,
    b,
    dispose() {
      for (const s of [a, b]) {
        if (s.device.closed) continue;
        s.qp.destroy();
        s.mr.deregister();
        s.cq.destroy();
        s.pd.dealloc();
      }
    },
  };
}

/** Collects completions until `count` arrived or `timeoutMs` passed. */
export async function collect(
  cq: CompletionQueue,
  count: number,
  timeoutMs = 10_000,
): Promise<WorkCompletion[]> {
  const out: WorkCompletion[] = [];
  const deadline = performance.now() + timeoutMs;
  while (out.length < count) {
    out.push(...cq.poll(count - out.length));
    if (out.length >= count) break;
    const left = deadline - performance.now();
    if (left <= 0 || !(await cq.wait(left))) break;
  }
  return out;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Fills `view` with a pattern derived from `seed` (never all zero). */
export function pattern(view: Uint8Array, seed: number): Uint8Array {
  for (let i = 0; i < view.length; i++) view[i] = ((i * 31 + seed * 7) % 251) + 1;
  return view;
}

/** Byte equality of two views, fast for megabytes (vitest's deep equality walks element by element). */
export function sameBytes(x: Uint8Array, y: Uint8Array): boolean {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(
    Buffer.from(y.buffer, y.byteOffset, y.byteLength),
  );
}
