/**
 * A remote peer for tests: a device in another thread (shared-memory fabric) or another process
 * (TCP fabric), driven by RPC. It owns a staging region and a queue pair, and can block its main
 * thread while the test writes into its memory.
 */
import { parentPort } from 'node:worker_threads';
import {
  Access,
  type CompletionQueue,
  createDevice,
  type Device,
  type Fabric,
  type FaultPlan,
  type MemoryRegion,
  type QpEndpoint,
  type QueuePair,
} from '../../src/index.js';

interface Request {
  id: number;
  cmd: string;
  args: Record<string, unknown>;
}

let device: Device | null = null;
let mr: MemoryRegion | null = null;
let cq: CompletionQueue | null = null;
let qp: QueuePair | null = null;

const wallNow = () => performance.timeOrigin + performance.now();

function expected(i: number, seed: number): number {
  return ((i * 31 + seed * 7) % 251) + 1;
}

async function handle(cmd: string, args: Record<string, unknown>): Promise<unknown> {
  switch (cmd) {
    case 'open': {
      device = await createDevice({
        fabric: args.fabric as Fabric,
        faults: args.faults as FaultPlan | undefined,
      });
      const pd = device.allocPd();
      cq = device.createCq({ capacity: 256 });
      mr = pd.registerMemoryRegion(
        new Uint8Array(new SharedArrayBuffer(args.bytes as number)),
        Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ,
      );
      qp = pd.createQp({ sendCq: cq, recvCq: cq });
      qp.modify({ state: 'INIT', access: Access.REMOTE_WRITE | Access.REMOTE_READ });
      const recvs = (args.recvs as number) ?? 0;
      if (recvs > 0) qp.postRecv(Array.from({ length: recvs }, (_, i) => ({ wrId: i })));
      return { endpoint: qp.endpoint, staging: mr.remote(), pid: process.pid };
    }
    case 'connect': {
      qp!.modify({
        state: 'RTR',
        remote: args.remote as QpEndpoint,
        pathMtu: (args.pathMtu as number) ?? 4096,
      });
      qp!.modify({ state: 'RTS' });
      return null;
    }
    case 'block': {
      // Block this thread completely: no event loop, no JavaScript, for `ms` milliseconds.
      const seed = args.seed as number;
      const length = args.length as number;
      const cell = new Int32Array(new SharedArrayBuffer(4));
      const startedAt = wallNow();
      Atomics.wait(cell, 0, 0, args.ms as number);
      const wokeAt = wallNow();
      // First thing after waking, still without yielding: what is in memory and in the CQ?
      const view = mr!.buffer;
      let matching = 0;
      for (let i = 0; i < length; i++) if (view[i] === expected(i, seed)) matching++;
      const completions = cq!.poll(16);
      return { startedAt, wokeAt, matching, completions };
    }
    case 'poll':
      return cq!.poll(64);
    case 'close':
      await device?.close();
      device = null;
      return null;
    default:
      throw new Error(`unknown peer command ${cmd}`);
  }
}

function serve(
  send: (message: unknown) => void,
  subscribe: (listener: (request: Request) => void) => void,
): void {
  subscribe((request) => {
    handle(request.cmd, request.args).then(
      (value) => send({ id: request.id, ok: true, value }),
      (err: Error) => send({ id: request.id, ok: false, error: `${err.name}: ${err.message}` }),
    );
  });
  send({ id: 0, ok: true, value: 'ready' });
}

if (parentPort) {
  const port = parentPort;
  serve(
    (message) => port.postMessage(message),
    (listener) => port.on('message', listener),
  );
} else if (process.send) {
  serve(
    (message) => process.send!(message),
    (listener) => process.on('message', (m) => listener(m as Request)),
  );
}
