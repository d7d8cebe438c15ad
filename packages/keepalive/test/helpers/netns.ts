import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Two network namespaces joined by a veth pair: host A (10.200.5.1) and host B (10.200.5.2). */
export interface Topology {
  nsA: string;
  nsB: string;
  devA: string;
  devB: string;
  addrA: string;
  addrB: string;
  /** Runs a command inside a namespace and returns its stdout. */
  run(ns: string, command: string, args: string[]): string;
  destroy(): void;
}

export const ADDRESS_A = '10.200.5.1';
export const ADDRESS_B = '10.200.5.2';

function tool(name: string): boolean {
  return ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].some((dir) => existsSync(`${dir}/${name}`));
}

/** Why namespace tests cannot run here, or undefined if they can. */
export function netnsUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces and iptables need root';
  for (const name of ['ip', 'iptables', 'tc']) if (!tool(name)) return `${name} is not installed`;
  return undefined;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Creates the namespaces `mcka<pid><tag>a`/`b` with a veth pair `mcka<pid><tag>a`/`b`. Names carry the
 * process id so parallel runs never clash; `destroy()` removes everything (deleting a namespace deletes
 * its veth end, its iptables rules and its qdiscs).
 */
export function createTopology(tag = ''): Topology {
  const base = `mcka${process.pid}${tag}`;
  const nsA = `${base}a`;
  const nsB = `${base}b`;
  const devA = `${base}a`;
  const devB = `${base}b`;
  const topology: Topology = {
    nsA,
    nsB,
    devA,
    devB,
    addrA: ADDRESS_A,
    addrB: ADDRESS_B,
    run: (ns, command, args) =>
      execFileSync('ip', ['netns', 'exec', ns, command, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    destroy: () => {
      for (const ns of [nsA, nsB]) {
        try {
          ip(['netns', 'del', ns]);
        } catch {
          // Not created (setup failed early) or already gone.
        }
      }
      try {
        ip(['link', 'del', devA]);
      } catch {
        // Normally gone with its namespace.
      }
    },
  };
  try {
    topology.destroy();
    ip(['netns', 'add', nsA]);
    ip(['netns', 'add', nsB]);
    ip(['link', 'add', devA, 'type', 'veth', 'peer', 'name', devB]);
    ip(['link', 'set', devA, 'netns', nsA]);
    ip(['link', 'set', devB, 'netns', nsB]);
    ip(['-n', nsA, 'addr', 'add', `${ADDRESS_A}/24`, 'dev', devA]);
    ip(['-n', nsB, 'addr', 'add', `${ADDRESS_B}/24`, 'dev', devB]);
    for (const [ns, dev] of [
      [nsA, devA],
      [nsB, devB],
    ] as const) {
      ip(['-n', ns, 'link', 'set', dev, 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  } catch (err) {
    topology.destroy();
    throw err;
  }
  return topology;
}
