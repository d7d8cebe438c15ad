import { writeFileSync } from 'node:fs';
import type { HostName, Lab } from './lab.js';
import type { Fault, Target } from './schedule.js';

/** A KV node of the lab, by the host it runs on. */
export type LabNode = 'primary' | 'secondary' | 'spare';

/** What a nemesis needs from the run: the lab, the nodes' pids, and the arbiter process. */
export interface NemesisContext {
  readonly lab: Lab;
  /** Which node a target names right now. */
  resolve(target: Target): LabNode;
  /** The other node of the pair `node` belongs to (the one a partition cuts it from). */
  peerOf(node: LabNode): LabNode;
  /** The test host a node runs on. */
  hostOf(node: LabNode): Exclude<HostName, 'arb' | 'cli'>;
  /** The pid of a KV node (undefined once it has exited, or never started). */
  pidOf(node: LabNode): number | undefined;
  /** The file a node reads its busy-wait length from on SIGUSR2. */
  blockFile(node: LabNode): string;
  /** Kills the witness or etcd. */
  stopArbiter(): void;
  /** Starts it again (same state file / data dir) and waits until it serves. */
  startArbiter(): Promise<void>;
  /** The witness's or etcd's pid. */
  arbiterPid(): number | undefined;
}

/** Undoes a fault. */
export type Heal = () => Promise<void>;

function signal(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, sig);
  } catch {
    // Exited meanwhile: the fault has nothing left to act on.
  }
}

/**
 * Applies a fault and returns its heal. Partitions are iptables DROP rules inside the namespace of
 * the pair's primary (INPUT for what it receives, OUTPUT for what it sends) against its peer's
 * address, so no other host or lab is affected.
 */
export async function applyFault(fault: Fault, context: NemesisContext): Promise<Heal> {
  const { lab } = context;
  const node = context.resolve(fault.target);
  // Partitions and isolation act on the pair's primary whichever node a target names.
  const primary = context.resolve('primary');
  const firewalled = context.hostOf(primary);
  const peer = lab.hosts[context.hostOf(context.peerOf(primary))];
  const iptables = (args: string[]) => lab.exec(firewalled, 'iptables', ['-w', ...args]);
  const flush: Heal = async () => {
    lab.exec(firewalled, 'iptables', ['-w', '-F', 'INPUT']);
    lab.exec(firewalled, 'iptables', ['-w', '-F', 'OUTPUT']);
  };
  const nothing: Heal = async () => undefined;
  switch (fault.kind) {
    case 'kill':
      signal(context.pidOf(node), 'SIGKILL');
      return nothing;
    case 'pause-short':
    case 'pause-long': {
      const pid = context.pidOf(node);
      signal(pid, 'SIGSTOP');
      return async () => signal(pid, 'SIGCONT');
    }
    case 'block-loop-short':
    case 'block-loop-long':
      writeFileSync(context.blockFile(node), String(fault.durationMs));
      signal(context.pidOf(node), 'SIGUSR2');
      // The node unblocks by itself after durationMs; the heal has nothing to undo.
      return nothing;
    case 'partition-both':
      iptables(['-A', 'INPUT', '-s', peer.address, '-j', 'DROP']);
      iptables(['-A', 'OUTPUT', '-d', peer.address, '-j', 'DROP']);
      return flush;
    case 'partition-primary-to-secondary':
      iptables(['-A', 'OUTPUT', '-d', peer.address, '-j', 'DROP']);
      return flush;
    case 'partition-secondary-to-primary':
      iptables(['-A', 'INPUT', '-s', peer.address, '-j', 'DROP']);
      return flush;
    case 'isolate-primary':
      iptables(['-A', 'INPUT', '!', '-i', 'lo', '-j', 'DROP']);
      iptables(['-A', 'OUTPUT', '!', '-o', 'lo', '-j', 'DROP']);
      return flush;
    case 'link-down': {
      const host = context.hostOf(node);
      lab.exec(host, 'ip', ['link', 'set', 'eth0', 'down']);
      return async () => {
        lab.exec(host, 'ip', ['link', 'set', 'eth0', 'up']);
      };
    }
    case 'saturate-link': {
      // Both directions: the host's own egress, and the bridge port towards it.
      const host = context.hostOf(node);
      const port = lab.hosts[host].bridgePort;
      const tbf = ['root', 'tbf', 'rate', `${fault.rateKbit}kbit`, 'burst', '8kb', 'latency', '2000ms'];
      lab.exec(host, 'tc', ['qdisc', 'add', 'dev', 'eth0', ...tbf]);
      lab.exec('net', 'tc', ['qdisc', 'add', 'dev', port, ...tbf]);
      return async () => {
        lab.exec(host, 'tc', ['qdisc', 'del', 'dev', 'eth0', 'root']);
        lab.exec('net', 'tc', ['qdisc', 'del', 'dev', port, 'root']);
      };
    }
    case 'arbiter-down':
      context.stopArbiter();
      return () => context.startArbiter();
    case 'arbiter-pause': {
      // Frozen, not dead: its sockets stay open and requests wait, as behind a stalled link.
      const pid = context.arbiterPid();
      signal(pid, 'SIGSTOP');
      return async () => signal(pid, 'SIGCONT');
    }
  }
}
