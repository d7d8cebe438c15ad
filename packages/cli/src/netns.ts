import { execFileSync } from 'node:child_process';
import { FaultUnavailableError } from './errors.js';

/**
 * Two network namespaces joined by a veth pair, for running two nodes as if on two hosts on one
 * machine, and for cutting the link between them (iptables DROP inside namespace a). The addresses
 * live only inside the two namespaces, so pairs made by different processes never collide.
 */
export interface NetnsPair {
  readonly a: string;
  readonly b: string;
  readonly addressA: string;
  readonly addressB: string;
  /** argv prefix that runs a command inside namespace `ns`. */
  exec(ns: string): string[];
  /** Drops every packet in and out of namespace a's end of the link. */
  partition(): void;
  /** Undoes `partition()`. */
  heal(): void;
  /** Deletes both namespaces (and with them the veth pair). Idempotent; never throws. */
  destroy(): void;
}

function run(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why namespaces cannot be made here, or null when they can. */
export function netnsUnavailableReason(): string | null {
  if (process.platform !== 'linux') return 'network namespaces exist only on Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    return 'creating network namespaces and iptables rules needs root (run as root, or use --fault kill or stop)';
  for (const tool of ['ip', 'iptables']) {
    try {
      run([tool, '-V']);
    } catch {
      return `the ${tool} command is missing (Debian: apt-get install ${tool === 'ip' ? 'iproute2' : 'iptables'})`;
    }
  }
  return null;
}

/**
 * Creates namespaces `<prefix>-a` and `<prefix>-b` with veth `10.200.<subnet>.1/24` and `.2/24`.
 * Throws `FaultUnavailableError` (after removing whatever it made) when the machine does not allow it.
 */
export function createNetnsPair(prefix: string, subnet = 1): NetnsPair {
  const reason = netnsUnavailableReason();
  if (reason !== null) throw new FaultUnavailableError('partition', reason);
  const a = `${prefix}-a`;
  const b = `${prefix}-b`;
  // Interface names are at most 15 bytes; namespaces keep them apart, so short fixed names do.
  const va = 'mcft-va';
  const vb = 'mcft-vb';
  const addressA = `10.200.${subnet}.1`;
  const addressB = `10.200.${subnet}.2`;
  let destroyed = false;
  const pair: NetnsPair = {
    a,
    b,
    addressA,
    addressB,
    exec: (ns) => ['ip', 'netns', 'exec', ns],
    partition() {
      run(['ip', 'netns', 'exec', a, 'iptables', '-w', '-I', 'INPUT', '-i', va, '-j', 'DROP']);
      run(['ip', 'netns', 'exec', a, 'iptables', '-w', '-I', 'OUTPUT', '-o', va, '-j', 'DROP']);
    },
    heal() {
      run(['ip', 'netns', 'exec', a, 'iptables', '-w', '-D', 'INPUT', '-i', va, '-j', 'DROP']);
      run(['ip', 'netns', 'exec', a, 'iptables', '-w', '-D', 'OUTPUT', '-o', va, '-j', 'DROP']);
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const ns of [a, b]) {
        try {
          run(['ip', 'netns', 'del', ns]);
        } catch {
          // Not made, or already gone.
        }
      }
    },
  };
  try {
    run(['ip', 'netns', 'add', a]);
    run(['ip', 'netns', 'add', b]);
    run([
      'ip',
      'link',
      'add',
      'name',
      `${va}-${process.pid % 1e6}`.slice(0, 15),
      'type',
      'veth',
      'peer',
      'name',
      `${vb}-${process.pid % 1e6}`.slice(0, 15),
    ]);
    run(['ip', 'link', 'set', `${va}-${process.pid % 1e6}`.slice(0, 15), 'netns', a, 'name', va]);
    run(['ip', 'link', 'set', `${vb}-${process.pid % 1e6}`.slice(0, 15), 'netns', b, 'name', vb]);
    for (const [ns, dev, address] of [
      [a, va, addressA],
      [b, vb, addressB],
    ] as const) {
      run(['ip', '-n', ns, 'addr', 'add', `${address}/24`, 'dev', dev]);
      run(['ip', '-n', ns, 'link', 'set', dev, 'up']);
      run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    }
  } catch (error) {
    pair.destroy();
    // A veth left in the root namespace (made, not yet moved) goes too.
    try {
      run(['ip', 'link', 'del', `${va}-${process.pid % 1e6}`.slice(0, 15)]);
    } catch {
      // Not there.
    }
    throw new FaultUnavailableError(
      'partition',
      `could not set up network namespaces: ${(error as Error).message.split('\n')[0]}`,
      {
        cause: error,
      },
    );
  }
  return pair;
}

/** Names of the namespaces that exist now (for tests that check nothing is left behind). */
export function listNetns(): string[] {
  try {
    return run(['ip', 'netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((l) => l !== '');
  } catch {
    return [];
  }
}
