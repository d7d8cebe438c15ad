// One node of the failover suite, in a process of its own (the suite SIGKILLs it).
// argv: JSON { role: 'primary' | 'secondary', name, arbiter, memoryMiB, epochMs, secondaryPort? }, where
// arbiter is { kind: 'file', directory } | { kind: 'witness', port } | { kind: 'etcd', url }.
// The service: a client sends any bytes on the serve port; each chunk is one request, which adds one
// to a counter in guest memory; the reply is the new counter and a newline. A load generator inside
// the node keeps the guest dirtying pages (its replies go nowhere). A secondary listens on its serve
// port from the start and holds requests until it took over: the suite's probe client is connected
// before the kill, so the first reply measures detection, arbitration, restore and takeover.
// stdout lines (JSON): {type:'ready', servePort, dataPort?}, {type:'protected', ms}, {type:'takeover',
// ...event}, {type:'switchover', ...event}, {type:'error', message}.
// stdin commands (JSON lines): {"protect": port}, {"switchover": true}.
import { randomFillSync } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { createEtcdArbiter } from '@microcheckpoint/arbiter-etcd';
import {
  type Arbiter,
  createFileArbiter,
  createGuestMemory,
  createInProcessGuest,
  createPrimary,
  createSecondary,
  createWitnessArbiter,
  type GuestMemory,
  type InProcessGuest,
  type Primary,
} from '@microcheckpoint/mc-core';

/** Where the nodes arbitrate. */
type ArbiterConfig =
  | { kind: 'file'; directory: string }
  | { kind: 'witness'; port: number }
  | { kind: 'etcd'; url: string };

const config = JSON.parse(process.argv[2]!) as {
  role: 'primary' | 'secondary';
  name: string;
  arbiter: ArbiterConfig;
  memoryMiB: number;
  epochMs: number;
  secondaryPort?: number;
};
const print = (m: object) => process.stdout.write(`${JSON.stringify(m)}\n`);
function openArbiter(chosen: ArbiterConfig): Arbiter {
  switch (chosen.kind) {
    case 'file':
      return createFileArbiter({ directory: chosen.directory });
    case 'witness':
      return createWitnessArbiter({ port: chosen.port });
    case 'etcd':
      return createEtcdArbiter({ hosts: chosen.url });
  }
}
const arbiter = openArbiter(config.arbiter);
const encoder = new TextEncoder();
/** Output target of the internal load generator: its replies are dropped. */
const LOAD = 0;

const sockets = new Map<number, Socket>();
let nextTarget = 1;
let guest: InProcessGuest<number> | null = null;
const waiting: number[] = [];

const serve = createServer({ noDelay: true }, (socket) => {
  const target = nextTarget++;
  sockets.set(target, socket);
  socket.on('data', () => {
    if (guest === null) waiting.push(target);
    else guest.submit(target);
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => sockets.delete(target));
});
await new Promise<void>((resolve) => serve.listen(0, '127.0.0.1', resolve));
const servePort = (serve.address() as { port: number }).port;

const reply = (target: number, data: Uint8Array) => {
  if (target !== LOAD) sockets.get(target)?.write(data);
};

function workload(memory: GuestMemory): InProcessGuest<number> {
  const view = new DataView(memory.bytes.buffer, memory.bytes.byteOffset, 8);
  const pages = memory.pageCount;
  return createInProcessGuest<number>({
    memory,
    handler: (target, context) => {
      const count = view.getUint32(0, true) + 1;
      view.setUint32(0, count, true);
      memory.markDirty(0, 4);
      memory.write(
        memory.pageSizeBytes * (1 + (count % Math.min(256, pages - 1))),
        new Uint8Array([count & 255]),
      );
      context.output(target, encoder.encode(`${count}\n`));
    },
    output: () => undefined,
  });
}

function serveWith(running: InProcessGuest<number>): void {
  guest = running;
  for (const target of waiting.splice(0)) running.submit(target);
  const load = setInterval(() => {
    for (let i = 0; i < 4; i++) running.submit(LOAD);
  }, 1);
  load.unref();
}

let primary: Primary | null = null;
/** Re-protects this node after its takeover (a secondary's command). */
let protect: ((port: number) => Promise<void>) | null = null;

function drive(p: Primary): void {
  primary = p;
  p.on('switchover', (event) => print({ type: 'switchover', ...event }));
}

const memory = createGuestMemory({ sizeBytes: config.memoryMiB * 1024 * 1024 });
if (config.role === 'primary') {
  // A dense guest: every page holds data, so a (re-)protection syncs the whole memory.
  randomFillSync(memory.bytes);
  const running = workload(memory);
  const p = createPrimary({
    guest: running,
    output: reply,
    secondary: { port: config.secondaryPort! },
    arbiter,
    nodeId: config.name,
    epochMs: config.epochMs,
  });
  drive(p);
  const started = performance.now();
  await p.start();
  serveWith(running);
  print({ type: 'ready', servePort });
  print({ type: 'protected', ms: performance.now() - started });
} else {
  const secondary = createSecondary({
    memory,
    arbiter,
    nodeId: config.name,
    takeover: ({ memory: restored }) => {
      const running = workload(restored);
      setImmediate(() => serveWith(running));
      // Replies of committed requests whose connections died with the primary go nowhere.
      return { guest: running, output: reply, reemit: () => undefined };
    },
  });
  secondary.on('takeover', (event) => print({ type: 'takeover', ...event }));
  const { port } = await secondary.start();
  print({ type: 'ready', servePort, dataPort: port });
  protect = async (port) => {
    // After a failed attempt the last primary arbitrates, then serves alone: protect that one.
    for (let i = 0; i < 500 && primary !== null && primary.state === 'arbitrating'; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    const started = performance.now();
    const options = { secondary: { port }, epochMs: config.epochMs };
    const p = primary === null ? secondary.protect(options) : primary.protect(options);
    drive(p);
    p.start().then(
      () => print({ type: 'protected', ms: performance.now() - started }),
      (err: Error) => print({ type: 'error', message: err.message }),
    );
  };
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as { protect?: number; switchover?: boolean };
  if (command.protect !== undefined)
    protect?.(command.protect).catch((err: Error) => print({ type: 'error', message: err.message }));
  if (command.switchover && primary)
    primary.switchover().catch((err: Error) => print({ type: 'error', message: err.message }));
});
