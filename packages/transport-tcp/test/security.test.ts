import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';
import {
  type ConnectionOptions,
  createServer as createTlsServer,
  type TLSSocket,
  connect as tlsConnect,
} from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CertificateAndKey,
  type Channel,
  connect,
  createCertificateAuthority,
  createServer,
  encodeFrame,
  issueCertificate,
  type Message,
  type SecurityOptions,
  type Server,
  type TransportError,
} from '../src/index.js';
import { collect, randomBytes } from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const DAY_MS = 86_400_000;
let ca: CertificateAndKey;
let otherCa: CertificateAndKey;
let serverCert: CertificateAndKey;
let clientCert: CertificateAndKey;
let expiredCert: CertificateAndKey;
let notYetValidCert: CertificateAndKey;
let foreignCert: CertificateAndKey;

beforeAll(() => {
  ca = createCertificateAuthority({ commonName: 'test CA' });
  otherCa = createCertificateAuthority({ commonName: 'someone else' });
  serverCert = issueCertificate(ca, { commonName: 'secondary-1' });
  clientCert = issueCertificate(ca, { commonName: 'primary-1' });
  expiredCert = issueCertificate(ca, {
    commonName: 'primary-old',
    notBefore: new Date(Date.now() - 30 * DAY_MS),
    notAfter: new Date(Date.now() - DAY_MS),
  });
  notYetValidCert = issueCertificate(ca, {
    commonName: 'primary-future',
    notBefore: new Date(Date.now() + DAY_MS),
  });
  foreignCert = issueCertificate(otherCa, { commonName: 'primary-1' });
});

function tls(cert: CertificateAndKey, extra: Partial<SecurityOptions> = {}): SecurityOptions {
  return {
    mode: 'tls',
    ca: ca.certificate,
    cert: cert.certificate,
    key: cert.key,
    ...extra,
  } as SecurityOptions;
}

interface Watched {
  server: Server;
  port: number;
  refused: TransportError[];
  received: Message[];
  accepted: Channel[];
}

/** A server that echoes every message and records what it received, accepted and refused. */
async function echoServer(security: SecurityOptions, extra = {}): Promise<Watched> {
  const server = createServer({ security, maxPayloadBytes: 4 << 20, ...extra });
  const watched: Watched = { server, port: 0, refused: [], received: [], accepted: [] };
  server.on('peerRefused', (err) => watched.refused.push(err));
  server.on('channel', (channel) => {
    watched.accepted.push(channel);
    channel.on('message', (m) => {
      watched.received.push(m);
      channel.send(m.type, m.payload, m.flags);
    });
  });
  watched.port = (await server.listen()).port;
  cleanups.push(() => server.close());
  return watched;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`hang guard: ${what} did not happen`);
}

async function expectWorking(port: number, security: SecurityOptions): Promise<Channel> {
  const channel = await connect({ port, security });
  cleanups.push(() => channel.destroy());
  const reply = collect(channel, 1);
  channel.send(3, new TextEncoder().encode('still here'));
  const [m] = await reply;
  expect(new TextDecoder().decode(m!.payload)).toBe('still here');
  return channel;
}

/** A raw TLS client that writes a valid frame the moment its side of the handshake is done. */
function rawTlsClient(port: number, options: ConnectionOptions): Promise<TLSSocket> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', ...options }, () => {
      socket.write(encodeFrame(9, new Uint8Array(32).fill(7)));
      socket.resume();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(socket));
    cleanups.push(() => socket.destroy());
  });
}

describe('TLS 1.3 with mutual certificates', () => {
  it('carries framed messages both ways, reports the security it negotiated', async () => {
    const watched = await echoServer(tls(serverCert));
    const channel = await connect({ port: watched.port, security: tls(clientCert) });
    cleanups.push(() => channel.destroy());
    const parts = [randomBytes(100_000), randomBytes(3), randomBytes(0), randomBytes(70_000)];
    const replies = collect(channel, 2);
    channel.send(200, parts, 0xbeef);
    channel.send(1, new Uint8Array(0));
    const [big, empty] = await replies;
    expect(big!.type).toBe(200);
    expect(big!.flags).toBe(0xbeef);
    expect(Buffer.from(big!.payload).equals(Buffer.concat(parts))).toBe(true);
    expect(empty!.payload.byteLength).toBe(0);

    expect(channel.stats().security).toBe('tls');
    expect(channel.security).toMatchObject({
      mode: 'tls',
      protocol: 'TLSv1.3',
      peerCommonName: 'secondary-1',
      peerFingerprint256: serverCert.fingerprint256,
    });
    expect(watched.accepted[0]!.security).toMatchObject({
      mode: 'tls',
      protocol: 'TLSv1.3',
      peerCommonName: 'primary-1',
      peerFingerprint256: clientCert.fingerprint256,
    });
    expect(watched.server.securityMode).toBe('tls');
    // Both ends derive the same exporter secret, and nobody else can.
    const mine = channel.exportKeyingMaterial(32, 'mc test');
    const theirs = watched.accepted[0]!.exportKeyingMaterial(32, 'mc test');
    expect(Buffer.from(mine).equals(Buffer.from(theirs))).toBe(true);
    expect(watched.refused).toEqual([]);
  });

  it('keeps order, integrity and backpressure for megabytes of 1 MiB frames', async () => {
    const watched = await echoServer(tls(serverCert), { highWaterMarkBytes: 1 << 20 });
    const channel = await connect({
      port: watched.port,
      security: tls(clientCert),
      highWaterMarkBytes: 1 << 20,
    });
    cleanups.push(() => channel.destroy());
    const payloads = Array.from({ length: 24 }, () => randomBytes(1 << 20));
    const echoed: Message[] = [];
    const reading = (async () => {
      for await (const m of channel) {
        echoed.push(m);
        if (echoed.length === payloads.length) break;
      }
    })();
    let backpressure = 0;
    for (const [i, payload] of payloads.entries()) {
      if (!channel.send(i, payload)) {
        backpressure++;
        await new Promise<void>((resolve) => channel.once('drain', () => resolve()));
      }
    }
    await reading;
    expect(backpressure).toBeGreaterThan(0);
    expect(echoed.map((m) => m.type)).toEqual(payloads.map((_, i) => i));
    for (const [i, m] of echoed.entries()) expect(Buffer.from(m.payload).equals(payloads[i]!)).toBe(true);
    expect(channel.stats().framesReceived).toBe(payloads.length);
  });

  const refusals: Array<[string, () => ConnectionOptions, string]> = [
    [
      'a certificate from another CA',
      () => ({ ca: ca.certificate, cert: foreignCert.certificate, key: foreignCert.key }),
      'MC_ERR_TLS_CERT_UNTRUSTED',
    ],
    [
      'an expired certificate',
      () => ({ ca: ca.certificate, cert: expiredCert.certificate, key: expiredCert.key }),
      'MC_ERR_TLS_CERT_EXPIRED',
    ],
    [
      'a certificate not valid yet',
      () => ({ ca: ca.certificate, cert: notYetValidCert.certificate, key: notYetValidCert.key }),
      'MC_ERR_TLS_CERT_EXPIRED',
    ],
    ['no client certificate', () => ({ ca: ca.certificate }), 'MC_ERR_TLS_NO_PEER_CERT'],
    [
      'a self-signed certificate',
      () => ({ ca: ca.certificate, cert: otherCa.certificate, key: otherCa.key }),
      'MC_ERR_TLS_CERT_UNTRUSTED',
    ],
  ];
  for (const [what, options, code] of refusals) {
    it(`refuses a client with ${what} (${code}), delivers none of its frames, keeps serving`, async () => {
      const watched = await echoServer(tls(serverCert));
      await rawTlsClient(watched.port, options());
      await until(() => watched.refused.length === 1, 'the refusal');
      expect(watched.refused.map((e) => e.code)).toEqual([code]);
      expect(watched.refused[0]!.message.length).toBeGreaterThan(10);
      expect(watched.server.refusedPeers).toBe(1);
      expect(watched.accepted).toEqual([]);
      expect(watched.received).toEqual([]);
      await expectWorking(watched.port, tls(clientCert));
    });
  }

  it('refuses, through connect(), a server whose certificate is from another CA or expired', async () => {
    const foreign = await echoServer({
      mode: 'tls',
      ca: ca.certificate,
      cert: foreignCert.certificate,
      key: foreignCert.key,
    });
    await expect(connect({ port: foreign.port, security: tls(clientCert) })).rejects.toMatchObject({
      code: 'MC_ERR_TLS_CERT_UNTRUSTED',
    });
    // createServer() refuses an expired certificate of its own, so the expired server is a raw one.
    const expired = createTlsServer(
      { cert: expiredCert.certificate, key: expiredCert.key, minVersion: 'TLSv1.3' },
      (socket) => socket.on('error', () => undefined),
    );
    await new Promise<void>((resolve) => expired.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => expired.close(resolve)));
    const expiredPort = (expired.address() as AddressInfo).port;
    await expect(connect({ port: expiredPort, security: tls(clientCert) })).rejects.toMatchObject({
      code: 'MC_ERR_TLS_CERT_EXPIRED',
      reason: 'CERT_HAS_EXPIRED',
    });
  });

  it('checks the expected peer name and pinned fingerprints on both sides', async () => {
    const watched = await echoServer(tls(serverCert, { peerName: 'primary-1' }));
    await expectWorking(watched.port, tls(clientCert, { peerName: 'secondary-1' }));
    await expect(
      connect({ port: watched.port, security: tls(clientCert, { peerName: 'secondary-2' }) }),
    ).rejects.toMatchObject({ code: 'MC_ERR_TLS_PEER_IDENTITY' });
    await expect(
      connect({
        port: watched.port,
        security: tls(clientCert, { peerFingerprint256: clientCert.fingerprint256 }),
      }),
    ).rejects.toMatchObject({ code: 'MC_ERR_TLS_PEER_IDENTITY' });
    await expectWorking(
      watched.port,
      tls(clientCert, { peerFingerprint256: serverCert.fingerprint256.replace(/:/g, '').toLowerCase() }),
    );

    // A valid certificate from the CA, but not the name the server expects.
    const other = issueCertificate(ca, { commonName: 'primary-2' });
    const refusedBefore = watched.refused.length;
    const refusedEnd = connect({ port: watched.port, security: tls(other) });
    const channel = await refusedEnd; // TLS 1.3: the client's side completes before the server checks
    const closed = new Promise((resolve) => channel.once('close', resolve));
    channel.on('message', () => undefined);
    channel.send(9, new Uint8Array(8));
    await closed;
    await until(() => watched.refused.length === refusedBefore + 1, 'the refusal');
    expect(watched.refused.at(-1)).toMatchObject({
      code: 'MC_ERR_TLS_PEER_IDENTITY',
      reason: 'NAME_MISMATCH',
    });
    expect(watched.received.some((m) => m.type === 9)).toBe(false);

    const pinned = await echoServer(tls(serverCert, { peerFingerprint256: [clientCert.fingerprint256] }));
    await expectWorking(pinned.port, tls(clientCert));
    await rawTlsClient(pinned.port, { ca: ca.certificate, cert: other.certificate, key: other.key });
    await until(() => pinned.refused.length === 1, 'the refusal');
    expect(pinned.refused[0]).toMatchObject({
      code: 'MC_ERR_TLS_PEER_IDENTITY',
      reason: 'FINGERPRINT_MISMATCH',
    });
    expect(pinned.received.filter((m) => m.type === 9)).toEqual([]);
  });

  it('refuses a plain-TCP client on a TLS server, and a TLS client on a plain server', async () => {
    const watched = await echoServer(tls(serverCert));
    const plainClient = await connect({ port: watched.port });
    const closed = new Promise((resolve) => plainClient.once('close', resolve));
    plainClient.on('message', () => undefined);
    plainClient.send(9, new Uint8Array(16));
    await closed;
    await until(() => watched.refused.length === 1, 'the refusal');
    expect(watched.refused[0]!.code).toBe('MC_ERR_TLS_HANDSHAKE');
    expect(watched.received).toEqual([]);

    const plain = createServer();
    const plainErrors: TransportError[] = [];
    plain.on('channelError', (err) => plainErrors.push(err));
    plain.on('channel', (channel) => channel.on('message', () => undefined));
    const { port } = await plain.listen();
    cleanups.push(() => plain.close());
    await expect(connect({ port, security: tls(clientCert), connectTimeoutMs: 5_000 })).rejects.toMatchObject(
      {
        code: expect.stringMatching(/^MC_ERR_(TLS_HANDSHAKE|CONNECT)$/),
      },
    );
    await until(() => plainErrors.length === 1, 'the plain server noticing');
    expect(plainErrors[0]!.code).toBe('MC_ERR_FRAME_MAGIC');
  });
});

describe('handshake limits and the plain-mode risk', () => {
  it('drops a client that never finishes its handshake after handshakeTimeoutMs', async () => {
    const watched = await echoServer(tls(serverCert), { handshakeTimeoutMs: 200 });
    const silent = netConnect({ port: watched.port, host: '127.0.0.1' });
    silent.on('error', () => undefined);
    cleanups.push(() => silent.destroy());
    const closed = new Promise((resolve) => silent.once('close', resolve));
    await closed;
    await until(() => watched.refused.length === 1, 'the refusal');
    expect(watched.refused[0]).toMatchObject({
      code: 'MC_ERR_TLS_HANDSHAKE',
      reason: 'ERR_TLS_HANDSHAKE_TIMEOUT',
    });
  });

  it('plain mode delivers a forged frame from anyone who reaches the port; TLS mode refuses the same injection', async () => {
    // The documented risk of plain mode: the checksum is not a signature.
    const plain = await echoServer({ mode: 'plain' });
    const intruder = await rawTcp(plain.port);
    intruder.write(encodeFrame(42, new TextEncoder().encode('forged checkpoint')));
    await until(() => plain.received.length === 1, 'the forged frame delivered');
    expect(new TextDecoder().decode(plain.received[0]!.payload)).toBe('forged checkpoint');
    expect(plain.accepted[0]!.stats().security).toBe('plain');

    const secure = await echoServer(tls(serverCert));
    const blocked = await rawTcp(secure.port);
    blocked.write(encodeFrame(42, new TextEncoder().encode('forged checkpoint')));
    await until(() => secure.refused.length === 1, 'the refusal');
    expect(secure.received).toEqual([]);
    expect(secure.accepted).toEqual([]);
  });
});

function rawTcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1' }, () => resolve(socket));
    socket.on('error', reject);
    cleanups.push(() => socket.destroy());
  });
}

describe('TLS 1.3 with a pre-shared key', () => {
  const key = cryptoRandomBytes(32);
  const psk = (identity = 'lab-pair', k: Uint8Array = key): SecurityOptions => ({
    mode: 'psk',
    identity,
    key: k,
  });

  it('carries messages when both sides hold the key, forward-secret and on TLS 1.3', async () => {
    const watched = await echoServer(psk());
    const channel = await expectWorking(watched.port, psk());
    expect(channel.security).toMatchObject({
      mode: 'psk',
      protocol: 'TLSv1.3',
      cipher: 'TLS_AES_128_GCM_SHA256',
      pskIdentity: 'lab-pair',
      peerCommonName: null,
    });
    expect(channel.stats().security).toBe('psk');
    const a = channel.exportKeyingMaterial(16, 'mc test');
    const second = await expectWorking(watched.port, psk());
    // A fresh (EC)DHE exchange per connection: the exported secrets differ.
    expect(Buffer.from(second.exportKeyingMaterial(16, 'mc test')).equals(Buffer.from(a))).toBe(false);
  });

  it('refuses a wrong key or an unknown identity with MC_ERR_AUTH_PSK on both sides', async () => {
    const watched = await echoServer(psk());
    await expect(
      connect({ port: watched.port, security: psk('lab-pair', cryptoRandomBytes(32)) }),
    ).rejects.toMatchObject({ code: 'MC_ERR_AUTH_PSK' });
    await expect(connect({ port: watched.port, security: psk('intruder') })).rejects.toMatchObject({
      code: 'MC_ERR_AUTH_PSK',
    });
    await until(() => watched.refused.length === 2, 'both refusals');
    expect(watched.refused.map((e) => e.code)).toEqual(['MC_ERR_AUTH_PSK', 'MC_ERR_AUTH_PSK']);
    expect(watched.refused[1]!.message).toContain('intruder');
    expect(watched.accepted).toEqual([]);
    await expectWorking(watched.port, psk());
  });
});

describe('security options', () => {
  it('defaults to plain and says so', async () => {
    const watched = await echoServer(undefined as unknown as SecurityOptions);
    const channel = await expectWorking(watched.port, { mode: 'plain' });
    expect(channel.stats().security).toBe('plain');
    expect(channel.security.mode).toBe('plain');
    expect(watched.server.securityMode).toBe('plain');
    expect(() => channel.exportKeyingMaterial(16, 'x')).toThrow(/plain/);
  });

  it('rejects bad security options naming the option', async () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ mode: 'ssl' }, /security\.mode/],
      [{ mode: 'psk', identity: 'a', key: new Uint8Array(8) }, /security\.key/],
      [{ mode: 'psk', identity: '', key: new Uint8Array(32) }, /security\.identity/],
      [{ mode: 'tls', ca: 'nope', cert: 'x', key: 'y' }, /security\.ca/],
      [{ mode: 'tls', ca: [], cert: 'x', key: 'y' }, /security\.ca/],
      [() => ({ mode: 'tls', ca: ca.certificate, cert: 'x', key: clientCert.key }), /security\.cert/],
      [() => ({ ...tls(clientCert), key: serverCert.key }), /security\.key: does not belong/],
      [() => tls(expiredCert), /security\.cert: expired/],
      [() => tls(notYetValidCert), /security\.cert: is not valid before/],
      [() => ({ ...tls(clientCert), peerFingerprint256: 'AB:CD' }), /security\.peerFingerprint256/],
      ['tls', /security/],
    ];
    for (const [option, message] of bad) {
      const security = (typeof option === 'function' ? option() : option) as SecurityOptions;
      expect(() => createServer({ security })).toThrow(message);
      await expect(connect({ port: 1, security })).rejects.toThrow(message);
    }
  });
});
