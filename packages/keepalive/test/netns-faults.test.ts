import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, type AgentMessage, changesTo, spawnAgent } from './helpers/agent-process.js';
import { createTopology, netnsUnavailableReason, type Topology } from './helpers/netns.js';

// Two hosts joined by a veth pair: the observer on host A, the peer on host B. Faults are injected the way
// Jepsen does it: iptables DROP (both directions, or one), the link set down, and a saturated link.
const unavailable = netnsUnavailableReason();
const required = process.env.CI === 'true';
const skip = unavailable !== undefined && !required;
const HEARTBEAT_PORT = 7000;
const TCP_PORT = 7001;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe.skipIf(skip)(`in network namespaces${skip ? ` (skipped: ${unavailable})` : ''}`, () => {
  let t: Topology | undefined;
  const agents: Agent[] = [];

  beforeAll(() => {
    if (unavailable !== undefined)
      throw new Error(`CI=true requires the namespace tests, but ${unavailable}`);
    t = createTopology();
  });

  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    if (!t) return;
    for (const ns of [t.nsA, t.nsB]) t.run(ns, 'iptables', ['-F']);
    for (const [ns, dev] of [
      [t.nsA, t.devA],
      [t.nsB, t.devB],
    ] as const) {
      try {
        t.run(ns, 'tc', ['qdisc', 'del', 'dev', dev, 'root']);
      } catch {
        // No qdisc was added by this test.
      }
      t.run(ns, 'ip', ['link', 'set', dev, 'up']);
    }
  });

  afterAll(() => {
    t?.destroy();
  });

  /** Observer on A and peer on B, each watching the other; the peer opens a data channel to the observer. */
  async function start(
    options: {
      bulk?: boolean;
      watchData?: boolean;
      stall?: { everyMs: number; ms: number };
      multiplier?: number;
    } = {},
  ): Promise<{ topology: Topology; observer: Agent; peer: Agent }> {
    const topology = t!;
    const multiplier = options.multiplier === undefined ? {} : { multiplier: options.multiplier };
    const observer = await spawnAgent(
      {
        keepalive: {
          ...multiplier,
          role: 'secondary',
          address: topology.addrA,
          port: HEARTBEAT_PORT,
          peer: { address: topology.addrB, port: HEARTBEAT_PORT },
        },
        tcpListen: { address: topology.addrA, port: TCP_PORT },
        ...(options.watchData === undefined ? {} : { watchData: options.watchData }),
        ...(options.stall ? { stall: options.stall } : {}),
      },
      { netns: topology.nsA },
    );
    agents.push(observer);
    const peer = await spawnAgent(
      {
        keepalive: {
          ...multiplier,
          role: 'primary',
          address: topology.addrB,
          port: HEARTBEAT_PORT,
          peer: { address: topology.addrA, port: HEARTBEAT_PORT },
        },
        tcpConnect: { address: topology.addrA, port: TCP_PORT },
        ...(options.bulk ? { bulk: true } : {}),
      },
      { netns: topology.nsB },
    );
    agents.push(peer);
    const alive = (m: AgentMessage) => m.type === 'change' && m.to === 'alive';
    await observer.waitFor(alive, 20_000, 'observer sees peer alive');
    await peer.waitFor(alive, 20_000, 'peer sees observer alive');
    await sleep(200);
    return { topology, observer, peer };
  }

  const deadAfter = (since: number) => (m: AgentMessage) =>
    m.type === 'change' && m.to === 'dead' && m.atMs > since;
  const aliveAfter = (since: number) => (m: AgentMessage) =>
    m.type === 'change' && m.to === 'alive' && m.atMs > since;

  it('iptables DROP in both directions: both sides convict, both recover when healed', async () => {
    const { topology: n, observer, peer } = await start();
    const before = observer.messages.at(-1)!.atMs;
    n.run(n.nsA, 'iptables', ['-A', 'INPUT', '-s', n.addrB, '-j', 'DROP']);
    n.run(n.nsA, 'iptables', ['-A', 'OUTPUT', '-d', n.addrB, '-j', 'DROP']);
    const seenByObserver = await observer.waitFor(deadAfter(before), 10_000, 'observer convicts');
    const seenByPeer = await peer.waitFor(deadAfter(before), 10_000, 'peer convicts');
    expect(seenByObserver.reason).toBe('silence');
    expect(seenByPeer.reason).toBe('silence');
    // Locally dropped sends fail on the observer's side.
    const status = (await observer.status()).status as { sendErrors: number };
    expect(status.sendErrors).toBeGreaterThan(0);

    const healedAt = (await observer.status()).atMs;
    n.run(n.nsA, 'iptables', ['-F']);
    await observer.waitFor(aliveAfter(healedAt), 10_000, 'observer sees recovery');
    await peer.waitFor(aliveAfter(healedAt), 10_000, 'peer sees recovery');
  });

  it('iptables DROP in one direction: only the side that hears nothing convicts', async () => {
    // A 300 ms deadline on both sides: what is shown is which side convicts, not how soon, and a
    // sender the loaded scheduler runs late must not convict on the side that still hears it.
    const { topology: n, observer, peer } = await start({ multiplier: 15 });
    const before = observer.messages.at(-1)!.atMs;
    n.run(n.nsA, 'iptables', ['-A', 'INPUT', '-s', n.addrB, '-j', 'DROP']);
    const conviction = await observer.waitFor(deadAfter(before), 10_000, 'observer convicts');
    expect(conviction.reason).toBe('silence');
    await sleep(1_000); // over three of the peer's deadlines
    // The peer still hears the observer's heartbeats: it must not convict it.
    expect(changesTo(peer, 'dead')).toEqual([]);
  });

  it('link set down: both sides convict, and recover when the link comes back', async () => {
    const { topology: n, observer, peer } = await start();
    const before = observer.messages.at(-1)!.atMs;
    n.run(n.nsB, 'ip', ['link', 'set', n.devB, 'down']);
    expect((await observer.waitFor(deadAfter(before), 10_000, 'observer convicts')).reason).toBe('silence');
    expect((await peer.waitFor(deadAfter(before), 10_000, 'peer convicts')).reason).toBe('silence');
    const upAt = (await observer.status()).atMs;
    n.run(n.nsB, 'ip', ['link', 'set', n.devB, 'up']);
    await observer.waitFor(aliveAfter(upAt), 20_000, 'observer sees recovery');
    await peer.waitFor(aliveAfter(upAt), 20_000, 'peer sees recovery');
  });

  it('soak: a link saturated by bulk TCP and 100 ms stalls of the observer convict no one', async () => {
    const n = t!;
    // The peer's side of the link is rate limited; its heartbeats queue behind the bulk checkpoint data.
    n.run(n.nsB, 'tc', [
      'qdisc',
      'add',
      'dev',
      n.devB,
      'root',
      'tbf',
      'rate',
      '20mbit',
      'burst',
      '32kb',
      'latency',
      '50ms',
    ]);
    // Heartbeats alone must carry the day: the data channel is not counted as evidence here.
    const { observer, peer } = await start({
      bulk: true,
      watchData: false,
      stall: { everyMs: 400, ms: 100 },
    });
    // Run until the soak has seen its load (stalls, heartbeats, bulk bytes, a saturated qdisc),
    // however slowly the loaded host gets there; 30 s is only the hang guard.
    interface Soak {
      stalls: number;
      bytesReceived: number;
      heartbeatsReceived: number;
      overlimits: number;
    }
    const sample = async (): Promise<Soak> => {
      const o = await observer.status();
      const qdisc = n.run(n.nsB, 'tc', ['-s', 'qdisc', 'show', 'dev', n.devB]);
      return {
        stalls: o.stalls as number,
        bytesReceived: o.bytesReceived as number,
        heartbeatsReceived: (o.status as { heartbeatsReceived: number }).heartbeatsReceived,
        overlimits: Number(/overlimits (\d+)/.exec(qdisc)?.[1] ?? 0),
      };
    };
    const loaded = (x: Soak) =>
      x.stalls >= 10 && x.bytesReceived > 5_000_000 && x.heartbeatsReceived > 200 && x.overlimits > 0;
    const soakStart = performance.now();
    let seen = await sample();
    while (!loaded(seen)) {
      if (performance.now() - soakStart > 30_000)
        throw new Error(`the soak did not reach its load in 30 s: ${JSON.stringify(seen)}`);
      await sleep(250);
      seen = await sample();
    }
    const observerStatus = (await observer.status()).status as { convictions: number };
    const peerStatus = (await peer.status()).status as { convictions: number };
    expect(observerStatus.convictions).toBe(0);
    expect(peerStatus.convictions).toBe(0);
    expect(changesTo(observer, 'dead')).toEqual([]);
    expect(changesTo(peer, 'dead')).toEqual([]);
  });
});
