import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ArbiterGrant,
  ArbiterUnavailableError,
  createEtcdArbiter,
  type EtcdArbiter,
  type EtcdArbiterOptions,
} from '../src/index.js';
import { type EtcdServer, etcdSkipReason, startEtcd } from './etcd-server.js';

const skipReason = etcdSkipReason();
if (skipReason) console.warn(`skipping etcd arbiter tests: ${skipReason}`);

let prefixCounter = 0;
function uniquePrefix(): string {
  return `test-${process.pid}-${++prefixCounter}`;
}

function isValidNow(grant: ArbiterGrant | null): boolean {
  return grant !== null && performance.now() < grant.validUntilMs;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

describe.skipIf(skipReason !== null)('etcd arbiter against a real etcd', () => {
  let server: EtcdServer;
  const open: EtcdArbiter[] = [];

  function arbiter(options: EtcdArbiterOptions = {}): EtcdArbiter {
    const created = createEtcdArbiter({ hosts: server.url, driftMarginMs: 50, ...options });
    open.push(created);
    return created;
  }

  beforeAll(async () => {
    server = await startEtcd();
  });

  afterAll(async () => {
    await Promise.all(open.map((a) => a.close()));
    await server?.destroy();
  });

  it('grants one owner per generation; renew keeps the token; release lets the next generation in', async () => {
    const prefix = uniquePrefix();
    const a = arbiter({ prefix });
    const b = arbiter({ prefix });
    const before = performance.now();
    const ga = await a.acquire({ generation: 1, node: 'a', ttlMs: 1500 });
    const after = performance.now();
    expect(ga).not.toBeNull();
    expect(ga).toMatchObject({ generation: 1, node: 'a' });
    // Validity counts from before the request, shortened by the drift margin; 1500 ms rounds up to a
    // 2 s lease, but the holder only gets what it asked for.
    expect(ga!.validUntilMs).toBeGreaterThanOrEqual(before + 1500 - 50);
    expect(ga!.validUntilMs).toBeLessThanOrEqual(after + 1500 - 50);

    expect(await b.acquire({ generation: 1, node: 'b', ttlMs: 1500 })).toBeNull();
    expect(await b.acquire({ generation: 2, node: 'b', ttlMs: 1500 })).toBeNull();
    expect(await a.state()).toEqual({
      highest: { generation: 1, node: 'a' },
      owner: { generation: 1, node: 'a', token: ga!.token },
    });

    await sleep(20);
    const renewed = await a.renew(ga!, 1500);
    expect(renewed).toMatchObject({ generation: 1, node: 'a', token: ga!.token });
    expect(renewed!.validUntilMs).toBeGreaterThan(ga!.validUntilMs);

    await a.release(renewed!);
    expect((await a.state()).owner).toBeNull();
    const gb = await b.acquire({ generation: 2, node: 'b', ttlMs: 1500 });
    expect(gb).not.toBeNull();
    expect(gb!.token).toBeGreaterThan(ga!.token);
    // Older and equal generations never come back to another node.
    expect(await a.acquire({ generation: 1, node: 'a', ttlMs: 1500 })).toBeNull();
    expect(await a.acquire({ generation: 2, node: 'a', ttlMs: 1500 })).toBeNull();
    expect(await a.renew(ga!, 1500)).toBeNull();
    await b.release(gb!);
  });

  it('gives exactly one of two clients each generation when they race, with strictly increasing tokens', async () => {
    const prefix = uniquePrefix();
    const clients = [arbiter({ prefix }), arbiter({ prefix })];
    let lastToken = 0;
    for (let generation = 1; generation <= 25; generation++) {
      // Four contenders (two per client) for the same generation, all at once.
      const results = await Promise.all(
        ['a', 'b', 'c', 'd'].map((node, i) => clients[i % 2]!.acquire({ generation, node, ttlMs: 3000 })),
      );
      const winners = results.filter((g): g is ArbiterGrant => g !== null);
      expect(winners).toHaveLength(1);
      const winner = winners[0]!;
      expect(winner.token).toBeGreaterThan(lastToken);
      lastToken = winner.token;
      const state = await clients[0]!.state();
      expect(state.owner).toEqual({ generation, node: winner.node, token: winner.token });
      // Hand over so the next generation is contested again.
      await clients[['a', 'b', 'c', 'd'].indexOf(winner.node) % 2]!.release(winner);
    }
  });

  it('lets a newer generation in only after a holder that stopped renewing has lost its grant', async () => {
    const prefix = uniquePrefix();
    const a = arbiter({ prefix });
    const b = arbiter({ prefix });
    const ga = (await a.acquire({ generation: 1, node: 'a', ttlMs: 1000 }))!;
    expect(ga).not.toBeNull();
    let gb: ArbiterGrant | null = null;
    let refusals = 0;
    const deadline = performance.now() + 6000;
    while (gb === null && performance.now() < deadline) {
      // a's short TTL is the point; b's must only outlast the checks below on a loaded host.
      gb = await b.acquire({ generation: 2, node: 'b', ttlMs: 5000 });
      if (gb === null) {
        refusals++;
        // Whenever b is refused... and the moment b wins, a's own clock already says it lost.
        await sleep(50);
      }
    }
    expect(gb).not.toBeNull();
    expect(isValidNow(ga)).toBe(false);
    expect(refusals).toBeGreaterThan(0);
    expect(gb!.token).toBeGreaterThan(ga.token);
    // The stale holder finds out: its renew fails, and it cannot take its generation back.
    expect(await a.renew(ga, 1000)).toBeNull();
    expect(await a.acquire({ generation: 1, node: 'a', ttlMs: 1000 })).toBeNull();
    // Releasing the stale grant does not disturb the new owner.
    await a.release(ga);
    expect(await b.renew(gb!, 5000)).toMatchObject({ token: gb!.token });
    await b.release(gb!);
  });

  it('lets the same node take its generation again or move on, superseding its older grant', async () => {
    const prefix = uniquePrefix();
    const a = arbiter({ prefix });
    const first = (await a.acquire({ generation: 3, node: 'a', ttlMs: 2000 }))!;
    const again = (await a.acquire({ generation: 3, node: 'a', ttlMs: 2000 }))!;
    expect(again.token).toBeGreaterThan(first.token);
    expect(await a.renew(first, 2000)).toBeNull();
    expect(await a.renew(again, 2000)).not.toBeNull();
    const next = (await a.acquire({ generation: 4, node: 'a', ttlMs: 2000 }))!;
    expect(next.token).toBeGreaterThan(again.token);
    expect(await a.renew(again, 2000)).toBeNull();
    expect((await a.state()).owner).toEqual({ generation: 4, node: 'a', token: next.token });
    // A second instance (a restarted process of the same node) can renew and release a grant it did
    // not make, found through the owner key.
    const sameNode = arbiter({ prefix });
    expect(await sameNode.renew(next, 2000)).toMatchObject({ token: next.token });
    await sameNode.release(next);
    expect((await a.state()).owner).toBeNull();
  });

  it('works through the live member when another listed member is down', async () => {
    const prefix = uniquePrefix();
    // Port 9 (discard) refuses connections on loopback: a member that is down.
    const a = arbiter({ prefix, hosts: ['http://127.0.0.1:9', server.url] });
    for (let generation = 1; generation <= 6; generation++) {
      const grant = await a.acquire({ generation, node: 'a', ttlMs: 2000 });
      expect(grant).not.toBeNull();
      expect(await a.renew(grant!, 2000)).toMatchObject({ token: grant!.token });
      await a.release(grant!);
    }
    expect((await a.state()).highest).toEqual({ generation: 6, node: 'a' });
  });

  it('refuses to decide on keys it did not write, and leaves them alone', async () => {
    const prefix = uniquePrefix();
    const raw = new Etcd3({ hosts: server.url });
    try {
      await raw.put(`${prefix}/highest`).value('not a generation');
      const a = arbiter({ prefix });
      await expect(a.acquire({ generation: 1, node: 'a', ttlMs: 1000 })).rejects.toMatchObject({
        code: 'MC_ERR_ARBITER_STATE',
      });
      expect(await raw.get(`${prefix}/highest`).string()).toBe('not a generation');

      const other = uniquePrefix();
      await raw.put(`${other}/owner/xyz`).value('b');
      await expect(
        arbiter({ prefix: other }).acquire({ generation: 1, node: 'a', ttlMs: 1000 }),
      ).rejects.toThrow(/owner\/xyz/);
    } finally {
      raw.close();
    }
  });

  it('validates options and requests with typed errors', async () => {
    expect(() => createEtcdArbiter({ hosts: [] })).toThrow(
      expect.objectContaining({ code: 'MC_ERR_INVALID_OPTION' }),
    );
    expect(() => createEtcdArbiter({ hosts: '127.0.0.1:2379' })).toThrow(/hosts/);
    expect(() => createEtcdArbiter({ prefix: 'a/' })).toThrow(/prefix/);
    expect(() => createEtcdArbiter({ requestTimeoutMs: 0 })).toThrow(/requestTimeoutMs/);
    expect(() => createEtcdArbiter({ driftMarginMs: -1 })).toThrow(/driftMarginMs/);
    const a = arbiter({ prefix: uniquePrefix() });
    const bad = { code: 'MC_ERR_INVALID_ARGUMENT' };
    await expect(a.acquire({ generation: 0, node: 'a', ttlMs: 1000 })).rejects.toMatchObject(bad);
    await expect(a.acquire({ generation: 1.5, node: 'a', ttlMs: 1000 })).rejects.toMatchObject(bad);
    await expect(a.acquire({ generation: 1, node: '', ttlMs: 1000 })).rejects.toMatchObject(bad);
    await expect(a.acquire({ generation: 1, node: 'x'.repeat(256), ttlMs: 1000 })).rejects.toMatchObject(bad);
    await expect(a.acquire({ generation: 1, node: 'a', ttlMs: 0 })).rejects.toMatchObject(bad);
    // A grant shorter than the drift margin would be dead on arrival.
    await expect(a.acquire({ generation: 1, node: 'a', ttlMs: 50 })).rejects.toMatchObject(bad);
    await expect(
      a.renew({ generation: 1, node: 'a', token: 0, validUntilMs: 0 }, 1000),
    ).rejects.toMatchObject(bad);
  });

  it('rejects every call after close', async () => {
    const a = createEtcdArbiter({ hosts: server.url, prefix: uniquePrefix() });
    const grant = (await a.acquire({ generation: 1, node: 'a', ttlMs: 1000 }))!;
    await a.close();
    await a.close();
    const closed = { code: 'MC_ERR_ARBITER_CLOSED' };
    await expect(a.acquire({ generation: 2, node: 'a', ttlMs: 1000 })).rejects.toMatchObject(closed);
    await expect(a.renew(grant, 1000)).rejects.toMatchObject(closed);
    await expect(a.release(grant)).rejects.toMatchObject(closed);
    await expect(a.state()).rejects.toMatchObject(closed);
  });
});

describe.skipIf(skipReason !== null)('etcd arbiter when etcd goes down and comes back', () => {
  let server: EtcdServer;
  let a: EtcdArbiter;
  let b: EtcdArbiter;

  beforeAll(async () => {
    server = await startEtcd();
    const options = { hosts: server.url, prefix: 'down-up', requestTimeoutMs: 500, driftMarginMs: 50 };
    a = createEtcdArbiter(options);
    b = createEtcdArbiter(options);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await server?.destroy();
  });

  it('times out at the deadline with a typed error while etcd is frozen, and answers again when it thaws', async () => {
    const ga = (await a.acquire({ generation: 1, node: 'frozen', ttlMs: 3000 }))!;
    expect(ga).not.toBeNull();
    server.pause();
    try {
      for (const attempt of [
        () => a.renew(ga, 3000),
        () => b.acquire({ generation: 2, node: 'b', ttlMs: 1000 }),
        () => a.release(ga),
      ]) {
        const started = performance.now();
        await expect(attempt()).rejects.toMatchObject({ code: 'MC_ERR_ARBITER_UNAVAILABLE' });
        const elapsed = performance.now() - started;
        expect(elapsed).toBeGreaterThanOrEqual(450);
        // Only a hang guard: a loaded host may take long over the rest of the request.
        expect(elapsed).toBeLessThan(5000);
      }
    } finally {
      server.resume();
    }
    const renewed = await a.renew(ga, 3000);
    expect(renewed).toMatchObject({ token: ga.token });
    await a.release(renewed!);
  });

  it('fails fast with a typed error and no grant while etcd is down, and works again once it is back', async () => {
    const ga = (await a.acquire({ generation: 10, node: 'a', ttlMs: 1000 }))!;
    expect(ga).not.toBeNull();
    await server.stop('SIGKILL');

    for (const attempt of [
      () => b.acquire({ generation: 11, node: 'b', ttlMs: 1000 }),
      () => a.renew(ga, 1000),
      () => a.acquire({ generation: 15, node: 'a', ttlMs: 1000 }),
    ]) {
      const started = performance.now();
      const error = await attempt().then(
        (value) => ({ unexpected: value }),
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(ArbiterUnavailableError);
      expect(error).toMatchObject({ code: 'MC_ERR_ARBITER_UNAVAILABLE' });
      expect((error as Error).cause).toBeDefined();
      // Never a hang: a refused connection fails at once, a silent one at the deadline (the bound is
      // only a hang guard, loose for a loaded host).
      expect(performance.now() - started).toBeLessThan(5000);
    }
    // a cannot renew, so a's clock runs its grant out: it must stop acting.
    await sleep(Math.max(0, ga.validUntilMs - performance.now()) + 10);
    expect(isValidNow(ga)).toBe(false);

    await server.start();
    // The lease survived the restart (etcd persists leases and extends them on recovery), so b waits
    // for it to run out; then b wins with a token above every token before the outage.
    let gb: ArbiterGrant | null = null;
    const deadline = performance.now() + 10_000;
    while (gb === null && performance.now() < deadline) {
      try {
        // Long enough to outlive the checks below on a loaded host.
        gb = await b.acquire({ generation: 11, node: 'b', ttlMs: 5000 });
      } catch (err) {
        // Reconnecting right after the restart may still fail once; it must be the typed error.
        expect(err).toBeInstanceOf(ArbiterUnavailableError);
      }
      if (gb === null) await sleep(100);
    }
    expect(gb).not.toBeNull();
    expect(gb!.token).toBeGreaterThan(ga.token);
    expect(await a.renew(ga, 1000)).toBeNull();
    expect(await b.renew(gb!, 5000)).toMatchObject({ token: gb!.token });
  });

  it('never hangs on an address where nothing listens', async () => {
    const nowhere = createEtcdArbiter({ hosts: 'http://127.0.0.1:9', requestTimeoutMs: 300 });
    try {
      const started = performance.now();
      await expect(nowhere.acquire({ generation: 1, node: 'a', ttlMs: 1000 })).rejects.toBeInstanceOf(
        ArbiterUnavailableError,
      );
      // Only a hang guard on the 300 ms request timeout.
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      await nowhere.close();
    }
  });
});
