import { createSocket } from 'node:dgram';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createKeepalive,
  type Keepalive,
  type KeepaliveOptions,
  KeepaliveSocketError,
  KeepaliveStateError,
  type SelfPauseEvent,
  type StateChange,
} from '../src/index.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // This thread is stuck; the heartbeat workers are not.
  }
}

/** Two keepalives on loopback that watch each other. */
async function pair(
  options: KeepaliveOptions = {},
): Promise<{ a: Keepalive; b: Keepalive; changes: string[] }> {
  const a = createKeepalive({ role: 'primary', ...options });
  const b = createKeepalive({ role: 'secondary', ...options });
  cleanups.push(
    () => a.close(),
    () => b.close(),
  );
  const changes: string[] = [];
  a.on('change', (c) => changes.push(`a:${c.to}:${c.reason}`));
  b.on('change', (c) => changes.push(`b:${c.to}:${c.reason}`));
  const [addressA, addressB] = await Promise.all([a.start(), b.start()]);
  a.setPeer(addressB);
  b.setPeer(addressA);
  await waitFor(() => a.state === 'alive' && b.state === 'alive', 'both alive');
  return { a, b, changes };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('keepalive on loopback, in one process', () => {
  it('exchanges heartbeats and reports what it sees', async () => {
    // A 300 ms deadline: a sender the loaded scheduler runs late is not taken for a dead one.
    const { a, b, changes } = await pair({ multiplier: 15 });
    a.setEpoch(41);
    await waitFor(
      () => b.status().heartbeatsAccepted > 10 && a.status().heartbeatsAccepted > 10,
      'heartbeats both ways',
    );
    await waitFor(() => b.status().peer?.epoch === 41, 'the new epoch on the wire');
    const s = b.status();
    expect(changes).toEqual(expect.arrayContaining(['a:alive:heartbeat', 'b:alive:heartbeat']));
    // On a loaded 2-core host a late heartbeat may raise a suspicion, never a conviction.
    expect(
      changes.filter((c) => c.includes(':dead')),
      JSON.stringify(changes),
    ).toEqual([]);
    expect(s.state).not.toBe('dead');
    expect(s.heartbeatsSent).toBeGreaterThan(5);
    expect(s.heartbeatsAccepted).toBeGreaterThan(10);
    expect(s.intervalMs).toBe(20);
    // How regular the intervals are is a bench figure; here only that the statistics are filled in.
    expect(s.meanIntervalMs).toBeGreaterThan(0);
    expect(Number.isFinite(s.stdDevMs)).toBe(true);
    expect(s.phi).toBeGreaterThanOrEqual(0);
    expect(s.lastHeartbeatAgeMs).toBeGreaterThanOrEqual(0);
    expect(Number.isFinite(s.lastHeartbeatAgeMs)).toBe(true);
    expect(s.peer).toMatchObject({ role: 'primary', epoch: 41, incarnation: a.status().incarnation });
    expect(s.local?.address).toBe('127.0.0.1');
    await waitFor(() => b.status().progress > 10, 'main-loop progress');
  });

  it('a goodbye on close convicts at once; without it the silence does', async () => {
    const first = await pair();
    const dead = new Promise<StateChange>((resolve) => first.b.once('dead', resolve));
    await first.a.close();
    expect((await dead).reason).toBe('goodbye');

    const second = await pair({ goodbyeOnClose: false });
    const silent = new Promise<StateChange>((resolve) => second.b.once('dead', resolve));
    await second.a.close();
    const change = await silent;
    expect(change.reason).toBe('silence');
    expect(change.heartbeatAgeMs).toBeGreaterThanOrEqual(100);
  });

  it('re-arms instead of convicting while this whole thread is stalled (self-pause guard)', async () => {
    const { b, changes } = await pair();
    const pauses: SelfPauseEvent[] = [];
    b.on('self-pause', (p) => pauses.push(p));
    busy(400);
    await sleep(100);
    expect(pauses.length).toBeGreaterThanOrEqual(1);
    expect(pauses[0]!.stalledMs).toBeGreaterThanOrEqual(390);
    expect(changes.filter((c) => c.includes(':dead'))).toEqual([]);
  });

  it('keeps seeing heartbeats that arrived while its main thread was blocked', async () => {
    // A 300 ms deadline, so a sender the loaded scheduler runs late cannot convict; the block stays
    // well under it, so the self-pause guard does not re-arm either.
    const { b } = await pair({ multiplier: 15 });
    const before = b.status().heartbeatsAccepted;
    busy(150);
    // Read at once, before this thread yields: whatever was counted arrived during the block.
    const during = b.status().heartbeatsAccepted - before;
    expect(during).toBeGreaterThanOrEqual(1);
    await sleep(20);
    expect(b.status().convictions).toBe(0);
  });

  it('counts data-channel bytes as life and a reset as a suspicion', async () => {
    const { a, b } = await pair();
    const server: Server = createServer();
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const client = createConnection({ host: '127.0.0.1', port });
    cleanups.push(() => client.destroy());
    const serverSide = await accepted;
    serverSide.on('error', () => {});
    b.watchDataChannel(serverSide);
    for (let i = 0; i < 5; i++) {
      client.write('checkpoint bytes');
      await sleep(10);
    }
    expect(b.status().evidenceBytes).toBeGreaterThanOrEqual(1);
    const suspect = new Promise<StateChange>((resolve) => b.once('suspect', resolve));
    client.resetAndDestroy();
    expect((await suspect).reason).toBe('data-channel');
    // The peer's heartbeats keep coming: the suspicion clears by itself.
    await waitFor(() => b.state === 'alive', 'recovery');
    expect(a.state).toBe('alive');
    expect(b.status().dataChannelLosses).toBe(1);
  });

  it('has a typed error for a port in use and for misuse of its lifecycle', async () => {
    const holder = createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const clash = createKeepalive({ port: holder.address().port });
    await expect(clash.start()).rejects.toBeInstanceOf(KeepaliveSocketError);
    await expect(clash.start()).rejects.toBeInstanceOf(KeepaliveStateError);
    await clash.close();

    const k = createKeepalive();
    await k.start();
    await expect(k.start()).rejects.toBeInstanceOf(KeepaliveStateError);
    await k.close();
    await k.close();
    expect(() => k.setPeer({ address: '127.0.0.1', port: 9 })).toThrow(KeepaliveStateError);
    await createKeepalive().close();

    // Closing while the worker is still starting waits for it, then closes it.
    const early = createKeepalive();
    const started = early.start();
    await early.close();
    await expect(started).resolves.toMatchObject({ address: '127.0.0.1' });
    expect(() => early.setPeer({ address: '127.0.0.1', port: 9 })).toThrow(KeepaliveStateError);
  });
});
