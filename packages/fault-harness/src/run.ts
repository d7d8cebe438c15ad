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
  STATUS_PORT,
  WITNESS_PORT,
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
import { applyFault } from './nemesis.js';
import { type LineProcess, lineProcess } from './processes.js';
import type { Fault, Schedule, Target } from './schedule.js';
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
}

/** The verdict on one schedule. */
export interface RunResult {
  readonly schedule: Schedule;
  readonly faults: readonly FaultResult[];
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

type NodeName = 'primary' | 'secondary';
const SERVING_STATES = new Set(['protected', 'unprotected', 'serving']);

/** When, after `fromMs` (and before `untilMs`), a node first announced that it acts alone. */
function firstActingAlone(
  processes: Record<NodeName, LineProcess>,
  fromMs: number,
  untilMs: number,
): number | null {
  let first = Number.POSITIVE_INFINITY;
  for (const p of Object.values(processes)) {
    for (const line of p.lines) {
      const at = Number(line.atMs);
      const alone = line.type === 'serving' || (line.type === 'state' && line.state === 'unprotected');
      if (alone && at >= fromMs && at < untilMs && at < first) first = at;
    }
  }
  return Number.isFinite(first) ? first - fromMs : null;
}

/** The node that serves now by its own last word: a serving state, the newest generation. */
function servingNode(processes: Record<NodeName, LineProcess>): NodeName {
  let best: { name: NodeName; generation: number } | null = null;
  for (const name of ['primary', 'secondary'] as const) {
    const p = processes[name];
    if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
    const last = [...p.lines].reverse().find((l) => l.type === 'state');
    if (last === undefined || !SERVING_STATES.has(String(last.state))) continue;
    const generation = Number(last.generation ?? 0);
    if (best === null || generation > best.generation) best = { name, generation };
  }
  return (best as { name: NodeName } | null)?.name ?? 'primary';
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
  const files = {
    primary: { release: join(dir, 'release-primary.log'), block: join(dir, 'block-primary') },
    secondary: { release: join(dir, 'release-secondary.log'), block: join(dir, 'block-secondary') },
  };
  const secondary = lineProcess(
    'secondary',
    lab.spawn('sec', process.execPath, [
      node,
      '--role',
      'secondary',
      '--host',
      hosts.sec.address,
      '--data-port',
      String(DATA_PORT),
      '--release-log',
      files.secondary.release,
      '--block-file',
      files.secondary.block,
      ...common,
    ]),
  );
  await secondary.waitFor((l) => l.type === 'listening', 30_000, 'the secondary listening');
  const primary = lineProcess(
    'primary',
    lab.spawn('pri', process.execPath, [
      node,
      '--role',
      'primary',
      '--host',
      hosts.pri.address,
      '--secondary-host',
      hosts.sec.address,
      '--secondary-port',
      String(DATA_PORT),
      '--release-log',
      files.primary.release,
      '--block-file',
      files.primary.block,
      ...common,
    ]),
  );
  await primary.waitFor((l) => l.type === 'protected', 30_000, 'the primary protected');

  const nodes: NodeAddress[] = [
    { name: 'primary', host: hosts.pri.address, port: KV_PORT, statusPort: STATUS_PORT },
    { name: 'secondary', host: hosts.sec.address, port: KV_PORT, statusPort: STATUS_PORT },
  ];
  const clients = options.clients ?? DEFAULT_CLIENTS;
  const historyFile = join(dir, 'history.jsonl');
  const startMs = wallMs();
  const workload = lineProcess(
    'clients',
    lab.spawn('cli', process.execPath, [
      client,
      'workload',
      '--nodes',
      JSON.stringify(nodes),
      '--clients',
      String(clients),
      '--seed',
      String(schedule.seed),
      '--stop-at-ms',
      String(startMs + schedule.workloadMs),
      '--history',
      historyFile,
    ]),
  );

  const processes: Record<NodeName, LineProcess> = { primary, secondary };
  const context = {
    lab,
    resolve: (target: Target): NodeName => (target === 'serving' ? servingNode(processes) : target),
    pidOf: (name: NodeName) => {
      const child = processes[name].child;
      return child.exitCode === null && child.signalCode === null ? child.pid : undefined;
    },
    blockFile: (name: NodeName) => files[name].block,
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
  for (const fault of schedule.faults) {
    const wait = startMs + fault.atMs - wallMs();
    if (wait > 0) await sleep(wait);
    const heal = await applyFault(fault, context);
    // In effect from here (firewall rules and qdiscs take a few ms of `ip netns exec` to install):
    // operations sent before this moment do not count towards the recovery time.
    const appliedAtMs = wallMs();
    await sleep(Math.max(0, appliedAtMs + fault.durationMs - wallMs()));
    await heal();
    faultResults.push({ fault, appliedAtMs, healedAtMs: wallMs() });
  }
  const clientExit = await Promise.race([
    workload.exited,
    sleep(schedule.workloadMs + 30_000, 'hung', { ref: false }),
  ]);
  if (clientExit !== 0)
    throw new LabError(`the client workload ended with ${String(clientExit)}: ${workload.stderr()}`);

  const finalReader = lineProcess(
    'final',
    lab.spawn('cli', process.execPath, [
      client,
      'final',
      '--nodes',
      JSON.stringify(nodes),
      '--clients',
      String(clients),
      '--timeout-ms',
      '5000',
    ]),
  );
  const finalLine = await finalReader.waitFor((l) => 'node' in l, 20_000, 'the final read');
  let final: FinalState = null;
  if (finalLine.node !== null) {
    const read = finalLine.values as Record<string, number | null>;
    final = new Map(Object.entries(read));
  }
  const history = parseHistory(existsSync(historyFile) ? readFileSync(historyFile, 'utf8') : '');
  const releases = (['primary', 'secondary'] as const).flatMap((name) =>
    existsSync(files[name].release) ? parseReleaseLog(name, readFileSync(files[name].release, 'utf8')) : [],
  );
  const violations = checkRun(history, final, releases);
  if (violations.length > 0 && options.keepDir !== undefined) {
    const keep = join(options.keepDir, `seed-${schedule.seed}-${lab.runId}`);
    mkdirSync(keep, { recursive: true });
    cpSync(dir, keep, { recursive: true });
    writeFileSync(
      join(keep, 'schedule.json'),
      `${JSON.stringify({ schedule, faults: faultResults }, null, 2)}\n`,
    );
    writeFileSync(join(keep, 'final.json'), `${JSON.stringify(finalLine)}\n`);
    writeFileSync(join(keep, 'violations.json'), `${JSON.stringify(violations, null, 2)}\n`);
    for (const name of ['primary', 'secondary'] as const) {
      const lines = processes[name].lines.map((l) => JSON.stringify(l)).join('\n');
      writeFileSync(join(keep, `events-${name}.jsonl`), `${lines}\n${processes[name].stderr()}`);
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
    violations,
    operations: history.length,
    acknowledged: history.filter((op) => op.outcome === 'ok').length,
    finalNode: (finalLine.node as string | null) ?? null,
    finalGeneration: (finalLine.generation as number | undefined) ?? null,
    releases,
    history,
    events: (['primary', 'secondary'] as const).flatMap((name) =>
      processes[name].lines.map((line) => ({ node: name, line })),
    ),
  };
}
