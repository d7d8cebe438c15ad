import { afterAll, beforeAll, describe, expectTypeOf, it } from 'vitest';
import type {
  Arbiter as CoreArbiter,
  ArbiterGrant as CoreArbiterGrant,
  ArbiterRequest as CoreArbiterRequest,
} from '../../mc-core/src/arbiter/contract.js';
import { describeArbiterCompliance } from '../../mc-core/test/arbiter-compliance.js';
import {
  type Arbiter,
  type ArbiterGrant,
  type ArbiterRequest,
  createEtcdArbiter,
  type EtcdArbiter,
} from '../src/index.js';
import { type EtcdServer, etcdSkipReason, startEtcd } from './etcd-server.js';

describe('the etcd arbiter is an mc-core Arbiter', () => {
  it('has the same shapes as the contract (TypeScript is structural; no import of mc-core)', () => {
    expectTypeOf<EtcdArbiter>().toExtend<CoreArbiter>();
    expectTypeOf<Arbiter>().toEqualTypeOf<CoreArbiter>();
    expectTypeOf<ArbiterGrant>().toEqualTypeOf<CoreArbiterGrant>();
    expectTypeOf<ArbiterRequest>().toEqualTypeOf<CoreArbiterRequest>();
  });
});

const skipReason = etcdSkipReason();
describe.skipIf(skipReason !== null)('etcd arbiter compliance', () => {
  let server: EtcdServer;
  let subjects = 0;

  beforeAll(async () => {
    server = await startEtcd();
  });
  afterAll(async () => {
    await server?.destroy();
  });

  describeArbiterCompliance('etcd (real server, two clients)', async () => {
    // A fresh prefix is a fresh arbitration on the same server.
    const prefix = `compliance-${++subjects}`;
    const a = createEtcdArbiter({ hosts: server.url, prefix, driftMarginMs: 50 });
    const b = createEtcdArbiter({ hosts: server.url, prefix, driftMarginMs: 50 });
    return {
      sides: [a, b],
      // etcd leases come in whole seconds; its lessor revokes expired leases every 500 ms.
      ttlMs: 1000,
      expirySlackMs: 1500,
      close: async () => {
        await Promise.all([a.close(), b.close()]);
      },
    };
  });
});
