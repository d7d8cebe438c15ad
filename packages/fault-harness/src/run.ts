import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { checkRun, recoveryMs, type Violation } from './checker.js';
import {
  DATA_PORT,
  DEFAULT_CLIENTS,
  DETECT_MULTIPLIER,
  EPOCH_MS,
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
  HANG_TIMEOUT_MS,
  KV_PORT,
  NODE_MEMORY_MIB,
  NODE_SLOT_COUNT,
  REPROTECT_TIMEOUT_MS,
  SETTLE_MS,
  STATUS_PORT,
  WITNESS_PORT,
  WORKLOAD_SLACK_MS,
} from './constants.js';
import { LabError } from './errors.js';
import {
  type FinalState,
  type Operation,
  parseHistory,
  parseReleaseLog,
  type ReleaseSpan,
} from './history.js';
import { createLab, type Lab, tcAvailable } from './lab.js';
import { applyFault, type LabNode, type NemesisContext } from './nemesis.js';
import { type LineProcess, lineProcess } from './processes.js';
import { type Fault, REPROTECTED_FAULT_AFTER_MS, type Schedule, type Target } from './schedule.js';
import type { NodeAddress } from './service-finder.js';

/** Where the built programs are (this file runs from src/ under vitest and from dist/ when built). */
function program(name: 'node' | 'client'): string {
  const path = fileURLToPath(new URL(`../dist/${name}.js`, import.meta.url));
  if (!existsSync(path)) {
    throw new LabError(
      `${path} is missing: build first (npx turbo run build --filter=@microcheckpoint/fault-harness...)`,
    );
  }
  return path;
}

/** Options of `runSchedule()`. */
export interface RunOptions {
  /** The planted bug: nodes deliver replies before their checkpoint is acknowledged. */
  readonly unsafeReleaseBeforeAck?: boolean;
  /** Logical clients. @default 4 */
  readonly clients?: number;
  /**
   * Where to keep the files of a run that violated a property (history, release logs, the nodes'
   * event lines, the final read): a directory `seed-<seed>-<runid>` is made in it.
   */
  readonly keepDir?: string;
  /** Called with each lab as soon as it exists (the CLI tears it down on SIGINT). */
  readonly onLab?: (lab: Lab | null) => void;
}

/** What happened to one fault. */
export interface FaultResult {
  readonly fault: Fault;
  readonly appliedAtMs: number;
  readonly healedAtMs: number;
  /** Time without service after the fault, as the clients saw it (null: never served again). */
  readonly recoverMs: number | null;
  /**
   * From the fault to a node's announcing that it acts alone (the secondary serving, or the
   * primary unprotected); null when the fault caused no failover.
   */
  readonly failoverMs: number | null;
  /** Thrown at a pair re-protected by the spare (the schedule's `reprotect.fault`, after success). */
  readonly onReprotectedPair: boolean;
}

/** What the re-protection phase did. */
export interface ReprotectResult {
  /**
   * `protected`: the survivor and the spare ran as a protected pair; `failed`: the survivor was
   * asked and could not (the message says why); `not-needed`: no node was alone (no failover).
   */
  readonly outcome: 'protected' | 'failed' | 'not-needed';
  /** The node that protected itself with the spare. */
  readonly survivor: LabNode | null;
  /** From asking the survivor to the pair being protected (full sync and first checkpoint). */
  readonly protectMs: number | null;
  readonly message?: string;
}

/** The verdict on one schedule. */
export interface RunResult {
  readonly schedule: Schedule;
  /** Every fault applied, in order (the re-protected pair's last). */
  readonly faults: readonly FaultResult[];
  /** The re-protection phase, when the schedule has one. */
  readonly reprotect: ReprotectResult | null;
  /**
   * How long the first protection took (the primary's `start()`: full sync and first checkpoint,
   * before the clients start): the baseline of the re-protection time.
   */
  readonly protectMs: number | null;
  readonly violations: readonly Violation[];
  readonly operations: number;
  readonly acknowledged: number;
  /** Which node served at the end, under which generation. */
  readonly finalNode: string | null;
  readonly finalGeneration: number | null;
  readonly releases: readonly ReleaseSpan[];
  /** Every operation the clients recorded. */
  readonly history: readonly Operation[];
  /**
   * What the nodes said about themselves (state changes, takeover, passive, errors) with wall
   * times, for diagnosing a failed run.
   */
  readonly events: ReadonlyArray<{ readonly node: string; readonly line: Readonly<Record<string, unknown>> }>;
  /** Why the schedule was not run (a nemesis this machine cannot apply), if it was not. */
  readonly skipped?: string;
}

const wallMs = (): number => performance.timeOrigin + performance.now();

/** How long after the first faults' heal a node may take to be left serving alone. */
const SURVIVOR_SETTLE_MS = 3000;

/** The KV nodes, by the host they run on: `spare` is the secondary that re-protects a survivor. */
const NODE_NAMES: readonly LabNode[] = ['primary', 'secondary', 'spare'];
/** States in which a node serves clients (a re-protecting primary while it syncs its new secondary). */
const SERVING_STATES = new Set(['protected', 'unprotected', 'serving', 'syncing']);
/** States in which a node serves alone, under its own grant. */
const ALONE_STATES = new Set(['unprotected', 'serving']);
/** The host each node runs on. */
const HOST_OF = { primary: 'pri', secondary: 'sec', spare: 'spare' } as const;

/** When, after `fromMs` (and before `untilMs`), a node first announced that it acts alone. */
function firstActingAlone(
  processes: Partial<Record<LabNode, LineProcess>>,
  fromMs: number,
  untilMs: number,
): number | null {
  let first = Number.POSITIVE_INFINITY;
  for (const p of Object.values(processes)) {
    for (const line of p?.lines ?? []) {
      const at = Number(line.atMs);
      const alone = line.type === 'serving' || (line.type === 'state' && line.state === 'unprotected');
      if (alone && at >= fromMs && at < untilMs && at < first) first = at;
    }
  }
  return Number.isFinite(first) ? first - fromMs : null;
}

/** A node's last word on its state, unless it has exited. */
function lastState(p: LineProcess | undefined): { state: string; generation: number } | null {
  if (p === undefined || p.child.exitCode !== null || p.child.signalCode !== null) return null;
  const last = [...p.lines].reverse().find((l) => l.type === 'state');
  return last === undefined ? null : { state: String(last.state), generation: Number(last.generation ?? 0) };
}

/** The node that serves now by its own last word, in one of `states`, with the newest generation. */
function servingNode(
  processes: Partial<Record<LabNode, LineProcess>>,
  states: ReadonlySet<string> = SERVING_STATES,
): LabNode | null {
  let best: { name: LabNode; generation: number } | null = null;
  for (const name of NODE_NAMES) {
    const last = lastState(processes[name]);
    if (last === null || !states.has(last.state)) continue;
    if (best === null || last.generation > best.generation) best = { name, generation: last.generation };
  }
  return (best as { name: LabNode } | null)?.name ?? null;
}

/**
 * Runs one schedule in a fresh lab: arbiter, secondary, primary, clients, the faults and their
 * heals, the final read, the checker. The lab is torn down whatever happens.
 */
export async function runSchedule(schedule: Schedule, options: RunOptions = {}): Promise<RunResult> {
  if (schedule.faults.some((f) => f.kind === 'saturate-link') && !tcAvailable()) {
    return {
      schedule,
      faults: [],
      violations: [],
      operations: 0,
      acknowledged: 0,
      finalNode: null,
      finalGeneration: null,
      reprotect: null,
      protectMs: null,
      releases: [],
      history: [],
      events: [],
      skipped: 'tc is not installed: the saturated link (tbf) cannot be applied',
    };
  }
  const lab = createLab();
  try {
    options.onLab?.(lab);
    return await runInLab(lab, schedule, options);
  } finally {
    lab.teardown();
    options.onLab?.(null);
  }
}

async function runInLab(lab: Lab, schedule: Schedule, options: RunOptions): Promise<RunResult> {
  const node = program('node');
  const client = program('client');
  const { hosts, dir } = lab;
  const arbiterArgs: string[] = ['--arbiter', schedule.arbiter];
  let arbiter: LineProcess | null = null;
  let startArbiter: () => Promise<void> = async () => undefined;
  if (schedule.arbiter === 'file') {
    arbiterArgs.push('--arbiter-dir', join(dir, 'arbiter'));
    mkdirSync(join(dir, 'arbiter'));
  } else if (schedule.arbiter === 'witness') {
    arbiterArgs.push('--witness-host', hosts.arb.address, '--witness-port', String(WITNESS_PORT));
    startArbiter = async () => {
      arbiter = lineProcess(
        'witness',
        lab.spawn('arb', process.execPath, [
          node,
          '--role',
          'witness',
          '--host',
          hosts.arb.address,
          '--witness-port',
          String(WITNESS_PORT),
          '--state-file',
          join(dir, 'witness.state'),
        ]),
      );
      await arbiter.waitFor((l) => l.type === 'listening', 15_000, 'the witness listening');
    };
  } else {
    const url = `http://${hosts.arb.address}:${ETCD_CLIENT_PORT}`;
    const peer = `http://${hosts.arb.address}:${ETCD_PEER_PORT}`;
    arbiterArgs.push('--etcd-url', url);
    startArbiter = async () => {
      arbiter = lineProcess(
        'etcd',
        lab.spawn('arb', 'etcd', [
          '--name=mcf',
          `--data-dir=${join(dir, 'etcd')}`,
          `--listen-client-urls=${url}`,
          `--advertise-client-urls=${url}`,
          `--listen-peer-urls=${peer}`,
          `--initial-advertise-peer-urls=${peer}`,
          `--initial-cluster=mcf=${peer}`,
          '--heartbeat-interval=50',
          '--election-timeout=500',
          '--logger=zap',
          '--log-level=error',
        ]),
      );
      const deadline = performance.now() + 15_000;
      for (;;) {
        try {
          if (lab.exec('arb', 'curl', ['-s', '-m', '1', `${url}/health`]).includes('"health":"true"')) return;
        } catch {}
        if (performance.now() > deadline)
          throw new LabError(`etcd did not serve within 15 s: ${arbiter.stderr()}`);
        await sleep(50);
      }
    };
  }
  await startArbiter();

  const common = [
    ...arbiterArgs,
    '--memory-mib',
    String(NODE_MEMORY_MIB),
    '--slots',
    String(NODE_SLOT_COUNT),
    '--epoch-ms',
    String(EPOCH_MS),
    '--detect-multiplier',
    String(DETECT_MULTIPLIER),
    '--hang-timeout-ms',
    String(HANG_TIMEOUT_MS),
    '--lease-ttl-ms',
    String(schedule.leaseTtlMs),
    '--port',
    String(KV_PORT),
    '--status-port',
    String(STATUS_PORT),
    ...(options.unsafeReleaseBeforeAck ? ['--unsafe-release-before-ack'] : []),
  ];
  const fileOf = (name: LabNode, what: 'release' | 'block' | 'protect') =>
    join(dir, `${what}-${name}${what === 'release' ? '.log' : ''}`);
  const startNode = (name: LabNode, args: string[]): LineProcess =>
    lineProcess(
      name,
      lab.spawn(HOST_OF[name], process.execPath, [
        node,
        '--host',
        hosts[HOST_OF[name]].address,
        '--release-log',
        fileOf(name, 'release'),
        '--block-file',
        fileOf(name, 'block'),
        '--protect-file',
        fileOf(name, 'protect'),
        ...args,
        ...common,
      ]),
    );
  const secondaryArgs = ['--role', 'secondary', '--data-port', String(DATA_PORT)];
  const processes: Partial<Record<LabNode, LineProcess>> = {};
  processes.secondary = startNode('secondary', secondaryArgs);
  // The spare waits as a plain secondary until a survivor attaches to it.
  if (schedule.reprotect !== null) processes.spare = startNode('spare', secondaryArgs);
  for (const waiting of [processes.secondary, processes.spare]) {
    await waiting?.waitFor((l) => l.type === 'listening', 30_000, `the ${waiting.name} listening`);
  }
  processes.primary = startNode('primary', [
    '--role',
    'primary',
    '--secondary-host',
    hosts.sec.address,
    '--secondary-port',
    String(DATA_PORT),
  ]);
  const started = await processes.primary.waitFor((l) => l.type === 'listening', 30_000, 'the primary');
  const protectedLine = await processes.primary.waitFor(
    (l) => l.type === 'protected',
    30_000,
    'the primary protected',
  );
  const protectMs = Number(protectedLine.atMs) - Number(started.atMs);

  const names = NODE_NAMES.filter((name) => processes[name] !== undefined);
  const nodes: NodeAddress[] = names.map((name) => ({
    name,
    host: hosts[HOST_OF[name]].address,
    port: KV_PORT,
    statusPort: STATUS_PORT,
  }));
  const clients = options.clients ?? DEFAULT_CLIENTS;
  const historyFile = join(dir, 'history.jsonl');
  const startMs = wallMs();
  /** The client program on the client host, in one of its modes, knowing every node. */
  const startClients = (name: string, mode: 'workload' | 'final', args: string[]): LineProcess =>
    lineProcess(
      name,
      lab.spawn('cli', process.execPath, [
        client,
        mode,
        '--nodes',
        JSON.stringify(nodes),
        '--clients',
        String(clients),
        ...args,
      ]),
    );
  const workload = startClients('clients', 'workload', [
    '--seed',
    String(schedule.seed),
    // A bound only: the run stops the workload itself, SETTLE_MS after the last heal.
    '--stop-at-ms',
    String(startMs + schedule.workloadMs + WORKLOAD_SLACK_MS),
    '--history',
    historyFile,
  ]);

  // The pair the faults' `primary` and `secondary` name: the nodes started as such, then the
  // survivor and the spare once re-protected.
  let pair: { primary: LabNode; secondary: LabNode } = { primary: 'primary', secondary: 'secondary' };
  const context: NemesisContext = {
    lab,
    resolve: (target: Target): LabNode =>
      target === 'serving' ? (servingNode(processes) ?? pair.primary) : pair[target],
    peerOf: (name: LabNode) => (name === pair.primary ? pair.secondary : pair.primary),
    hostOf: (name: LabNode) => HOST_OF[name],
    pidOf: (name: LabNode) => {
      const child = processes[name]?.child;
      return child !== undefined && child.exitCode === null && child.signalCode === null
        ? child.pid
        : undefined;
    },
    blockFile: (name: LabNode) => fileOf(name, 'block'),
    stopArbiter: () => {
      const current = arbiter as LineProcess | null;
      current?.child.kill('SIGKILL');
    },
    arbiterPid: () => {
      const current = arbiter as LineProcess | null;
      return current?.child.exitCode === null ? current.child.pid : undefined;
    },
    startArbiter: async () => {
      const current = arbiter as LineProcess | null;
      if (current) await current.exited;
      await startArbiter();
    },
  };
  const faultResults: Array<Omit<FaultResult, 'recoverMs' | 'failoverMs'>> = [];
  const applyAndHeal = async (fault: Fault, notBeforeMs: number, onReprotectedPair = false) => {
    const wait = Math.max(startMs + fault.atMs, notBeforeMs) - wallMs();
    if (wait > 0) await sleep(wait);
    const heal = await applyFault(fault, context);
    // In effect from here (firewall rules and qdiscs take a few ms of `ip netns exec` to install):
    // operations sent before this moment do not count towards the recovery time.
    const appliedAtMs = wallMs();
    await sleep(Math.max(0, appliedAtMs + fault.durationMs - wallMs()));
    await heal();
    faultResults.push({ fault, appliedAtMs, healedAtMs: wallMs(), onReprotectedPair });
  };
  for (const fault of schedule.faults) await applyAndHeal(fault, 0);
  let reprotect: ReprotectResult | null = null;
  if (schedule.reprotect !== null) {
    const wait = startMs + schedule.reprotect.atMs - wallMs();
    if (wait > 0) await sleep(wait);
    const outcome = await reprotectSurvivor(processes, hosts.spare.address, fileOf);
    reprotect = outcome.result;
    if (reprotect.outcome === 'protected') pair = { primary: reprotect.survivor!, secondary: 'spare' };
    await applyAndHeal(
      schedule.reprotect.fault,
      outcome.doneAtMs + REPROTECTED_FAULT_AFTER_MS,
      reprotect.outcome === 'protected',
    );
  }
  // The clients go on for SETTLE_MS after the last heal, so service after it is measured.
  await sleep(Math.max(0, faultResults[faultResults.length - 1]!.healedAtMs + SETTLE_MS - wallMs()));
  workload.child.kill('SIGUSR1');
  const clientExit = await Promise.race([workload.exited, sleep(30_000, 'hung', { ref: false })]);
  if (clientExit !== 0)
    throw new LabError(`the client workload ended with ${String(clientExit)}: ${workload.stderr()}`);

  const finalReader = startClients('final', 'final', ['--timeout-ms', '5000']);
  const finalLine = await finalReader.waitFor((l) => 'node' in l, 20_000, 'the final read');
  let final: FinalState = null;
  if (finalLine.node !== null) {
    const read = finalLine.values as Record<string, number | null>;
    final = new Map(Object.entries(read));
  }
  const history = parseHistory(existsSync(historyFile) ? readFileSync(historyFile, 'utf8') : '');
  const releases = names.flatMap((name) => {
    const file = fileOf(name, 'release');
    return existsSync(file) ? parseReleaseLog(name, readFileSync(file, 'utf8')) : [];
  });
  const violations = checkRun(history, final, releases);
  if (violations.length > 0 && options.keepDir !== undefined) {
    const keep = join(options.keepDir, `seed-${schedule.seed}-${lab.runId}`);
    mkdirSync(keep, { recursive: true });
    cpSync(dir, keep, { recursive: true });
    writeFileSync(
      join(keep, 'schedule.json'),
      `${JSON.stringify({ schedule, faults: faultResults, reprotect }, null, 2)}\n`,
    );
    writeFileSync(join(keep, 'final.json'), `${JSON.stringify(finalLine)}\n`);
    writeFileSync(join(keep, 'violations.json'), `${JSON.stringify(violations, null, 2)}\n`);
    for (const name of names) {
      const p = processes[name]!;
      const lines = p.lines.map((l) => JSON.stringify(l)).join('\n');
      writeFileSync(join(keep, `events-${name}.jsonl`), `${lines}\n${p.stderr()}`);
    }
  }
  return {
    schedule,
    faults: faultResults.map((f, i) => {
      const until = faultResults[i + 1]?.appliedAtMs ?? Number.POSITIVE_INFINITY;
      return {
        ...f,
        recoverMs: recoveryMs(history, f.appliedAtMs),
        failoverMs: firstActingAlone(processes, f.appliedAtMs, until),
      };
    }),
    reprotect,
    protectMs: Number.isFinite(protectMs) ? protectMs : null,
    violations,
    operations: history.length,
    acknowledged: history.filter((op) => op.outcome === 'ok').length,
    finalNode: (finalLine.node as string | null) ?? null,
    finalGeneration: (finalLine.generation as number | undefined) ?? null,
    releases,
    history,
    events: names.flatMap((name) => processes[name]!.lines.map((line) => ({ node: name, line }))),
  };
}

/**
 * Asks the node serving alone to protect itself with the spare, and waits until the pair is
 * protected, the attempt failed, or REPROTECT_TIMEOUT_MS passed. A node is alone once a failover
 * settles; if none is within SURVIVOR_SETTLE_MS, the first faults caused no failover.
 */
async function reprotectSurvivor(
  processes: Partial<Record<LabNode, LineProcess>>,
  spareAddress: string,
  fileOf: (name: LabNode, what: 'protect') => string,
): Promise<{ result: ReprotectResult; doneAtMs: number }> {
  const settleBy = performance.now() + SURVIVOR_SETTLE_MS;
  let survivor = servingNode(processes, ALONE_STATES);
  while (survivor === null && performance.now() < settleBy) {
    await sleep(20);
    survivor = servingNode(processes, ALONE_STATES);
  }
  if (survivor === null) {
    return { result: { outcome: 'not-needed', survivor: null, protectMs: null }, doneAtMs: wallMs() };
  }
  const p = processes[survivor]!;
  const seen = p.lines.length;
  writeFileSync(fileOf(survivor, 'protect'), `${spareAddress} ${DATA_PORT}\n`);
  const askedAtMs = wallMs();
  p.child.kill('SIGUSR1');
  const answer = await p
    .waitFor(
      (l) => p.lines.indexOf(l) >= seen && (l.type === 'reprotected' || l.type === 'protect-failed'),
      REPROTECT_TIMEOUT_MS,
      'the re-protection',
    )
    .catch((err: Error) => ({ type: 'protect-failed', message: err.message }));
  const doneAtMs = wallMs();
  if (answer.type === 'reprotected') {
    return { result: { outcome: 'protected', survivor, protectMs: doneAtMs - askedAtMs }, doneAtMs };
  }
  return {
    result: { outcome: 'failed', survivor, protectMs: null, message: String(answer.message) },
    doneAtMs,
  };
}
