import {
  createCertificateAuthority,
  issueCertificate,
  type SecurityOptions,
} from '@microcheckpoint/transport-tcp';
import { afterEach, describe, expect, it } from 'vitest';
import { createWitnessArbiter, type WitnessArbiter } from '../src/arbiter/witness.js';
import {
  createWitnessServer,
  type WitnessDecision,
  type WitnessServer,
} from '../src/arbiter/witness-server.js';
import { until } from './engine-helpers.js';

const ca = createCertificateAuthority();
const tls = (commonName: string, authority = ca): SecurityOptions => {
  const node = issueCertificate(authority, {
    commonName,
    ipAddresses: ['127.0.0.1'],
    usages: ['server', 'client'],
  });
  return { mode: 'tls', ca: authority.certificate, cert: node.certificate, key: node.key };
};

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

async function witness(security: SecurityOptions): Promise<{ server: WitnessServer; port: number }> {
  const server = createWitnessServer({ security });
  closers.push(() => server.close());
  const { port } = await server.listen();
  return { server, port };
}

function arbiter(port: number, security: SecurityOptions): WitnessArbiter {
  const client = createWitnessArbiter({ port, security, requestTimeoutMs: 3000 });
  closers.push(() => client.close());
  return client;
}

describe('a witness that authenticates who may ask for a vote', () => {
  it('grants to a node whose certificate chains to its CA', async () => {
    const { port } = await witness(tls('witness'));
    const grant = await arbiter(port, tls('node-a')).acquire({ generation: 1, node: 'a', ttlMs: 1000 });
    expect(grant).toMatchObject({ generation: 1, node: 'a', token: 1 });
  });

  for (const [what, security] of [
    ['a certificate from another CA', tls('node-b', createCertificateAuthority())],
    ['no certificate at all (plain)', { mode: 'plain' } as SecurityOptions],
    [
      'a pre-shared key instead of a certificate',
      { mode: 'psk', identity: 'x', key: new Uint8Array(32) } as SecurityOptions,
    ],
  ] as const) {
    it(`refuses a node with ${what}: no vote, a typed reason on the server`, async () => {
      const { server, port } = await witness(tls('witness'));
      const refusals: Error[] = [];
      const decisions: WitnessDecision[] = [];
      server.on('peerError', (error) => refusals.push(error));
      server.on('decision', (decision) => decisions.push(decision));
      await expect(
        arbiter(port, security).acquire({ generation: 1, node: 'b', ttlMs: 1000 }),
      ).rejects.toMatchObject({
        code: 'MC_ERR_ARBITER_UNAVAILABLE',
      });
      // The server reports the refusal on its own schedule: wait for it (10 s is only the hang guard).
      await until(() => refusals.length >= 1, 10_000, 'the refusal on the server');
      expect(refusals[0]).toMatchObject({ code: expect.stringMatching(/^MC_ERR_(TLS|AUTH|FRAME)_/) });
      expect(decisions).toEqual([]);
      // The rightful node still gets generation 1: the refused one took nothing.
      const grant = await arbiter(port, tls('node-a')).acquire({ generation: 1, node: 'a', ttlMs: 1000 });
      expect(grant).toMatchObject({ generation: 1, token: 1 });
    });
  }
});
