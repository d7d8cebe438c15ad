// The workload's client process, run by the harness in the client namespace.
//   node dist/client.js workload --nodes '<json>' --clients 4 --seed 7 --stop-at-ms <wall ms> --history h.jsonl
//   node dist/client.js final --nodes '<json>' --clients 4 --timeout-ms 5000
// `workload` runs concurrent logical clients, each on its own connection, doing SET (its own register,
// increasing integers), INCR (shared counters) and GET (any key) against whichever node serves with
// the newest generation, and records every operation with its times and outcome (JSON lines).
// `final` reads every key once from the service and prints {node, generation, values}.
// SIGUSR1 stops the workload now (before --stop-at-ms), as when a schedule ran longer than planned.
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { encodeCommand, type RespReply, RespReplyParser } from '@microcheckpoint/example-kv';
import { COUNTER_COUNT, PROBE_AFTER_MS, REQUEST_TIMEOUT_MS } from './constants.js';
import type { Operation, OpKind } from './history.js';
import { createPrng } from './prng.js';
import { findService, type NodeAddress } from './service-finder.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    nodes: { type: 'string' },
    clients: { type: 'string', default: '4' },
    counters: { type: 'string', default: String(COUNTER_COUNT) },
    seed: { type: 'string', default: '1' },
    'stop-at-ms': { type: 'string' },
    history: { type: 'string' },
    'timeout-ms': { type: 'string', default: '5000' },
  },
});

const wallMs = (): number => performance.timeOrigin + performance.now();
const nodes = JSON.parse(values.nodes ?? '[]') as NodeAddress[];
const clientCount = Number(values.clients);
const counterCount = Number(values.counters);
const registerKeys = Array.from({ length: clientCount }, (_, c) => `r${c}`);
const counterKeys = Array.from({ length: counterCount }, (_, i) => `k${i}`);

/** One connection to one node, with its replies matched to requests in order. */
class Connection {
  readonly node: NodeAddress;
  readonly generation: number;
  readonly #socket: Socket;
  readonly #parser = new RespReplyParser();
  readonly #waiting: Array<(reply: RespReply | Error) => void> = [];
  #closed: Error | null = null;

  private constructor(node: NodeAddress, generation: number, socket: Socket) {
    this.node = node;
    this.generation = generation;
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      let replies: RespReply[];
      try {
        replies = this.#parser.push(chunk);
      } catch (err) {
        this.close(err as Error);
        return;
      }
      for (const reply of replies) this.#waiting.shift()?.(reply);
    });
    socket.on('error', (err) => this.close(err));
    socket.on('close', () => this.close(new Error('connection closed')));
  }

  static open(node: NodeAddress, generation: number, timeoutMs: number): Promise<Connection | null> {
    return new Promise((resolve) => {
      const socket = connect({ host: node.host, port: node.port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(null);
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new Connection(node, generation, socket));
      });
      socket.once('error', () => {
        clearTimeout(timer);
        resolve(null);
      });
    });
  }

  get closed(): boolean {
    return this.#closed !== null;
  }

  request(args: readonly string[]): Promise<RespReply | Error> {
    if (this.#closed) return Promise.resolve(this.#closed);
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      this.#socket.write(encodeCommand(args));
    });
  }

  close(reason: Error): void {
    if (this.#closed) return;
    this.#closed = reason;
    this.#socket.destroy();
    for (const waiter of this.#waiting.splice(0)) waiter(reason);
  }
}

/** The integer in a GET or INCR reply (registers and counters both hold decimal integers). */
function integerOf(reply: RespReply): number | null {
  if (reply.kind === 'integer') return Number(reply.value);
  if (reply.kind === 'bulk')
    return reply.value === null ? null : Number(new TextDecoder().decode(reply.value));
  return null;
}

async function connectToService(): Promise<Connection | null> {
  const found = await findService(nodes, 150);
  if (found === null) return null;
  return Connection.open(found.node, found.status.generation, 500);
}

/**
 * Waits for a reply, asking both nodes after PROBE_AFTER_MS whether a newer generation serves
 * elsewhere (then the request is given up: the client follows the service).
 */
async function awaitReply(
  connection: Connection,
  pending: Promise<RespReply | Error>,
): Promise<RespReply | Error> {
  let settled: RespReply | Error | undefined;
  void pending.then((r) => {
    settled = r;
  });
  const started = performance.now();
  let nextProbe = started + PROBE_AFTER_MS;
  for (;;) {
    const outcome = await Promise.race([pending, sleep(10).then(() => undefined)]);
    if (outcome !== undefined) return outcome;
    if (settled !== undefined) return settled;
    const now = performance.now();
    if (now - started > REQUEST_TIMEOUT_MS) return new Error('timeout');
    if (wallMs() > stop.atMs + REQUEST_TIMEOUT_MS) return new Error('stopped');
    if (now >= nextProbe) {
      nextProbe = now + 100;
      // Only the other nodes: the one this request waits on may be stopped or cut off, and its
      // probe would just time out.
      const found = await findService(
        nodes.filter((n) => n.name !== connection.node.name),
        150,
      );
      if (settled !== undefined) return settled;
      if (found !== null && found.status.generation > connection.generation) {
        return new Error(`newer generation ${found.status.generation} serves on ${found.node.name}`);
      }
    }
  }
}

/** When the workload stops (wall ms): `--stop-at-ms`, or earlier on SIGUSR1. */
const stop = { atMs: Number(values['stop-at-ms']) };

async function runClient(c: number, seed: number, history: Operation[]): Promise<void> {
  const prng = createPrng(seed).fork(c);
  const ownKey = registerKeys[c]!;
  let written = 0;
  let index = 0;
  let connection: Connection | null = null;
  while (wallMs() < stop.atMs) {
    if (connection === null || connection.closed) {
      connection = await connectToService();
      if (connection === null) {
        await sleep(20);
        continue;
      }
    }
    const roll = prng.next();
    const op: OpKind = roll < 0.4 ? 'set' : roll < 0.75 ? 'incr' : 'get';
    const key =
      op === 'set'
        ? ownKey
        : op === 'incr'
          ? prng.pick(counterKeys)
          : prng.pick([...registerKeys, ...counterKeys]);
    const value = op === 'set' ? ++written : undefined;
    const args = op === 'set' ? ['SET', key, String(value)] : op === 'incr' ? ['INCR', key] : ['GET', key];
    const invokeMs = wallMs();
    const reply = await awaitReply(connection, connection.request(args));
    const completeMs = wallMs();
    const base = {
      client: c,
      index: index++,
      op,
      key,
      ...(value === undefined ? {} : { value }),
      invokeMs,
      completeMs,
      node: connection.node.name,
    };
    if (reply instanceof Error) {
      history.push({ ...base, outcome: 'info', error: reply.message });
      connection.close(reply);
      connection = null;
    } else if (reply.kind === 'error') {
      history.push({ ...base, outcome: 'fail', error: reply.value });
    } else {
      history.push({ ...base, outcome: 'ok', ...(op === 'set' ? {} : { result: integerOf(reply) }) });
    }
  }
  connection?.close(new Error('done'));
}

async function readFinal(timeoutMs: number): Promise<void> {
  const deadline = wallMs() + timeoutMs;
  const keys = [...registerKeys, ...counterKeys];
  while (wallMs() < deadline) {
    const connection = await connectToService();
    if (connection !== null) {
      const reply = await Promise.race([
        connection.request(['MGET', ...keys]),
        sleep(2000).then(() => new Error('timeout')),
      ]);
      connection.close(new Error('done'));
      if (!(reply instanceof Error) && reply.kind === 'array' && reply.value !== null) {
        const read = Object.fromEntries(keys.map((k, i) => [k, integerOf(reply.value![i]!)]));
        process.stdout.write(
          `${JSON.stringify({ node: connection.node.name, generation: connection.generation, values: read })}\n`,
        );
        return;
      }
    }
    await sleep(100);
  }
  process.stdout.write(`${JSON.stringify({ node: null })}\n`);
}

const mode = positionals[0];
if (mode === 'workload') {
  const seed = Number(values.seed);
  const history: Operation[] = [];
  process.on('SIGUSR1', () => {
    stop.atMs = Math.min(stop.atMs, wallMs());
  });
  await Promise.all(Array.from({ length: clientCount }, (_, c) => runClient(c, seed, history)));
  const file = values.history;
  if (file !== undefined) writeFileSync(file, `${history.map((op) => JSON.stringify(op)).join('\n')}\n`);
  process.exit(0);
} else if (mode === 'final') {
  await readFinal(Number(values['timeout-ms']));
  process.exit(0);
} else {
  process.stderr.write('usage: client.js workload|final --nodes <json> ...\n');
  process.exit(2);
}
