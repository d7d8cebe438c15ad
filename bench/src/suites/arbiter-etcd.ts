// Arbiter cost against etcd itself: every arbiter operation against the plain etcd round trip it
// is built on, measured in the same run against a real etcd server the suite starts and stops.
import { createEtcdArbiter } from '@microcheckpoint/arbiter-etcd';
import { Etcd3 } from 'etcd3';
import { startEtcd } from '../../../packages/arbiter-etcd/test/etcd-server.js';
import { type BenchCase, benchCase, distributionCases, quantile } from '../results.js';
import type { BenchSuite } from '../suite.js';

const suite: BenchSuite = {
  name: 'arbiter-etcd',
  question:
    'What does arbitration through etcd cost per operation, against the etcd round trip it cannot avoid ' +
    '(a raw put for writes, a raw linearizable get for renew), and how long after a lapsed grant does the ' +
    'next generation get in, against the TTL?',
  async run({ quick }) {
    const samples = quick ? 40 : 300;
    const lapses = quick ? 3 : 10;
    const server = await startEtcd();
    const raw = new Etcd3({ hosts: server.url });
    const a = createEtcdArbiter({ hosts: server.url, prefix: 'bench' });
    const b = createEtcdArbiter({ hosts: server.url, prefix: 'bench' });
    const cases: BenchCase[] = [];
    try {
      const time = async (fn: () => Promise<unknown>): Promise<number> => {
        const started = performance.now();
        await fn();
        return performance.now() - started;
      };
      // Warm both clients' connections.
      for (let i = 0; i < 10; i++) await raw.put('bench-baseline').value(String(i));
      await a.state();
      await b.state();

      const acquire: number[] = [];
      const renew: number[] = [];
      const release: number[] = [];
      const switchover: number[] = [];
      const put: number[] = [];
      const get: number[] = [];
      let generation = 0;
      for (let i = 0; i < samples; i++) {
        // Interleaved with the baselines, so both see the same disk and scheduler noise.
        put.push(await time(async () => await raw.put('bench-baseline').value(String(i))));
        get.push(await time(() => raw.get('bench-baseline').string()));
        // acquire: an uncontended new generation (the previous one was released).
        generation++;
        let grant = null as Awaited<ReturnType<typeof a.acquire>>;
        acquire.push(
          await time(async () => {
            grant = await a.acquire({ generation, node: 'a', ttlMs: 5000 });
          }),
        );
        if (grant === null) throw new Error('uncontended acquire refused');
        let renewed = null as typeof grant | null;
        renew.push(
          await time(async () => {
            renewed = await a.renew(grant!, 5000);
          }),
        );
        if (renewed === null) throw new Error('renew of a live grant refused');
        release.push(await time(() => a.release(renewed!)));
        // switchover: a hands over to b (release, then b's acquire of the next generation).
        const held = (await a.acquire({ generation: ++generation, node: 'a', ttlMs: 5000 }))!;
        const nextGeneration = ++generation;
        let taken = null as Awaited<ReturnType<typeof b.acquire>>;
        switchover.push(
          await time(async () => {
            await a.release(held);
            taken = await b.acquire({ generation: nextGeneration, node: 'b', ttlMs: 5000 });
          }),
        );
        if (taken === null) throw new Error('switchover refused');
        await b.release(taken);
      }
      cases.push(...distributionCases('acquire vs one put', 'ms', acquire, put));
      cases.push(...distributionCases('renew vs one linearizable get', 'ms', renew, get));
      cases.push(...distributionCases('release vs one put', 'ms', release, put));
      cases.push(...distributionCases('switchover (release + acquire) vs one put', 'ms', switchover, put));

      // How long after a holder stops renewing does the next generation get in (TTL 1 s)?
      const takeover: number[] = [];
      for (let i = 0; i < lapses; i++) {
        const lapsed = (await a.acquire({ generation: ++generation, node: 'a', ttlMs: 1000 }))!;
        const started = performance.now();
        const nextGeneration = ++generation;
        for (;;) {
          const taken = await b.acquire({ generation: nextGeneration, node: 'b', ttlMs: 1000 });
          if (taken !== null) {
            if (performance.now() < lapsed.validUntilMs) throw new Error('split brain: both grants valid');
            await b.release(taken);
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        takeover.push(performance.now() - started);
      }
      cases.push(
        benchCase('takeover after a lapsed 1 s grant p50 vs TTL', 'ms', quantile(takeover, 0.5), 1000),
      );
      cases.push(
        benchCase('takeover after a lapsed 1 s grant max vs TTL', 'ms', quantile(takeover, 1), 1000),
      );
    } finally {
      await Promise.all([a.close(), b.close()]);
      raw.close();
      await server.destroy();
    }
    return cases;
  },
};

export default suite;
