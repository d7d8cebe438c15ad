import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The etcd binary on PATH (Debian's etcd-server puts it at /usr/bin/etcd), or null. */
export function findEtcd(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'etcd');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return null;
}

/** Why etcd tests skip here, or null when they run (in CI they never skip: they fail). */
export function etcdSkipReason(): string | null {
  if (findEtcd() !== null || process.env.CI === 'true') return null;
  return 'etcd is not on PATH (apt-get install etcd-server); set CI=true to make this a failure';
}

/** A real single-member etcd on free loopback ports with its own temporary data directory. */
export interface EtcdServer {
  /** Client URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Kills the server (SIGKILL by default) and waits for it to exit. Data stays. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Freezes the server with SIGSTOP: its sockets stay open but nothing answers. */
  pause(): void;
  /** Thaws a paused server with SIGCONT. */
  resume(): void;
  /** Starts it again on the same ports and data directory; resolves once it serves. */
  start(): Promise<void>;
  /** Stops it and deletes its data directory. */
  destroy(): Promise<void>;
}

export async function startEtcd(): Promise<EtcdServer> {
  const binary = findEtcd();
  if (binary === null) throw new Error('etcd is not on PATH (apt-get install etcd-server)');
  const dataDir = mkdtempSync(join(tmpdir(), 'mc-etcd-'));
  const [clientPort, peerPort] = await freePorts(2);
  const url = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  let child: ChildProcess | null = null;
  let output = '';

  const start = async (): Promise<void> => {
    output = '';
    const proc = spawn(
      binary,
      [
        '--name=mc-test',
        `--data-dir=${join(dataDir, 'data')}`,
        `--listen-client-urls=${url}`,
        `--advertise-client-urls=${url}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=mc-test=${peerUrl}`,
        // Short raft timings make the smallest lease etcd grants 1 s instead of 2 s.
        '--heartbeat-interval=50',
        '--election-timeout=500',
        '--logger=zap',
        '--log-level=error',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    proc.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`etcd exited with ${proc.exitCode}: ${output}`);
      try {
        const res = await fetch(`${url}/health`);
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') return;
      } catch {}
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    proc.kill('SIGKILL');
    throw new Error(`etcd did not become healthy within 15 s: ${output}`);
  };

  const stop = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGCONT');
    proc.kill(signal);
    await exited;
  };

  await start();
  return {
    url,
    stop,
    start,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async destroy() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Ports the kernel handed out as free a moment ago, held together so they differ. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<import('node:net').Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
