import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { KeepaliveStatus } from '../src/index.js';
import type { RelayAttackerCommand, RelayAttackerConfig } from './fixtures/relay-attacker.js';
import { type Agent, changesTo, spawnAgent } from './helpers/agent-process.js';
import { netnsUnavailableReason } from './helpers/netns.js';

// The real primary runs in a child process and is SIGSTOPped; an attacker process that relayed (and
// recorded) its authenticated heartbeats then replays them and sends forged and unauthenticated ones.
// Everything runs in a private network namespace, where an iptables SNAT rule gives the attacker's
// datagrams the real peer's source address and port: the observer's source check cannot help, only the
// MAC and the replay window can. The observer must still convict the stopped peer.
const unavailable = netnsUnavailableReason();
const required = process.env.CI === 'true';
const skip = unavailable !== undefined && !required;
const OBSERVER_PORT = 7100;
const PEER_PORT = 7101;
const ATTACKER_PORT = 7102;
const LOOPBACK = '127.0.0.1';
const ATTACKER = fileURLToPath(new URL('./fixtures/relay-attacker.ts', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('../', import.meta.url));

interface Attacker {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  waitFor(type: string, timeoutMs: number): Promise<Record<string, unknown>>;
  send(command: RelayAttackerCommand): void;
}

function spawnAttacker(ns: string, config: RelayAttackerConfig): Promise<Attacker> {
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, '--import', 'tsx/esm', ATTACKER, JSON.stringify(config)],
    {
      cwd: PACKAGE_DIR,
    },
  );
  const lines: Array<Record<string, unknown>> = [];
  let buffered = '';
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdout?.on('data', (d: Buffer) => {
    buffered += d.toString();
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  const attacker: Attacker = {
    child,
    lines,
    async waitFor(type, timeoutMs) {
      for (let waited = 0; waited < timeoutMs; waited += 10) {
        const found = lines.find((l) => l.type === type);
        if (found) return found;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`hang guard: attacker sent no ${type}; stderr: ${stderr.slice(-2000)}`);
    },
    send(command) {
      child.stdin?.write(`${JSON.stringify(command)}\n`);
    },
  };
  return attacker.waitFor('ready', 20_000).then(() => attacker);
}

describe.skipIf(skip)(
  `authenticated heartbeats under attack${skip ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    const ns = `mcka${process.pid}auth`;
    const agents: Agent[] = [];
    const attackers: Attacker[] = [];
    const inNs = (command: string, args: string[]) =>
      execFileSync('ip', ['netns', 'exec', ns, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });

    beforeAll(() => {
      if (unavailable !== undefined)
        throw new Error(`CI=true requires the namespace tests, but ${unavailable}`);
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // Not left over from an earlier run.
      }
      execFileSync('ip', ['netns', 'add', ns]);
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      // Only the attacker's flow is tracked, so its SNAT to the peer's address and port cannot clash with
      // the genuine flows (which conntrack would otherwise resolve by picking another source port).
      for (const port of [OBSERVER_PORT, PEER_PORT]) {
        for (const chain of ['OUTPUT', 'PREROUTING']) {
          inNs('iptables', [
            '-t',
            'raw',
            '-A',
            chain,
            '-p',
            'udp',
            '--sport',
            String(port),
            '-j',
            'CT',
            '--notrack',
          ]);
        }
      }
      inNs('iptables', [
        '-t',
        'nat',
        '-A',
        'POSTROUTING',
        '-p',
        'udp',
        '--sport',
        String(ATTACKER_PORT),
        '-j',
        'SNAT',
        '--to-source',
        `${LOOPBACK}:${PEER_PORT}`,
      ]);
    });

    afterEach(async () => {
      await Promise.all(agents.splice(0).map((a) => a.stop()));
      for (const attacker of attackers.splice(0)) {
        attacker.child.kill('SIGKILL');
        if (attacker.child.exitCode === null) await new Promise((r) => attacker.child.once('exit', r));
      }
    });

    afterAll(() => {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // Setup failed before creating it.
      }
    });

    it('forged, replayed and unauthenticated heartbeats from a third socket while the peer is SIGSTOPped: still convicted', async () => {
      const secretHex = randomBytes(32).toString('hex');
      const observer = await spawnAgent(
        {
          keepalive: {
            role: 'secondary',
            address: LOOPBACK,
            port: OBSERVER_PORT,
            peer: { address: LOOPBACK, port: PEER_PORT, nodeId: 'primary-1' },
            startupTimeoutMs: 60_000,
          },
          authentication: { nodeId: 'secondary-1', secretHex },
        },
        { netns: ns },
      );
      agents.push(observer);
      const attacker = await spawnAttacker(ns, {
        bind: { address: LOOPBACK, port: ATTACKER_PORT },
        target: { address: LOOPBACK, port: OBSERVER_PORT },
      });
      attackers.push(attacker);
      // The peer sends to the attacker, which relays to the observer: the attacker sees every heartbeat.
      const peer = await spawnAgent(
        {
          keepalive: {
            role: 'primary',
            address: LOOPBACK,
            port: PEER_PORT,
            peer: { address: LOOPBACK, port: ATTACKER_PORT, nodeId: 'secondary-1' },
          },
          authentication: { nodeId: 'primary-1', secretHex },
        },
        { netns: ns },
      );
      agents.push(peer);

      await observer.waitFor((m) => m.type === 'change' && m.to === 'alive', 20_000, 'alive');
      // Let a few hundred milliseconds of genuine heartbeats through the relay.
      await new Promise((r) => setTimeout(r, 300));
      const before = (await observer.status()).status as KeepaliveStatus;
      expect(before.authentication).toBe('hmac-sha256-128');
      expect(before.heartbeatsAccepted).toBeGreaterThan(3);

      peer.signal('SIGSTOP');
      attacker.send({ cmd: 'stop-relay' });
      await attacker.waitFor('relay-stopped', 5_000);
      const rounds = 150;
      attacker.send({ cmd: 'attack', rounds, everyMs: 10 });

      await observer.waitFor(
        (m) => m.type === 'change' && m.to === 'dead',
        15_000,
        'conviction of the stopped peer',
      );
      const done = await attacker.waitFor('attack-done', 30_000);
      expect(done.sent).toBeGreaterThan(rounds * 4 - 1);
      // The last datagrams may still be in the observer's socket: wait until all of them are counted.
      let after = before;
      for (let i = 0; i < 300; i++) {
        after = (await observer.status()).status as KeepaliveStatus;
        const r = after.rejectedHeartbeats;
        if (r.forged >= 2 * rounds && r.unauthenticated >= rounds && r.replayed + r.stale >= rounds) break;
        await new Promise((res) => setTimeout(res, 10));
      }
      const r = after.rejectedHeartbeats;
      expect(r.forged).toBeGreaterThanOrEqual(2 * rounds);
      expect(r.unauthenticated).toBeGreaterThanOrEqual(rounds);
      expect(r.replayed + r.stale).toBeGreaterThanOrEqual(rounds);
      expect(after.dropped.unknownSource).toBe(0); // the spoofing worked: nothing was stopped by the address check
      expect(after.state).toBe('dead');
      // Convicted once, and never alive again while the attack went on.
      const dead = changesTo(observer, 'dead')[0]!;
      expect(changesTo(observer, 'alive').filter((m) => m.atMs > dead.atMs)).toEqual([]);
    });
  },
);
