// Runs the KV service protected by micro-checkpointing, one node per process:
//   node examples/kv/dist/protected.js --role secondary --data-port 7000 --port 6380 --arbiter-dir /tmp/kv-arbiter
//   node examples/kv/dist/protected.js --role primary --port 6379 --secondary-port 7000 --arbiter-dir /tmp/kv-arbiter
// Clients talk to the primary (6379); when it dies, the secondary serves the same table on its own
// port (6380). Each node prints JSON lines on stdout: what it listens on, when it is protected or
// serving (and, with `--report-ms N`, the primary's status every N ms). `--kill-at <epoch>:<message kind>` makes the primary SIGKILL itself right after handing
// that message of that checkpoint to the channel (fault injection for the failover harness).
// `--ca FILE --cert FILE --key FILE` (both nodes, certificates from the same CA) runs the data channel
// over TLS 1.3 with mutual authentication, which also authenticates the heartbeats; without them the
// channel is plain TCP, for a trusted lab machine (`mcft primary`/`secondary` are secure by default).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createFileArbiter, type Primary, type Secondary } from '@microcheckpoint/mc-core';
import { startProtectedKvNode } from './protected-node.js';

const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'data-port': { type: 'string', default: '0' },
    'secondary-host': { type: 'string', default: '127.0.0.1' },
    'secondary-port': { type: 'string' },
    'arbiter-dir': { type: 'string' },
    'memory-mib': { type: 'string', default: '64' },
    slots: { type: 'string', default: '65536' },
    'epoch-ms': { type: 'string', default: '20' },
    'kill-at': { type: 'string' },
    'report-ms': { type: 'string', default: '0' },
    'detect-multiplier': { type: 'string', default: '5' },
    'hang-timeout-ms': { type: 'string', default: '500' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
  },
});

const print = (message: object): void => {
  process.stdout.write(`${JSON.stringify(message)}\n`);
};
const fail = (message: string): never => {
  process.stderr.write(`${message}\n`);
  process.exit(2);
};

const role = values.role ?? fail('--role primary|secondary is required');
if (role !== 'primary' && role !== 'secondary') fail(`--role must be primary or secondary, got ${role}`);
const arbiterDir = values['arbiter-dir'] ?? fail('--arbiter-dir is required');
const tlsFiles = [values.ca, values.cert, values.key];
if (tlsFiles.some((f) => f !== undefined) && tlsFiles.some((f) => f === undefined))
  fail('--ca, --cert and --key go together');
const read = (flag: string, path: string): string => {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    return fail(`--${flag} ${path}: ${(error as Error).message}`);
  }
};
const channel =
  values.ca === undefined
    ? undefined
    : {
        security: {
          mode: 'tls' as const,
          ca: read('ca', values.ca),
          cert: read('cert', values.cert!),
          key: read('key', values.key!),
        },
      };
const node = await startProtectedKvNode({
  role: role as 'primary' | 'secondary',
  arbiter: createFileArbiter({ directory: arbiterDir }),
  host: values.host,
  port: Number(values.port),
  dataHost: values.host,
  dataPort: Number(values['data-port']),
  ...(role === 'primary'
    ? {
        secondary: {
          host: values['secondary-host'],
          port: Number(values['secondary-port'] ?? fail('--secondary-port is required')),
        },
      }
    : {}),
  memoryBytes: Number(values['memory-mib']) * 1024 * 1024,
  slotCount: Number(values.slots),
  epochMs: Number(values['epoch-ms']),
  // Heartbeats every 20 ms; the peer is convicted after `multiplier` silent intervals, or when its
  // main loop shows no progress for `hangTimeoutMs`.
  keepalive: {
    multiplier: Number(values['detect-multiplier']),
    hangTimeoutMs: Number(values['hang-timeout-ms']),
  },
  ...(channel === undefined ? {} : { channel }),
});

if (node.role === 'primary') {
  const primary = node.engine as Primary;
  primary.on('state', (state) => print({ type: 'state', role, state }));
  print({ type: 'listening', role, port: node.service?.port });
  const killAt = values['kill-at'];
  if (killAt !== undefined) {
    const [epoch, kind] = killAt.split(':');
    primary.on('shipping', (event) => {
      // Test hook (fault injection for the failover tests). CKPT_PAGES: the first page message, so the
      // checkpoint is cut after its BEGIN and some pages. The first checkpoint at or after the epoch
      // that has such a message: an epoch in which no client wrote has no pages, and an exact match
      // would then never fire.
      if (
        event.epoch >= Number(epoch) &&
        event.kind === kind &&
        (kind !== 'CKPT_PAGES' || event.index === 1)
      ) {
        print({ type: 'killing', epoch: event.epoch, kind: event.kind, index: event.index });
        process.kill(process.pid, 'SIGKILL');
      }
    });
  }
  await node.ready;
  print({ type: 'protected', epoch: primary.status().epoch });
  const reportMs = Number(values['report-ms']);
  if (reportMs > 0) {
    // Status for harnesses (the benchmark reads the pause percentiles from it).
    setInterval(() => {
      const { pauseMs, checkpointBytes, checkpointsPerSecond, committedEpoch, cork, stretchedEpochs } =
        primary.status();
      print({
        type: 'status',
        pauseMs,
        checkpointBytes,
        checkpointsPerSecond,
        committedEpoch,
        stretchedEpochs,
        outputLatencyMs: { p50: cork.latency.p50Ms, p99: cork.latency.p99Ms },
      });
    }, reportMs).unref();
  }
} else {
  (node.engine as Secondary).on('state', (state) => print({ type: 'state', role, state }));
  node.on('serving', (event) => print({ type: 'serving', ...event }));
  print({ type: 'listening', role, dataPort: node.dataAddress?.port });
}

const stop = (): void => {
  void (async () => {
    await node.close();
    process.exit(0);
  })();
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
