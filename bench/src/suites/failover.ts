import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DETECT_MULTIPLIER, HEARTBEAT_INTERVAL_MS } from '@microcheckpoint/keepalive';
import { createWitnessServer } from '@microcheckpoint/mc-core';
import { findEtcd, startEtcd } from '../../../packages/arbiter-etcd/test/etcd-server.js';
import { startPeer } from '../peer-process.js';
import { type BenchCase, benchCase, distributionCases, quantile } from '../results.js';
import type { BenchSuite, SuiteOptions } from '../suite.js';

// Failover, switchover and re-protection of mc-core, every node a process of its own
// (src/peers/failover-node.ts) on loopback, with the keepalive's default detector (heartbeat every
// 20 ms, conviction after 5 missed: 100 ms), under each arbiter in turn: the embedded shared-file
// arbiter, a witness process, and a real etcd server the suite starts.
// - Failover: SIGKILL of the serving node to the first reply the survivor sends to a client that was
//   already connected to it (its request waits there until the takeover). One chain of kills: each
//   survivor is re-protected by a fresh secondary and then killed in turn, so every sample after the
//   first is a failover of a re-protected node. Baseline: the detector deadline (interval x
//   multiplier), the part no implementation with this detector can avoid; ratio = time / deadline.
// - Switchover: `primary.switchover()` requested to the first reply from the secondary, same client
//   setup, against the same deadline (a planned handover must not wait for the detector).
// - Re-protection: `secondary.protect().start()` to the first acknowledged checkpoint (a full live
//   sync of a dense guest memory), per GiB of guest memory, against copying the same bytes through
//   a loopback TCP socket to another process (the transport's physical floor), per GiB.

const PEER = fileURLToPath(new URL('../peers/failover-node.ts', import.meta.url));
const DEADLINE_MS = HEARTBEAT_INTERVAL_MS * DETECT_MULTIPLIER;
const EPOCH_MS = 20;

interface Line {
  type: string;
  [key: string]: unknown;
}

interface Node {
  name: string;
  child: ChildProcess;
  lines: Line[];
}

const children = new Set<ChildProcess>();

/** Where the nodes arbitrate (see src/peers/failover-node.ts). */
type ArbiterConfig =
  | { kind: 'file'; directory: string }
  | { kind: 'witness'; port: number }
  | { kind: 'etcd'; url: string };

function spawnNode(config: {
  role: 'primary' | 'secondary';
  name: string;
  arbiter: ArbiterConfig;
  memoryMiB: number;
  secondaryPort?: number;
}): Node {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx/esm', PEER, JSON.stringify({ ...config, epochMs: EPOCH_MS })],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines: Line[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(JSON.parse(line) as Line));
  return { name: config.name, child, lines };
}

async function waitLine(node: Node, type: string, after = 0, timeoutMs = 60_000): Promise<Line> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = node.lines.slice(after).find((l) => l.type === type);
    if (line) return line;
    const error = node.lines.slice(after).find((l) => l.type === 'error');
    if (error) throw new Error(`${node.name}: ${String(error.message)}`);
    if (node.child.exitCode !== null) throw new Error(`${node.name} exited before '${type}'`);
    if (Date.now() > deadline) throw new Error(`${node.name}: no '${type}' within ${timeoutMs} ms`);
    await sleep(1);
  }
}

async function kill(node: Node): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  const exited = once(node.child, 'exit');
  node.child.kill('SIGKILL');
  await exited;
}

/** A client connected to `port` before the event; resolves with the time of the first reply byte. */
async function probe(port: number): Promise<{ socket: Socket; firstReply: Promise<number> }> {
  const socket = connect({ port, host: '127.0.0.1', noDelay: true });
  await once(socket, 'connect');
  const firstReply = new Promise<number>((resolve, reject) => {
    socket.once('data', () => resolve(performance.now()));
    socket.once('error', reject);
  });
  return { socket, firstReply };
}

/**
 * Re-protects `survivor` with a fresh secondary; returns it and the sync time, ms. An attempt that
 * fails (on a loaded machine the default detector can convict a peer busy with the sync) is
 * retried with another fresh secondary: the survivor wins the next generation meanwhile and serves.
 */
async function reprotect(
  survivor: Node,
  name: string,
  arbiter: ArbiterConfig,
  memoryMiB: number,
): Promise<{ secondary: Node; ms: number; failures: number }> {
  for (let attempt = 0; ; attempt++) {
    const secondary = spawnNode({ role: 'secondary', name: `${name}.${attempt}`, arbiter, memoryMiB });
    const ready = await waitLine(secondary, 'ready');
    const before = survivor.lines.length;
    survivor.child.stdin!.write(`${JSON.stringify({ protect: ready.dataPort })}\n`);
    try {
      const done = await waitLine(survivor, 'protected', before);
      return { secondary, ms: done.ms as number, failures: attempt };
    } catch (err) {
      await kill(secondary);
      if (attempt >= 2) throw err;
      console.log(`  re-protection of ${survivor.name} failed (${(err as Error).message}); again`);
    }
  }
}

/** Loopback TCP to another process: ms to move `bytes` and get the receiver's one-byte answer. */
async function loopbackCopyMs(bytes: number): Promise<number> {
  const sink = await startPeer<{ raw: number }>('tcp-sink', [String(bytes)]);
  try {
    const socket = connect({ port: sink.ready.raw, host: '127.0.0.1', noDelay: true });
    await once(socket, 'connect');
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const times: number[] = [];
    for (let round = 0; round < 3; round++) {
      const started = performance.now();
      const answered = once(socket, 'data');
      for (let sent = 0; sent < bytes; sent += chunk.length)
        if (!socket.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent))))
          await once(socket, 'drain');
      await answered;
      times.push(performance.now() - started);
    }
    socket.destroy();
    return quantile(times, 0.5);
  } finally {
    await sink.stop();
  }
}

interface ChainResult {
  failoverMs: number[];
  switchoverMs: number[];
  reprotectMs: number[];
  reprotectFailures: number;
}

/**
 * One chain under one arbiter: `kills` SIGKILLs of the serving node, then `switchovers` planned
 * handovers, the survivor re-protected by a fresh secondary after each.
 */
async function chain(
  arbiter: ArbiterConfig,
  kills: number,
  switchovers: number,
  memoryMiB: number,
): Promise<ChainResult> {
  const result: ChainResult = { failoverMs: [], switchoverMs: [], reprotectMs: [], reprotectFailures: 0 };
  let serial = 0;
  try {
    let secondary = spawnNode({
      role: 'secondary',
      name: `${arbiter.kind}-n${++serial}`,
      arbiter,
      memoryMiB,
    });
    const first = await waitLine(secondary, 'ready');
    let serving = spawnNode({
      role: 'primary',
      name: `${arbiter.kind}-n${++serial}`,
      arbiter,
      memoryMiB,
      secondaryPort: first.dataPort as number,
    });
    await waitLine(serving, 'protected');

    for (let i = 0; i < kills + switchovers; i++) {
      const planned = i >= kills;
      // Let the clients and the epochs run a while before the event.
      await sleep(200 + Math.random() * 200);
      const target = (await waitLine(secondary, 'ready')).servePort as number;
      const client = await probe(target);
      const started = performance.now();
      if (planned) serving.child.stdin!.write(`${JSON.stringify({ switchover: true })}\n`);
      else serving.child.kill('SIGKILL');
      client.socket.write('x');
      const replied = await client.firstReply;
      client.socket.destroy();
      (planned ? result.switchoverMs : result.failoverMs).push(replied - started);
      const takeover = await waitLine(secondary, 'takeover');
      console.log(
        `  ${arbiter.kind}: ${planned ? 'switchover' : 'failover'} ${i + 1}: ${(replied - started).toFixed(1)} ms to the first reply (takeover ${Number(takeover.durationMs).toFixed(1)} ms, restore ${Number(takeover.restoreMs).toFixed(1)} ms)`,
      );
      await kill(serving);
      serving = secondary;
      const next = await reprotect(serving, `${arbiter.kind}-n${++serial}`, arbiter, memoryMiB);
      result.reprotectMs.push(next.ms);
      result.reprotectFailures += next.failures;
      secondary = next.secondary;
    }
  } finally {
    await Promise.all([...children].map((child) => kill({ name: '', child, lines: [] })));
  }
  return result;
}

async function run({ quick }: SuiteOptions): Promise<BenchCase[]> {
  const kills = quick ? 2 : 10;
  const switchovers = quick ? 1 : 4;
  const memoryMiB = 16;
  const deadline = (samples: number[]) => samples.map(() => DEADLINE_MS);
  const cases: BenchCase[] = [];
  const reprotectMs: number[] = [];
  let reprotectFailures = 0;
  const record = (label: string, result: ChainResult) => {
    cases.push(
      ...distributionCases(
        `failover SIGKILL to first reply (${label} arbiter)`,
        'ms',
        result.failoverMs,
        deadline(result.failoverMs),
      ),
      ...distributionCases(
        `switchover to first reply (${label} arbiter)`,
        'ms',
        result.switchoverMs,
        deadline(result.switchoverMs),
      ),
    );
    reprotectMs.push(...result.reprotectMs);
    reprotectFailures += result.reprotectFailures;
  };

  const arbiterDir = mkdtempSync(join(tmpdir(), 'mc-bench-failover-'));
  try {
    record('file', await chain({ kind: 'file', directory: arbiterDir }, kills, switchovers, memoryMiB));
  } finally {
    rmSync(arbiterDir, { recursive: true, force: true });
  }

  // The witness runs in this process: a third process next to the two nodes.
  const witness = createWitnessServer({});
  const { port: witnessPort } = await witness.listen();
  try {
    record('witness', await chain({ kind: 'witness', port: witnessPort }, kills, switchovers, memoryMiB));
  } finally {
    await witness.close();
  }

  if (findEtcd() === null)
    console.log('  etcd is not installed (apt-get install etcd-server): no etcd cases');
  else {
    const etcd = await startEtcd();
    try {
      record('etcd', await chain({ kind: 'etcd', url: etcd.url }, kills, switchovers, memoryMiB));
    } finally {
      await etcd.destroy();
    }
  }

  const bytes = memoryMiB * 1024 * 1024;
  const perGiB = (1024 * 1024 * 1024) / bytes;
  const copyMs = await loopbackCopyMs(bytes);
  console.log(
    `  re-protections: ${reprotectMs.length} done, ${reprotectFailures} attempts failed and retried`,
  );
  cases.push(
    benchCase(
      `re-protection (full live sync, ${memoryMiB} MiB dense guest) p50`,
      'ms/GiB',
      quantile(reprotectMs, 0.5) * perGiB,
      copyMs * perGiB,
    ),
  );
  return cases;
}

const suite: BenchSuite = {
  name: 'failover',
  question:
    'How long from a SIGKILL (or a planned switchover) of the serving node to the first reply from the survivor, under each arbiter, against the detector deadline; how long does re-protection take per GiB, against loopback TCP?',
  run,
};
export default suite;
