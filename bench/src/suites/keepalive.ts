import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  createFailureDetector,
  createKeepalive,
  DETECT_MULTIPLIER,
  type FailureDetectorOptions,
  HEARTBEAT_INTERVAL_MS,
  type HeartbeatArrival,
  type Keepalive,
  monotonicMs,
  type StateChange,
} from '@microcheckpoint/keepalive';
import { type BenchCase, benchCase, distributionCases, quantile } from '../results.js';
import type { BenchSuite } from '../suite.js';

// Detection latency of the keepalive with its default settings (heartbeat every 20 ms, conviction after
// 5 x 20 ms of silence) for three faults of a peer process, each measured from the moment the fault is
// injected to the observer's `dead` event, both stamped with CLOCK_MONOTONIC. SIGKILL and SIGSTOP run on
// loopback; iptables DROP and the saturated-link soak run between two network namespaces joined by a veth
// pair. Baselines: TCP's own notice of the same SIGKILL (the data channel's EOF), the configured deadline
// for SIGSTOP (TCP never notices a stopped peer: its kernel keeps acknowledging), and TCP's own detection
// of a DROPped peer, capped.

const BENCH_DIR = fileURLToPath(new URL('../../', import.meta.url));
const DEADLINE_MS = DETECT_MULTIPLIER * HEARTBEAT_INTERVAL_MS;
const HEARTBEAT_PORT = 7000;
const TCP_PORT = 7001;

// One keepalive in a process of its own, built package, plain Node (no TypeScript loader, so it starts in
// ~100 ms). Config as JSON in argv; JSON lines out: ready, change, status, trace.
const AGENT = `
import { createConnection, createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { createKeepalive, monotonicMs } from '@microcheckpoint/keepalive';
const config = JSON.parse(process.argv[1]);
const out = (m) => process.stdout.write(JSON.stringify({ atMs: monotonicMs(), ...m }) + '\\n');
const k = createKeepalive(config.keepalive);
const sockets = new Set();
const trace = [];
let stalls = 0;
let bytes = 0;
k.on('change', (c) => out({ type: 'change', ...c }));
if (config.trace) k.detector.on('heartbeat', (a) => trace.push(a.atMs));
const chunk = new Uint8Array(65536);
function attach(socket) {
  sockets.add(socket);
  if (config.watchData) k.watchDataChannel(socket);
  socket.on('data', (d) => { bytes += d.length; });
  socket.on('error', () => {});
  if (config.bulk) {
    const pump = () => { while (!socket.destroyed && socket.write(chunk)) {} };
    socket.on('drain', pump);
    pump();
  }
}
const heartbeat = await k.start();
const server = config.tcpListen ? createServer(attach) : undefined;
if (server) await new Promise((r) => server.listen(config.tcpListen.port, config.tcpListen.address, r));
if (config.tcpConnect) {
  const socket = createConnection({ host: config.tcpConnect.address, port: config.tcpConnect.port });
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  attach(socket);
}
const timers = [];
if (config.stall) timers.push(setInterval(() => {
  stalls++;
  const end = monotonicMs() + config.stall.ms;
  while (monotonicMs() < end) {}
}, config.stall.everyMs));
createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line);
  if (cmd.cmd === 'peer') k.setPeer(cmd.peer);
  if (cmd.cmd === 'status') out({ type: 'status', status: k.status(), stalls, bytes, trace });
}).on('close', async () => {
  for (const t of timers) clearInterval(t);
  for (const s of sockets) s.destroy();
  server?.close();
  await k.close();
  process.exit(0);
});
out({ type: 'ready', pid: process.pid, heartbeat });
`;

// TCP's own failure detection, the baseline under DROP: a client that keeps writing to a server, with the
// only keepalive Node offers (setKeepAlive), reports when its socket finally fails.
const TCP_SERVER = `
import { createServer } from 'node:net';
const [address, port] = JSON.parse(process.argv[1]);
createServer((s) => { s.on('data', () => {}); s.on('error', () => {}); })
  .listen(port, address, () => console.log(JSON.stringify({ type: 'ready', pid: process.pid })));
process.stdin.on('end', () => process.exit(0)).resume();
`;
const TCP_CLIENT = `
import { createConnection } from 'node:net';
import { monotonicMs } from '@microcheckpoint/keepalive';
const [address, port] = JSON.parse(process.argv[1]);
const out = (m) => process.stdout.write(JSON.stringify({ atMs: monotonicMs(), ...m }) + '\\n');
const socket = createConnection({ host: address, port });
socket.setKeepAlive(true, 1000);
process.stdin.on('end', () => process.exit(0)).resume();
socket.on('connect', () => {
  out({ type: 'ready', pid: process.pid });
  setInterval(() => socket.write(new Uint8Array(1024)), 20);
});
socket.on('error', (e) => out({ type: 'failed', code: e.code }));
socket.on('close', () => out({ type: 'closed' }));
`;

interface Message {
  type: string;
  atMs: number;
  [key: string]: unknown;
}

interface Proc {
  pid: number;
  messages: Message[];
  waitFor(predicate: (m: Message) => boolean, timeoutMs: number, what: string): Promise<Message>;
  send(command: object): void;
  stop(): Promise<void>;
}

function startScript(source: string, config: unknown, netns?: string): Promise<Proc> {
  const args = ['--input-type=module', '-e', source, JSON.stringify(config)];
  const child: ChildProcess = netns
    ? spawn('ip', ['netns', 'exec', netns, process.execPath, ...args], { cwd: BENCH_DIR })
    : spawn(process.execPath, args, { cwd: BENCH_DIR });
  const messages: Message[] = [];
  const waiters = new Set<(m: Message) => void>();
  let stderr = '';
  let buffered = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdout?.on('data', (d: Buffer) => {
    buffered += d.toString();
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim() === '') continue;
      const message = JSON.parse(line) as Message;
      messages.push(message);
      for (const waiter of [...waiters]) waiter(message);
    }
  });
  const exited = once(child, 'exit');
  let gone = false;
  void exited.then(() => {
    gone = true;
    for (const waiter of [...waiters]) waiter({ type: 'exit', atMs: monotonicMs() });
  });
  const proc: Proc = {
    pid: -1,
    messages,
    waitFor: (predicate, timeoutMs, what) => {
      const found = messages.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = (m: Message) => {
          if (m.type === 'exit') {
            waiters.delete(waiter);
            clearTimeout(timer);
            reject(new Error(`process exited while waiting for ${what}; stderr: ${stderr.slice(-1000)}`));
            return;
          }
          if (!predicate(m)) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          resolve(m);
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no ${what} within ${timeoutMs} ms; stderr: ${stderr.slice(-1000)}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    send: (command) => {
      child.stdin?.write(`${JSON.stringify(command)}\n`);
    },
    stop: async () => {
      if (gone) return;
      for (const signal of ['SIGCONT', 'SIGKILL'] as const) {
        try {
          if (proc.pid > 0) process.kill(proc.pid, signal);
        } catch {
          // Already gone.
        }
      }
      child.kill('SIGKILL');
      await exited;
    },
  };
  return proc
    .waitFor((m) => m.type === 'ready', 15_000, 'ready')
    .then((ready) => {
      proc.pid = typeof ready.pid === 'number' ? ready.pid : (child.pid ?? -1);
      return proc;
    })
    .catch(async (err) => {
      await proc.stop();
      throw err;
    });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function nextChange(k: Keepalive, to: StateChange['to'], timeoutMs: number): Promise<StateChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      k.off('change', listener);
      reject(new Error(`no ${to} within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (c: StateChange) => {
      if (c.to !== to) return;
      clearTimeout(timer);
      k.off('change', listener);
      resolve(c);
    };
    k.on('change', listener);
  });
}

// ---- network namespaces ----

interface Topology {
  nsA: string;
  nsB: string;
  devA: string;
  devB: string;
  run(ns: string, command: string, ...args: string[]): string;
  destroy(): void;
}

const ADDRESS_A = '10.200.5.1';
const ADDRESS_B = '10.200.5.2';

function topology(tag: string): Topology {
  const base = `mcka${process.pid}${tag}`;
  const t: Topology = {
    nsA: `${base}a`,
    nsB: `${base}b`,
    devA: `${base}a`,
    devB: `${base}b`,
    run: (ns, command, ...args) =>
      execFileSync('ip', ['netns', 'exec', ns, command, ...args], { encoding: 'utf8', stdio: 'pipe' }),
    destroy: () => {
      for (const ns of [t.nsA, t.nsB]) {
        try {
          execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' });
        } catch {
          // Not there.
        }
      }
    },
  };
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  try {
    t.destroy();
    ip('netns', 'add', t.nsA);
    ip('netns', 'add', t.nsB);
    ip('link', 'add', t.devA, 'type', 'veth', 'peer', 'name', t.devB);
    ip('link', 'set', t.devA, 'netns', t.nsA);
    ip('link', 'set', t.devB, 'netns', t.nsB);
    ip('-n', t.nsA, 'addr', 'add', `${ADDRESS_A}/24`, 'dev', t.devA);
    ip('-n', t.nsB, 'addr', 'add', `${ADDRESS_B}/24`, 'dev', t.devB);
    for (const [ns, dev] of [
      [t.nsA, t.devA],
      [t.nsB, t.devB],
    ]) {
      ip('-n', ns!, 'link', 'set', dev!, 'up');
      ip('-n', ns!, 'link', 'set', 'lo', 'up');
    }
  } catch (err) {
    t.destroy();
    throw err;
  }
  return t;
}

function namespacesUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root';
  for (const tool of ['ip', 'iptables', 'tc']) {
    if (!['/usr/sbin', '/sbin', '/usr/bin', '/bin'].some((d) => existsSync(`${d}/${tool}`)))
      return `needs ${tool}`;
  }
  return undefined;
}

function agentConfig(ns: 'a' | 'b', extra: Record<string, unknown> = {}): Record<string, unknown> {
  const [self, other] = ns === 'a' ? [ADDRESS_A, ADDRESS_B] : [ADDRESS_B, ADDRESS_A];
  return {
    keepalive: {
      role: ns === 'a' ? 'secondary' : 'primary',
      address: self,
      port: HEARTBEAT_PORT,
      peer: { address: other, port: HEARTBEAT_PORT },
    },
    ...extra,
  };
}

// ---- the faults ----

interface LoopbackResults {
  killSuspect: number[];
  killDead: number[];
  killTcp: number[];
  stopDead: number[];
}

async function loopbackTrials(trials: number): Promise<LoopbackResults> {
  const observer = createKeepalive({ role: 'secondary' });
  const local = await observer.start();
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const tcpPort = (server.address() as { port: number }).port;
  const results: LoopbackResults = { killSuspect: [], killDead: [], killTcp: [], stopDead: [] };
  try {
    for (const fault of ['SIGKILL', 'SIGSTOP'] as const) {
      for (let trial = 0; trial < trials; trial++) {
        const accepted = once(server, 'connection') as Promise<[Socket]>;
        const peer = await startScript(AGENT, {
          keepalive: { role: 'primary', peer: { address: '127.0.0.1', port: local.port } },
          tcpConnect: { address: '127.0.0.1', port: tcpPort },
        });
        try {
          const [socket] = await accepted;
          socket.on('error', () => {});
          const tcpNotice = new Promise<number>((resolve) =>
            socket.once('close', () => resolve(monotonicMs())),
          );
          const unwatch = observer.watchDataChannel(socket);
          const alive = nextChange(observer, 'alive', 5_000);
          const ready = peer.messages.find((m) => m.type === 'ready')!;
          observer.setPeer({ address: '127.0.0.1', port: (ready.heartbeat as { port: number }).port });
          await alive;
          await sleep(300); // let the detector see a few heartbeats, as it would in service
          const suspect = nextChange(observer, 'suspect', 5_000);
          const dead = nextChange(observer, 'dead', 5_000);
          const faultAt = monotonicMs();
          process.kill(peer.pid, fault);
          const conviction = await dead;
          if (fault === 'SIGKILL') {
            results.killSuspect.push((await suspect).atMs - faultAt);
            results.killDead.push(conviction.atMs - faultAt);
            results.killTcp.push((await tcpNotice) - faultAt);
          } else {
            results.stopDead.push(conviction.atMs - faultAt);
          }
          unwatch();
          socket.destroy();
        } finally {
          await peer.stop();
        }
      }
    }
  } finally {
    await observer.close();
    server.close();
  }
  return results;
}

async function dropTrials(t: Topology, trials: number): Promise<number[]> {
  const observer = await startScript(AGENT, agentConfig('a'), t.nsA);
  const latencies: number[] = [];
  try {
    for (let trial = 0; trial < trials; trial++) {
      // A fresh peer process each trial: a peer that came back from a partition is a flapping peer, and flap
      // damping would (rightly) hold it in suspect longer the next time.
      const since = monotonicMs();
      const peer = await startScript(AGENT, agentConfig('b'), t.nsB);
      try {
        await observer.waitFor(
          (m) => m.type === 'change' && m.to === 'alive' && m.atMs > since,
          5_000,
          'observer sees the peer',
        );
        await sleep(300);
        const faultAt = monotonicMs();
        t.run(t.nsA, 'iptables', '-A', 'INPUT', '-s', ADDRESS_B, '-j', 'DROP');
        t.run(t.nsA, 'iptables', '-A', 'OUTPUT', '-d', ADDRESS_B, '-j', 'DROP');
        const dead = await observer.waitFor(
          (m) => m.type === 'change' && m.to === 'dead' && m.atMs > faultAt,
          5_000,
          'conviction under DROP',
        );
        latencies.push(dead.atMs - faultAt);
        if (dead.atMs - faultAt > 1.3 * DEADLINE_MS) {
          // Say why an outlier was slow: the state changes of that trial, relative to the fault.
          const history = observer.messages
            .filter((m) => m.type === 'change' && m.atMs > since)
            .map((m) => `${m.to}:${m.reason}@${(m.atMs - faultAt).toFixed(0)}ms`);
          console.log(`  slow DROP trial ${(dead.atMs - faultAt).toFixed(0)} ms: ${history.join(' ')}`);
        }
      } finally {
        t.run(t.nsA, 'iptables', '-F');
        await peer.stop();
      }
    }
  } finally {
    await observer.stop();
  }
  return latencies;
}

/** How long a node:net socket takes to notice a DROPped peer, on a topology of its own; `cap` if never. */
async function tcpDropBaseline(t: Topology, capMs: number): Promise<{ ms: number; capped: boolean }> {
  const server = await startScript(TCP_SERVER, [ADDRESS_B, TCP_PORT], t.nsB);
  const client = await startScript(TCP_CLIENT, [ADDRESS_B, TCP_PORT], t.nsA);
  try {
    await sleep(200);
    const faultAt = monotonicMs();
    t.run(t.nsA, 'iptables', '-A', 'INPUT', '-s', ADDRESS_B, '-j', 'DROP');
    t.run(t.nsA, 'iptables', '-A', 'OUTPUT', '-d', ADDRESS_B, '-j', 'DROP');
    try {
      const failed = await client.waitFor(
        (m) => m.type === 'failed' || m.type === 'closed',
        capMs,
        'tcp failure',
      );
      return { ms: failed.atMs - faultAt, capped: false };
    } catch {
      return { ms: capMs, capped: true };
    }
  } finally {
    await client.stop();
    await server.stop();
  }
}

interface SoakResult {
  convictions: number;
  suspicions: number;
  stalls: number;
  heartbeats: number;
  trace: number[];
}

/**
 * The peer ships bulk checkpoint data to the observer through a rate-limited link (tc tbf), so its
 * heartbeats queue behind the data; the observer's main loop stalls 100 ms every 400 ms. Heartbeats alone
 * decide (the data channel is not counted as evidence). Any conviction, either side, is false.
 */
async function soak(t: Topology, durationMs: number): Promise<SoakResult> {
  t.run(
    t.nsB,
    'tc',
    'qdisc',
    'add',
    'dev',
    t.devB,
    'root',
    'tbf',
    'rate',
    '20mbit',
    'burst',
    '32kb',
    'latency',
    '50ms',
  );
  const observer = await startScript(
    AGENT,
    agentConfig('a', {
      tcpListen: { address: ADDRESS_A, port: TCP_PORT },
      stall: { everyMs: 400, ms: 100 },
      trace: true,
    }),
    t.nsA,
  );
  const peer = await startScript(
    AGENT,
    agentConfig('b', { tcpConnect: { address: ADDRESS_A, port: TCP_PORT }, bulk: true }),
    t.nsB,
  );
  try {
    await sleep(durationMs);
    const status = async (p: Proc) => {
      const seen = p.messages.filter((m) => m.type === 'status').length;
      p.send({ cmd: 'status' });
      let n = 0;
      return p.waitFor((m) => m.type === 'status' && ++n > seen, 10_000, 'status');
    };
    const o = await status(observer);
    const p = await status(peer);
    const os = o.status as { convictions: number; suspicions: number; heartbeatsReceived: number };
    const ps = p.status as { convictions: number; suspicions: number };
    return {
      convictions: os.convictions + ps.convictions,
      suspicions: os.suspicions + ps.suspicions,
      stalls: o.stalls as number,
      heartbeats: os.heartbeatsReceived,
      trace: o.trace as number[],
    };
  } finally {
    await peer.stop();
    await observer.stop();
    t.run(t.nsB, 'tc', 'qdisc', 'del', 'dev', t.devB, 'root');
  }
}

/**
 * Replays the soak's heartbeat arrival times through a detector with other settings, on a fake clock
 * evaluated every 5 ms: how many false convictions each setting would have made on that link.
 */
function replay(trace: number[], options: FailureDetectorOptions): number {
  if (trace.length < 2) return 0;
  let now = trace[0]!;
  const detector = createFailureDetector({ ...options, clock: () => now });
  let sequence = 0;
  for (const atMs of trace) {
    while (now + 5 < atMs) {
      now += 5;
      detector.evaluate();
    }
    now = atMs;
    sequence++;
    const arrival: HeartbeatArrival = {
      atMs,
      sequence,
      incarnation: 1,
      progress: sequence,
      senderTimeMs: atMs,
      intervalMs: options.intervalMs ?? HEARTBEAT_INTERVAL_MS,
      epoch: 0,
      role: 'primary',
      goodbye: false,
    };
    detector.heartbeat(arrival);
    detector.evaluate();
  }
  return detector.status().convictions;
}

/** Detection time of a setting for a peer that goes silent after a steady stream of 20 ms heartbeats. */
function detectionTime(options: FailureDetectorOptions): number {
  const steady = Array.from({ length: 200 }, (_, i) => i * HEARTBEAT_INTERVAL_MS);
  let now = 0;
  const detector = createFailureDetector({ ...options, clock: () => now });
  steady.forEach((atMs, i) => {
    now = atMs;
    detector.heartbeat({
      atMs,
      sequence: i + 1,
      incarnation: 1,
      progress: i,
      senderTimeMs: atMs,
      intervalMs: HEARTBEAT_INTERVAL_MS,
      epoch: 0,
      role: 'primary',
      goodbye: false,
    });
    detector.evaluate();
  });
  const last = now;
  while (detector.state !== 'dead' && now - last < 60_000) {
    now += 1;
    detector.evaluate();
  }
  return now - last;
}

const SETTINGS: Array<[string, FailureDetectorOptions]> = [
  ['deadline 2 x 20 ms', { multiplier: 2 }],
  ['deadline 3 x 20 ms', { multiplier: 3 }],
  ['deadline 5 x 20 ms (default)', {}],
  ['deadline 10 x 20 ms', { multiplier: 10 }],
  ['phi 8 (min std-dev 10, pause 40)', { rule: 'phi' }],
  ['phi 8 (min std-dev 10, pause 0)', { rule: 'phi', acceptablePauseMs: 0 }],
  ['phi 3 (min std-dev 5, pause 0)', { rule: 'phi', phiThreshold: 3, minStdDevMs: 5, acceptablePauseMs: 0 }],
];

const suite: BenchSuite = {
  name: 'keepalive',
  question:
    'How fast does the keepalive (defaults: 20 ms heartbeats, 5 x 20 ms deadline) convict a SIGKILLed, SIGSTOPped or iptables-DROPped peer, against TCP noticing the same fault, and does it ever convict a live peer on a saturated link?',
  async run({ quick }) {
    const trials = quick ? 5 : 30;
    const tcpCapMs = quick ? 10_000 : 60_000;
    const soakMs = quick ? 5_000 : 30_000;
    const cases: BenchCase[] = [];

    const loop = await loopbackTrials(trials);
    cases.push(...distributionCases('SIGKILL suspicion (vs TCP EOF)', 'ms', loop.killSuspect, loop.killTcp));
    cases.push(...distributionCases('SIGKILL conviction (vs TCP EOF)', 'ms', loop.killDead, loop.killTcp));
    cases.push(
      ...distributionCases(`SIGSTOP conviction (vs ${DEADLINE_MS} ms deadline)`, 'ms', loop.stopDead, [
        DEADLINE_MS,
      ]),
    );

    const unavailable = namespacesUnavailable();
    if (unavailable !== undefined) {
      console.log(`  iptables DROP and soak cases skipped: network namespaces ${unavailable}`);
      return cases;
    }
    const main = topology('k');
    const side = topology('t');
    try {
      // TCP's detection is capped at tens of seconds: run it on its own link while the rest proceeds.
      const tcp = tcpDropBaseline(side, tcpCapMs);
      const drops = await dropTrials(main, trials);
      const soaked = await soak(main, soakMs);
      const baseline = await tcp;
      const capLabel = baseline.capped ? `TCP > ${tcpCapMs} ms cap` : 'TCP';
      cases.push(
        ...distributionCases(`iptables DROP conviction (vs ${capLabel})`, 'ms', drops, [baseline.ms]),
      );
      cases.push(
        benchCase(`TCP DROP detection${baseline.capped ? ` (> cap)` : ''}`, 'ms', baseline.ms, DEADLINE_MS),
      );
      cases.push(
        benchCase(
          'soak false convictions (per injected 100 ms stall)',
          'count',
          soaked.convictions,
          soaked.stalls,
        ),
      );
      cases.push(
        benchCase('soak suspicions (per injected 100 ms stall)', 'count', soaked.suspicions, soaked.stalls),
      );
      const traceMs = soaked.trace.length > 1 ? soaked.trace.at(-1)! - soaked.trace[0]! : 0;
      console.log(
        `  soak: ${soaked.heartbeats} heartbeats over ${(traceMs / 1000).toFixed(1)} s, p99 gap ${quantile(
          soaked.trace.slice(1).map((t, i) => t - soaked.trace[i]!),
          0.99,
        ).toFixed(1)} ms`,
      );
      for (const [label, options] of SETTINGS) {
        // Trade-off: detection time on a clean link vs false convictions on the soak's saturated-link trace.
        cases.push(
          benchCase(
            `trade-off ${label}: false convictions on soak trace (vs heartbeats)`,
            'count',
            replay(soaked.trace, options),
            soaked.trace.length,
          ),
        );
        // The same without flap damping: what the rule alone would have done.
        cases.push(
          benchCase(
            `trade-off ${label}, no flap damping: false convictions on soak trace (vs heartbeats)`,
            'count',
            replay(soaked.trace, { ...options, flapHoldMs: 0, maxFlapHoldMs: 0 }),
            soaked.trace.length,
          ),
        );
        cases.push(
          benchCase(
            `trade-off ${label}: detection time (vs 5 x 20 ms)`,
            'ms',
            detectionTime(options),
            DEADLINE_MS,
          ),
        );
      }
    } finally {
      main.destroy();
      side.destroy();
    }
    return cases;
  },
};

export default suite;
