import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createKeepalive,
  type FlapEvent,
  type Keepalive,
  type KeepaliveOptions,
  monotonicMs,
  type StateChange,
} from '../src/index.js';
import { type Agent, changesTo, spawnAgent } from './helpers/agent-process.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The observer runs in this process; the peer is a process of its own, with a TCP data channel to the
 * observer (as a primary shipping checkpoints to its secondary would have).
 */
async function setup(
  options: KeepaliveOptions = {},
  peerOptions: KeepaliveOptions = {},
): Promise<{
  observer: Keepalive;
  peer: Agent;
  changes: StateChange[];
  dataChannel: Promise<Socket>;
}> {
  const observer = createKeepalive({ role: 'secondary', ...options });
  cleanups.push(() => observer.close());
  const changes: StateChange[] = [];
  observer.on('change', (c) => changes.push(c));
  const local = await observer.start();
  const server: Server = createServer();
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const dataChannel = new Promise<Socket>((resolve) =>
    server.once('connection', (socket) => {
      socket.on('error', () => {});
      cleanups.push(() => socket.destroy());
      observer.watchDataChannel(socket);
      resolve(socket);
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const tcpPort = (server.address() as { port: number }).port;
  const peer = await spawnAgent({
    keepalive: { ...peerOptions, role: 'primary', peer: { address: '127.0.0.1', port: local.port } },
    tcpConnect: { address: '127.0.0.1', port: tcpPort },
  });
  cleanups.push(() => peer.stop());
  observer.setPeer(peer.heartbeat);
  await waitFor(() => observer.state === 'alive', 'peer alive');
  await dataChannel;
  return { observer, peer, changes, dataChannel };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function nextChange(k: Keepalive, to: StateChange['to']): Promise<StateChange> {
  return new Promise((resolve) => {
    const listener = (c: StateChange) => {
      if (c.to !== to) return;
      k.off('change', listener);
      resolve(c);
    };
    k.on('change', listener);
  });
}

describe('faults of a peer process on loopback', () => {
  it('SIGKILL: the data channel EOF makes the peer suspect at once, the silence convicts it', async () => {
    // A 300 ms deadline: a late heartbeat before the kill must not be what convicts.
    const { observer, peer, changes } = await setup({ multiplier: 15 });
    await sleep(200);
    const dead = nextChange(observer, 'dead');
    const killedAt = monotonicMs();
    peer.signal('SIGKILL');
    const conviction = await dead;
    const after = changes.filter((c) => c.atMs >= killedAt).map((c) => `${c.to}:${c.reason}`);
    // The EOF normally raises the suspicion; on a loaded host a late heartbeat may have raised it
    // first, so what is fixed is: suspicions only, then the conviction by silence, and the EOF seen.
    expect(after.at(-1), JSON.stringify(after)).toBe('dead:silence');
    expect(
      after.slice(0, -1).every((c) => c.startsWith('suspect:')),
      JSON.stringify(after),
    ).toBe(true);
    expect(conviction.atMs).toBeGreaterThan(killedAt);
    expect(observer.status().dataChannelLosses).toBe(1);
  });

  it('SIGSTOP then SIGCONT: convicted while stopped, alive again after, reported as a flap', async () => {
    // 300 ms deadlines on both sides: only the stop, not a late heartbeat, convicts or flaps.
    const { observer, peer, changes } = await setup({ multiplier: 15 }, { multiplier: 15 });
    await sleep(200);
    const flaps: FlapEvent[] = [];
    observer.on('flap', (f) => flaps.push(f));
    const dead = nextChange(observer, 'dead');
    const stoppedAt = monotonicMs();
    peer.signal('SIGSTOP');
    const conviction = await dead;
    expect(conviction.reason).toBe('silence');
    expect(conviction.atMs).toBeGreaterThan(stoppedAt);
    // TCP noticed nothing: a stopped process's kernel still acknowledges.
    expect(changes.some((c) => c.reason === 'data-channel')).toBe(false);

    // Stopped well beyond the peer's 300 ms window (the conviction took that long already), so the peer
    // must notice its own pause.
    await sleep(400);
    const alive = nextChange(observer, 'alive');
    peer.signal('SIGCONT');
    expect((await alive).reason).toBe('heartbeat');
    expect(flaps).toHaveLength(1);
    expect(flaps[0]).toMatchObject({ recentFlaps: 1, suspectHoldMs: 100 });

    // The peer, frozen too, must not blame the observer for its own pause.
    await peer.waitFor((m) => m.type === 'self-pause', 10_000, 'the self-pause');
    await sleep(300);
    const status = await peer.status();
    expect((status.status as { convictions: number }).convictions).toBe(0);
  });

  it('a blocked main loop is convicted as hung although its heartbeat worker lives', async () => {
    // Silence convicts only after 25 x 20 ms = 500 ms, later than the 300 ms hang timeout: a heartbeat
    // worker the loaded scheduler runs late cannot turn the hang into a silence.
    const silenceWindowMs = 25 * 20;
    const { observer, peer } = await setup({ hangTimeoutMs: 300, multiplier: 25 });
    await sleep(200);
    const dead = nextChange(observer, 'dead');
    const acceptedBefore = observer.status().heartbeatsAccepted;
    peer.send({ cmd: 'block', ms: 1_000 });
    const conviction = await dead;
    expect(conviction.reason).toBe('hung');
    expect(conviction.progressAgeMs).toBeGreaterThanOrEqual(300);
    // Heartbeats kept arriving the whole time: only the progress counter stood still.
    expect(conviction.heartbeatAgeMs).toBeLessThan(silenceWindowMs);
    expect(observer.status().heartbeatsAccepted - acceptedBefore).toBeGreaterThanOrEqual(3);

    const alive = nextChange(observer, 'alive');
    await peer.waitFor((m) => m.type === 'blocked', 5_000, 'end of block');
    expect((await alive).reason).toBe('heartbeat');
    const status = await peer.status();
    expect((status.status as { convictions: number }).convictions).toBe(0);
    expect(changesTo(peer, 'dead')).toEqual([]);
  });
});
