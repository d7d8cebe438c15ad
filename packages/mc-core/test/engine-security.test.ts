import { createCertificateAuthority, issueCertificate } from '@microcheckpoint/transport-tcp';
import { afterEach, describe, expect, it } from 'vitest';
import { InProcessArbiter } from '../src/arbiter/in-process.js';
import type { EngineChannelOptions } from '../src/engine/common.js';
import { makePrimary, runCleanups, startSecondary, until, writerGuest } from './engine-helpers.js';

afterEach(runCleanups);

const ca = createCertificateAuthority();
const node = (commonName: string, authority = ca) =>
  issueCertificate(authority, { commonName, ipAddresses: ['127.0.0.1'], usages: ['server', 'client'] });
const tls = (cert: { certificate: string; key: string }, authority = ca): EngineChannelOptions => ({
  security: { mode: 'tls', ca: authority.certificate, cert: cert.certificate, key: cert.key },
});
const psk = (key: string): EngineChannelOptions => ({
  security: { mode: 'psk', identity: 'pair-1', key: new TextEncoder().encode(key) },
});

describe('the engine over secured channels', () => {
  for (const [mode, primaryChannel, secondaryChannel] of [
    ['tls', tls(node('primary')), tls(node('secondary'))],
    ['psk', psk('a pre-shared key of 32 bytes...'), psk('a pre-shared key of 32 bytes...')],
  ] as const) {
    it(`protect over ${mode}, with heartbeats authenticated by keys bound to the channel's session`, async () => {
      const arbiter = new InProcessArbiter();
      const { secondary, port } = await startSecondary({ arbiter, channel: secondaryChannel });
      const { guest } = writerGuest();
      const released: number[] = [];
      const primary = makePrimary(guest, (_target, data) => released.push(data[0]!), port, arbiter, {
        channel: primaryChannel,
      });
      await primary.start();
      for (let n = 1; n <= 20; n++) guest.submit(n);
      await primary.checkpoint();
      await until(() => released.length === 20, 10_000, 'replies released');
      const image = new Uint8Array(1 << 20);
      secondary.materialize(image);
      expect(image[4096]).toBe(20);
      // Heartbeats that verify make each side see the other alive; keys that disagree never would.
      await until(
        () => primary.status().peer.state === 'alive' && secondary.status().peer.state === 'alive',
        10_000,
        'authenticated heartbeats accepted on both sides',
      );
      for (const status of [primary.status(), secondary.status()]) {
        expect(status.peer).toMatchObject({
          channelSecurity: mode,
          heartbeatAuthentication: 'hmac-sha256-128',
          state: 'alive',
          rejectedHeartbeats: { forged: 0, unauthenticated: 0 },
        });
      }
    });
  }

  it('say plain when the channel is plain: heartbeats unauthenticated (trusted lab network)', async () => {
    const arbiter = new InProcessArbiter();
    const { secondary, port } = await startSecondary({ arbiter });
    const { guest } = writerGuest();
    const primary = makePrimary(guest, () => undefined, port, arbiter);
    await primary.start();
    expect(primary.status().peer).toMatchObject({
      channelSecurity: 'plain',
      heartbeatAuthentication: 'none',
    });
    expect(secondary.status().peer).toMatchObject({
      channelSecurity: 'plain',
      heartbeatAuthentication: 'none',
    });
  });

  for (const [what, primaryChannel, code] of [
    ['a certificate from another CA', tls(node('primary', createCertificateAuthority())), /^MC_ERR_TLS_/],
    ['a wrong pre-shared key', psk('another pre-shared key, 32 bytes'), /^MC_ERR_(AUTH|TLS)_/],
  ] as const) {
    it(`refuse a primary with ${what}: the secondary says why, and commits nothing`, async () => {
      const arbiter = new InProcessArbiter();
      const secondaryChannel =
        what === 'a wrong pre-shared key' ? psk('a pre-shared key of 32 bytes...') : tls(node('secondary'));
      const { secondary, port } = await startSecondary({
        arbiter,
        channel: secondaryChannel,
        attachTimeoutMs: 2000,
      });
      const errors: Error[] = [];
      secondary.on('error', (err) => errors.push(err));
      const { guest } = writerGuest();
      guest.submit(1);
      const primary = makePrimary(guest, () => undefined, port, arbiter, {
        channel: primaryChannel,
        attachTimeoutMs: 2000,
      });
      await expect(primary.start()).rejects.toMatchObject({ code: 'MC_ERR_ATTACH' });
      await until(() => errors.length > 0, 10_000, 'the refusal reported');
      expect(errors[0]).toMatchObject({ code: expect.stringMatching(code) });
      expect(secondary.status().committedEpoch).toBe(0);
      expect(secondary.state).toBe('listening');
    });
  }
});
