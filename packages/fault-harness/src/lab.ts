import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAB_PREFIX } from './constants.js';
import { LabError } from './errors.js';

/** The test hosts: one network namespace each. */
export type HostName = 'pri' | 'sec' | 'spare' | 'arb' | 'cli';
export const HOST_NAMES: readonly HostName[] = ['pri', 'sec', 'spare', 'arb', 'cli'];

export interface Host {
  readonly name: HostName;
  /** The namespace, `mcf-<runid>-<host>`. */
  readonly namespace: string;
  readonly address: string;
  /** The bridge-side end of this host's veth (in the bridge namespace). */
  readonly bridgePort: string;
}

/**
 * A lab: five network namespaces joined through a bridge that lives in a sixth namespace of its own
 * (so nothing of the host's network or firewall is touched), on a /24 of 10.200.0.0/16 picked from
 * the run id. Every process started in it is tracked by pid; `teardown()` is synchronous so it can
 * run from an exit or signal handler.
 */
export interface Lab {
  readonly runId: string;
  readonly subnet: string;
  readonly hosts: Readonly<Record<HostName, Host>>;
  /** The bridge's namespace, `mcf-<runid>-net`. */
  readonly bridgeNamespace: string;
  /** A temporary directory for this run (arbiter dir, logs, histories), removed at teardown. */
  readonly dir: string;
  /** Runs a command inside a host's namespace (synchronously); throws `LabError` when it fails. */
  exec(host: HostName | 'net', command: string, args: readonly string[]): string;
  /** Starts a long-running process inside a host's namespace and tracks its pid. */
  spawn(host: HostName, command: string, args: readonly string[]): ChildProcess;
  /** Processes started with `spawn()` that have not exited. */
  readonly processes: ReadonlySet<ChildProcess>;
  /** Kills every process, deletes every namespace and the directory. Idempotent, synchronous. */
  teardown(): void;
  readonly tornDown: boolean;
}

function run(command: string, args: readonly string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  return {
    ok: r.status === 0,
    out: r.stdout ?? '',
    err: (r.stderr ?? '') + (r.error ? String(r.error) : ''),
  };
}

function must(command: string, args: readonly string[]): string {
  const r = run(command, args);
  if (!r.ok) throw new LabError(`${command} ${args.join(' ')} failed: ${r.err.trim()}`);
  return r.out;
}

/** Whether this process may create namespaces (root), and why not. */
export function labSkipReason(): string | null {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'the fault lab needs root (network namespaces, iptables, tc)';
  }
  for (const tool of ['ip', 'iptables']) {
    if (!run('which', [tool]).ok) return `${tool} is not installed`;
  }
  return null;
}

/** Whether `tc` with the tbf qdisc is available (the saturated-link nemesis needs it). */
export function tcAvailable(): boolean {
  return run('which', ['tc']).ok;
}

/** A run id that embeds this process's pid, so a sweep can tell a leftover from a live lab. */
export function newRunId(): string {
  const random = Math.floor(Math.random() * 36 * 36)
    .toString(36)
    .padStart(2, '0');
  return `${process.pid.toString(36)}${random}`;
}

/** The pid a run id was made by (see `newRunId`). */
export function ownerOf(runId: string): number {
  return Number.parseInt(runId.slice(0, -2), 36);
}

function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The third octet of the lab's /24, from its run id (1..250). */
export function subnetOctet(runId: string): number {
  let h = 2166136261;
  for (const ch of runId) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return (h % 250) + 1;
}

const NAMESPACE_PATTERN = new RegExp(`^${LAB_PREFIX}-([0-9a-z]+)-(pri|sec|spare|arb|cli|net)$`);

/** Every namespace of this harness's naming, with its run id. */
export function labNamespaces(): Array<{ namespace: string; runId: string }> {
  const out = run('ip', ['netns', 'list']).out;
  const found: Array<{ namespace: string; runId: string }> = [];
  for (const line of out.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = NAMESPACE_PATTERN.exec(name);
    if (m) found.push({ namespace: name, runId: m[1]! });
  }
  return found;
}

function killNamespaceProcesses(namespace: string): void {
  for (const pid of run('ip', ['netns', 'pids', namespace]).out.split('\n').map(Number)) {
    if (Number.isSafeInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }
}

function deleteNamespace(namespace: string): void {
  killNamespaceProcesses(namespace);
  run('ip', ['netns', 'del', namespace]);
}

/**
 * Removes what labs left behind: namespaces, their processes and temp dirs of runs whose harness
 * process is gone (or of `runId`, when given: this lab's own). Live labs of other harness processes
 * are left alone. Returns the namespaces removed.
 */
export function sweep(runId?: string): string[] {
  const removed: string[] = [];
  for (const { namespace, runId: id } of labNamespaces()) {
    if (id === runId || (runId === undefined && !alive(ownerOf(id)))) {
      deleteNamespace(namespace);
      removed.push(namespace);
    }
  }
  const tmp = tmpdir();
  for (const entry of readdirSync(tmp)) {
    const m = new RegExp(`^${LAB_PREFIX}-([0-9a-z]{3,8})-[A-Za-z0-9]{6}$`).exec(entry);
    if (m && (m[1] === runId || (runId === undefined && !alive(ownerOf(m[1]!))))) {
      rmSync(join(tmp, entry), { recursive: true, force: true });
    }
  }
  return removed;
}

/** Creates a lab. On any failure half-way, what was created is removed before the error is thrown. */
export function createLab(runId: string = newRunId()): Lab {
  const octet = subnetOctet(runId);
  const subnet = `10.200.${octet}.0/24`;
  const bridgeNamespace = `${LAB_PREFIX}-${runId}-net`;
  const hosts = Object.fromEntries(
    HOST_NAMES.map((name, i) => [
      name,
      {
        name,
        namespace: `${LAB_PREFIX}-${runId}-${name}`,
        address: `10.200.${octet}.${i + 1}`,
        bridgePort: `v${name}`,
      },
    ]),
  ) as Record<HostName, Host>;
  const processes = new Set<ChildProcess>();
  let tornDown = false;
  const dir = mkdtempSync(join(tmpdir(), `${LAB_PREFIX}-${runId}-`));

  const lab: Lab = {
    runId,
    subnet,
    hosts,
    bridgeNamespace,
    dir,
    processes,
    get tornDown() {
      return tornDown;
    },
    exec(host, command, args) {
      const namespace = host === 'net' ? bridgeNamespace : hosts[host].namespace;
      return must('ip', ['netns', 'exec', namespace, command, ...args]);
    },
    spawn(host, command, args) {
      if (tornDown) throw new LabError('the lab is torn down');
      // `ip netns exec` enters the namespace and execs the command in place: the child's pid is the
      // program's own, so signals (SIGSTOP, SIGKILL) reach it directly.
      const child = spawn('ip', ['netns', 'exec', hosts[host].namespace, command, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      processes.add(child);
      child.once('exit', () => processes.delete(child));
      return child;
    },
    teardown() {
      if (tornDown) return;
      tornDown = true;
      for (const child of processes) {
        try {
          child.kill('SIGKILL');
        } catch {}
      }
      processes.clear();
      for (const host of HOST_NAMES) deleteNamespace(hosts[host].namespace);
      deleteNamespace(bridgeNamespace);
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    must('ip', ['netns', 'add', bridgeNamespace]);
    must('ip', ['-n', bridgeNamespace, 'link', 'add', 'br0', 'type', 'bridge']);
    must('ip', ['-n', bridgeNamespace, 'link', 'set', 'br0', 'up']);
    must('ip', ['-n', bridgeNamespace, 'link', 'set', 'lo', 'up']);
    for (const host of Object.values(hosts)) {
      must('ip', ['netns', 'add', host.namespace]);
      must('ip', [
        '-n',
        bridgeNamespace,
        'link',
        'add',
        host.bridgePort,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        host.namespace,
      ]);
      must('ip', ['-n', bridgeNamespace, 'link', 'set', host.bridgePort, 'master', 'br0']);
      must('ip', ['-n', bridgeNamespace, 'link', 'set', host.bridgePort, 'up']);
      must('ip', ['-n', host.namespace, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
      must('ip', ['-n', host.namespace, 'link', 'set', 'eth0', 'up']);
      must('ip', ['-n', host.namespace, 'link', 'set', 'lo', 'up']);
    }
  } catch (err) {
    lab.teardown();
    throw err;
  }
  return lab;
}
