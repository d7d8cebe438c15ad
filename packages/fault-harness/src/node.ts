// One test host's program: a protected KV node (primary or secondary) or the witness, run by the
// fault harness inside a network namespace. Composed only from public APIs: mc-core's engine and
// arbiters, arbiter-etcd, and example-kv's service.
//
//   node dist/node.js --role secondary --host 10.200.7.2 --arbiter file --arbiter-dir /tmp/x ...
//   node dist/node.js --role primary --host 10.200.7.1 --secondary-host 10.200.7.2 ...
//   node dist/node.js --role witness --host 10.200.7.4 --witness-port 7100 --state-file /tmp/w
//
// What the harness reads from it:
// - stdout: JSON lines (`listening`, `state` with generation and token, `serving`, `error`);
// - the status port: one JSON line per connection, {role, state, generation, fencingToken, serving};
// - the release log (`--release-log`): one line `<generation> <fencing token> <wall ms> <mode>`
//   written synchronously before each reply leaves the node, so even a SIGKILL right after a release
//   leaves its record (the checker's fencing evidence); the mode is `alone` when the node serves
//   under its own grant (`serving`, `unprotected`) and `acked` otherwise (on a checkpoint's ACK);
// - SIGUSR2: busy-wait the main thread for the milliseconds written in `--block-file` (the blocked
//   event loop nemesis);
// - SIGUSR1: re-protect. A node serving alone protects itself with the secondary whose
//   `<host> <port>` is in `--protect-file` (`protect()`), and says `reprotecting`, then `reprotected`
//   or `protect-failed`.
// `--unsafe-release-before-ack` is the planted bug: replies go to clients when the workload produces
// them instead of when their checkpoint is acknowledged. It exists so the checker can be shown to
// catch it; never use it for anything else.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { parseArgs } from 'node:util';
import { createEtcdArbiter } from '@microcheckpoint/arbiter-etcd';
import { createKvService, type KvService } from '@microcheckpoint/example-kv';
import {
  type Arbiter,
  createFileArbiter,
  createGuestMemory,
  createPrimary,
  createSecondary,
  createWitnessArbiter,
  createWitnessServer,
  type Guest,
  type OutputSink,
  type Primary,
  type Secondary,
} from '@microcheckpoint/mc-core';

const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'status-port': { type: 'string', default: '0' },
    'data-port': { type: 'string', default: '0' },
    'secondary-host': { type: 'string' },
    'secondary-port': { type: 'string' },
    arbiter: { type: 'string', default: 'file' },
    'arbiter-dir': { type: 'string' },
    'witness-host': { type: 'string' },
    'witness-port': { type: 'string' },
    'state-file': { type: 'string' },
    'etcd-url': { type: 'string' },
    'etcd-prefix': { type: 'string', default: 'microcheckpoint/fault-harness' },
    'memory-mib': { type: 'string', default: '16' },
    slots: { type: 'string', default: '8192' },
    'epoch-ms': { type: 'string', default: '20' },
    'detect-multiplier': { type: 'string', default: '10' },
    'hang-timeout-ms': { type: 'string', default: '1000' },
    'lease-ttl-ms': { type: 'string', default: '1500' },
    'release-log': { type: 'string' },
    'block-file': { type: 'string' },
    'protect-file': { type: 'string' },
    'unsafe-release-before-ack': { type: 'boolean', default: false },
  },
});

const print = (message: object): void => {
  process.stdout.write(`${JSON.stringify({ ...message, atMs: wallMs() })}\n`);
};
const fail = (message: string): never => {
  process.stderr.write(`${message}\n`);
  process.exit(2);
};
/** Wall-clock milliseconds with sub-millisecond resolution: every namespace shares the host clock. */
function wallMs(): number {
  return performance.timeOrigin + performance.now();
}
const num = (name: keyof typeof values): number => {
  const n = Number(values[name]);
  if (!Number.isFinite(n)) fail(`--${name} must be a number, got ${String(values[name])}`);
  return n;
};

const role = values.role ?? fail('--role primary|secondary|witness is required');
const host = values.host;

// The blocked-event-loop nemesis: a synchronous busy-wait, exactly what a runaway computation does.
process.on('SIGUSR2', () => {
  const file = values['block-file'];
  if (file === undefined) return;
  const ms = Number(readFileSync(file, 'utf8'));
  const until = performance.now() + (Number.isFinite(ms) ? ms : 0);
  print({ type: 'blocking', ms });
  while (performance.now() < until) {
    // spin
  }
});

if (role === 'witness') {
  const witness = createWitnessServer({
    host,
    port: num('witness-port'),
    ...(values['state-file'] === undefined ? {} : { stateFile: values['state-file'] }),
  });
  const address = await witness.listen();
  print({ type: 'listening', role, port: address.port });
  const stop = () => void witness.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} else {
  await runKvNode(role);
}

function createArbiter(): Arbiter {
  switch (values.arbiter) {
    case 'file':
      return createFileArbiter({ directory: values['arbiter-dir'] ?? fail('--arbiter-dir is required') });
    case 'witness':
      return createWitnessArbiter({
        host: values['witness-host'] ?? fail('--witness-host is required'),
        port: num('witness-port'),
      });
    case 'etcd':
      return createEtcdArbiter({
        hosts: values['etcd-url'] ?? fail('--etcd-url is required'),
        prefix: values['etcd-prefix'],
      }) as unknown as Arbiter;
    default:
      return fail(`--arbiter must be file, witness or etcd, got ${String(values.arbiter)}`);
  }
}

async function runKvNode(kvRole: string): Promise<void> {
  if (kvRole !== 'primary' && kvRole !== 'secondary')
    fail(`--role must be primary, secondary or witness, got ${kvRole}`);
  const sizeBytes = num('memory-mib') * 1024 * 1024;
  const arbiter = createArbiter();
  const keepalive = {
    address: host,
    multiplier: num('detect-multiplier'),
    hangTimeoutMs: num('hang-timeout-ms'),
  };
  const unsafe = values['unsafe-release-before-ack'];
  const releaseFd = values['release-log'] === undefined ? null : openSync(values['release-log'], 'a');
  // The node's engines in the order they drove the workload: the first primary or secondary, then
  // each `Primary` that re-protected it. The current one is the first not handed over.
  const engines: Array<Primary | Secondary> = [];
  const current = (): Primary | Secondary | undefined => {
    let i = 0;
    while (i + 1 < engines.length && engines[i]!.state === 'reprotected') i++;
    return engines[i];
  };
  let service: KvService | undefined;

  // The generation and token output leaves under. status() is not free, so it is read once per
  // synchronous burst of releases (the engine releases a whole batch in one go) and forgotten at the
  // next tick, so a generation change is never missed.
  let fence: { generation: number; token: number; mode: 'alone' | 'acked' } | null = null;
  const currentFence = (): { generation: number; token: number; mode: 'alone' | 'acked' } => {
    if (fence === null) {
      const status = current()?.status();
      fence = {
        generation: status?.generation ?? 0,
        token: status?.fencingToken ?? 0,
        // The two states in which a node acts on its own grant: serving after a takeover, and a
        // primary without a secondary. In every other state output leaves on a checkpoint's ACK.
        mode: status?.state === 'serving' || status?.state === 'unprotected' ? 'alone' : 'acked',
      };
      process.nextTick(() => {
        fence = null;
      });
    }
    return fence;
  };
  const logRelease = (): void => {
    if (releaseFd === null) return;
    const { generation, token, mode } = currentFence();
    writeSync(releaseFd, `${generation} ${token} ${wallMs().toFixed(3)} ${mode}\n`);
  };
  const releaseTo = (kv: KvService): OutputSink => {
    return (connection, data) => {
      logRelease();
      kv.server.deliver(connection, data);
    };
  };
  /**
   * The planted bug: the guest's output is delivered at once and also handed to the engine (which
   * still corks and checkpoints it, and whose own release then goes nowhere).
   */
  const leaky = (kv: KvService): Guest => {
    const direct = releaseTo(kv);
    return new Proxy(kv.guest, {
      get(target, property) {
        if (property === 'setOutput') {
          return (sink: OutputSink) =>
            target.setOutput((connection, data) => {
              direct(connection, data);
              sink(connection, data);
            });
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
  const nowhere: OutputSink = () => undefined;

  // A re-protecting primary syncing its new secondary serves too (its replies wait for the first ACK).
  const serving = (): boolean => {
    const state = current()?.state;
    return state === 'protected' || state === 'unprotected' || state === 'serving' || state === 'syncing';
  };
  const statusServer: Server = createServer((socket) => {
    const status = current()?.status();
    socket.on('error', () => socket.destroy());
    socket.end(
      `${JSON.stringify({
        role: kvRole,
        pid: process.pid,
        state: status?.state ?? 'starting',
        generation: status?.generation ?? 0,
        fencingToken: status?.fencingToken ?? 0,
        serving: serving(),
      })}\n`,
    );
  });
  statusServer.listen(num('status-port'), host);

  // The node's state is its current engine's, whichever engine of the chain changed.
  const onState = () => {
    const status = current()?.status();
    print({
      type: 'state',
      role: kvRole,
      state: status?.state,
      generation: status?.generation,
      token: status?.fencingToken,
    });
  };

  const watch = (next: Primary | Secondary): void => {
    engines.push(next);
    // Both roles emit `state` and `error`; the union of their typed `on()` is not callable as one.
    const events = next as unknown as {
      on(event: 'state', listener: () => void): void;
      on(event: 'error', listener: (err: Error) => void): void;
    };
    events.on('state', onState);
    events.on('error', (err) =>
      print({ type: 'error', message: err.message, code: (err as { code?: string }).code }),
    );
  };

  /** Protects the workload this node serves alone with the secondary named in the protect file. */
  const reprotect = async (): Promise<void> => {
    const file = values['protect-file'];
    const survivor = current();
    if (file === undefined || survivor === undefined) return;
    const [peerHost, peerPort] = readFileSync(file, 'utf8').trim().split(' ');
    const before = engines.length;
    let primary: Primary;
    try {
      primary = survivor.protect({
        secondary: { host: peerHost ?? '', port: Number(peerPort) },
        epochMs: num('epoch-ms'),
        arbiterTtlMs: num('lease-ttl-ms'),
        keepalive,
      });
    } catch (err) {
      print({ type: 'protect-failed', message: (err as Error).message, state: survivor.state });
      return;
    }
    watch(primary);
    print({ type: 'reprotecting', secondary: `${peerHost}:${peerPort}` });
    try {
      await primary.start();
      print({ type: 'reprotected', epoch: primary.status().epoch, generation: primary.status().generation });
    } catch (err) {
      // Refused before the hand-over, the survivor still serves alone: forget the failed primary.
      if (survivor.state !== 'reprotected') engines.splice(before);
      print({ type: 'protect-failed', message: (err as Error).message, state: current()?.state });
    }
  };

  if (kvRole === 'primary') {
    service = await createKvService({
      memory: createGuestMemory({ sizeBytes }),
      slotCount: num('slots'),
      host,
      port: num('port'),
    });
    const kv = service;
    const primary = createPrimary({
      guest: unsafe ? leaky(kv) : kv.guest,
      output: unsafe ? nowhere : releaseTo(kv),
      secondary: {
        host: values['secondary-host'] ?? fail('--secondary-host is required'),
        port: num('secondary-port'),
      },
      arbiter,
      nodeId: `primary-${host}-${process.pid}`,
      epochMs: num('epoch-ms'),
      arbiterTtlMs: num('lease-ttl-ms'),
      source: 'kv',
      keepalive,
    });
    watch(primary);
    print({ type: 'listening', role: kvRole, port: kv.port });
    await primary.start();
    print({ type: 'protected', epoch: primary.status().epoch });
  } else {
    const secondary = createSecondary({
      memory: createGuestMemory({ sizeBytes }),
      arbiter,
      host,
      port: num('data-port'),
      nodeId: `secondary-${host}-${process.pid}`,
      arbiterTtlMs: num('lease-ttl-ms'),
      source: 'kv',
      keepalive,
      takeover: async ({ memory }) => {
        service = await createKvService({ memory, restore: true, host, port: num('port') });
        const kv = service;
        return {
          guest: unsafe ? leaky(kv) : kv.guest,
          output: unsafe ? nowhere : releaseTo(kv),
          // Re-emitted replies were addressed to connections that died with the primary.
          reemit: () => undefined,
        };
      },
    });
    watch(secondary);
    secondary.on('passive', (reason) => print({ type: 'passive', reason }));
    secondary.on('takeover', (event) => print({ type: 'serving', port: service?.port, ...event }));
    const address = await secondary.start();
    print({ type: 'listening', role: kvRole, dataPort: address.port });
  }

  process.on('SIGUSR1', () => void reprotect());

  const stop = (): void => {
    void (async () => {
      await current()
        ?.close()
        .catch(() => undefined);
      await service?.close().catch(() => undefined);
      statusServer.close();
      if (releaseFd !== null) closeSync(releaseFd);
      process.exit(0);
    })();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
