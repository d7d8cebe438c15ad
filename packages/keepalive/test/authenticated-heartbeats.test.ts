import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createKeepalive,
  decodeHeartbeat,
  deriveHeartbeatKeys,
  encodeAuthenticatedHeartbeat,
  encodeHeartbeat,
  type Heartbeat,
  type Keepalive,
  type KeepaliveStatus,
} from '../src/index.js';

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
});

const secret = randomBytes(32);

async function udpSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  open.push({ close: () => new Promise<void>((resolve) => socket.close(() => resolve())) });
  return socket;
}

function send(socket: Socket, bytes: Uint8Array, port: number): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.send(bytes, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())),
  );
}

async function until(
  k: Keepalive,
  done: (s: KeepaliveStatus) => boolean,
  what: string,
): Promise<KeepaliveStatus> {
  for (let i = 0; i < 1_000; i++) {
    const s = k.status();
    if (done(s)) return s;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`hang guard: ${what}; status ${JSON.stringify(k.status())}`);
}

function fields(sequence: number, incarnation = 4242): Heartbeat {
  return {
    role: 'primary',
    goodbye: false,
    incarnation,
    intervalMs: 20,
    sequence,
    senderTimeMs: performance.now(),
    epoch: 1,
    progress: sequence,
  };
}

describe('authenticated heartbeats between two keepalives', () => {
  it('two nodes with the same secret see each other alive; a node with another secret never does', async () => {
    const a = createKeepalive({ role: 'primary', authentication: { nodeId: 'primary-1', secret } });
    const b = createKeepalive({ role: 'secondary', authentication: { nodeId: 'secondary-1', secret } });
    const c = createKeepalive({
      role: 'secondary',
      authentication: { nodeId: 'secondary-1', secret: randomBytes(32) },
      startupTimeoutMs: 60_000,
    });
    open.push(a, b, c);
    const [addrA, addrB, addrC] = await Promise.all([a.start(), b.start(), c.start()]);
    a.setPeer({ address: '127.0.0.1', port: addrB.port, nodeId: 'secondary-1' });
    b.setPeer({ address: '127.0.0.1', port: addrA.port, nodeId: 'primary-1' });
    await until(a, (s) => s.state === 'alive', 'a sees b');
    await until(b, (s) => s.state === 'alive', 'b sees a');
    const status = b.status();
    expect(status.authentication).toBe('hmac-sha256-128');
    expect(status.rejectedHeartbeats).toEqual({ forged: 0, replayed: 0, stale: 0, unauthenticated: 0 });
    expect(status.peerAddress).toEqual({ address: '127.0.0.1', port: addrA.port, nodeId: 'primary-1' });

    // c holds another secret: a's heartbeats (sent to c as well, by pointing a's peer at it) are forged to c.
    c.setPeer({ address: '127.0.0.1', port: addrA.port, nodeId: 'primary-1' });
    a.setPeer({ address: '127.0.0.1', port: addrC.port, nodeId: 'secondary-1' });
    const refused = await until(c, (s) => s.rejectedHeartbeats.forged >= 5, 'c refusing a');
    expect(refused.heartbeatsAccepted).toBe(0);
    expect(c.state).not.toBe('alive');
  });

  it('works with a session secret alone (e.g. exported from the TLS data channel), and never reports it in status()', async () => {
    const session = randomBytes(32);
    const a = createKeepalive({ authentication: { nodeId: 'a' } });
    const b = createKeepalive({ role: 'secondary', authentication: { nodeId: 'b' } });
    open.push(a, b);
    const [addrA, addrB] = await Promise.all([a.start(), b.start()]);
    a.setPeer({ address: '127.0.0.1', port: addrB.port, nodeId: 'b', session });
    b.setPeer({ address: '127.0.0.1', port: addrA.port, nodeId: 'a', session });
    await until(b, (s) => s.state === 'alive', 'b sees a');
    expect(b.status().peerAddress).toEqual({ address: '127.0.0.1', port: addrA.port, nodeId: 'a' });
  });

  it('sends version 2 heartbeats that verify only under the sender-to-receiver key', async () => {
    const peer = await udpSocket();
    const sender = createKeepalive({
      authentication: { nodeId: 'primary-1', secret },
      peer: { address: '127.0.0.1', port: peer.address().port, nodeId: 'secondary-1' },
    });
    open.push(sender);
    const received: Uint8Array[] = [];
    peer.on('message', (m) => received.push(new Uint8Array(m)));
    await sender.start();
    for (let i = 0; i < 400 && received.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
    const keys = deriveHeartbeatKeys({ secret, localId: 'secondary-1', peerId: 'primary-1' });
    const first = decodeHeartbeat(received[0]!, keys.receive);
    expect(first).toMatchObject({ role: 'primary', sequence: 1 });
    expect(() => decodeHeartbeat(received[0]!, keys.send)).toThrow(/MAC/);
    expect(() => decodeHeartbeat(received[0]!)).toThrow(/version/);
  });
});

describe('an authenticated receiver refuses and counts everything that is not a fresh, genuine heartbeat', () => {
  it('forged MAC, replayed datagrams, old sequences, unauthenticated and reflected heartbeats', async () => {
    const observer = createKeepalive({
      role: 'secondary',
      authentication: { nodeId: 'secondary-1', secret },
      startupTimeoutMs: 60_000,
    });
    open.push(observer);
    const { port } = await observer.start();
    const peer = await udpSocket();
    observer.setPeer({ address: '127.0.0.1', port: peer.address().port, nodeId: 'primary-1' });
    const keys = deriveHeartbeatKeys({ secret, localId: 'primary-1', peerId: 'secondary-1' });
    const genuine = (sequence: number) => encodeAuthenticatedHeartbeat(fields(sequence), keys.send);

    const recorded = [1, 2, 3].map(genuine);
    for (const bytes of recorded) await send(peer, bytes, port);
    await until(observer, (s) => s.heartbeatsAccepted === 3 && s.heartbeatsReceived === 3, 'three accepted');
    const recent = [99, 100].map(genuine);
    for (const bytes of recent) await send(peer, bytes, port);
    await until(observer, (s) => s.heartbeatsAccepted === 5, 'sequences 99 and 100 accepted');

    const forged = genuine(101).slice();
    forged[60]! ^= 0x01; // one bit of the MAC
    const tampered = genuine(102).slice();
    tampered[47]! ^= 0x01; // one bit of the progress counter
    const wrongKey = encodeAuthenticatedHeartbeat(fields(103), randomBytes(32));
    const reflected = encodeAuthenticatedHeartbeat(fields(104), keys.receive); // the observer's own direction
    const intruder = encodeAuthenticatedHeartbeat(
      fields(105),
      deriveHeartbeatKeys({ secret, localId: 'intruder', peerId: 'secondary-1' }).send,
    );
    const unauthenticated = encodeHeartbeat(fields(106));
    const attack: Array<[Uint8Array, keyof KeepaliveStatus['rejectedHeartbeats']]> = [
      [forged, 'forged'],
      [tampered, 'forged'],
      [wrongKey, 'forged'],
      [reflected, 'forged'],
      [intruder, 'forged'],
      [recent[0]!, 'replayed'], // byte-for-byte replays inside the window
      [recent[1]!, 'replayed'],
      [recorded[0]!, 'stale'], // 99 behind: outside the 64-heartbeat window
      [genuine(30), 'stale'],
      [unauthenticated, 'unauthenticated'],
    ];
    const expected = { forged: 0, replayed: 0, stale: 0, unauthenticated: 0 };
    for (const [bytes, reason] of attack) {
      await send(peer, bytes, port);
      expected[reason]++;
    }
    let s = await until(
      observer,
      (x) => Object.values(x.rejectedHeartbeats).reduce((a, b) => a + b, 0) === attack.length,
      'every attack counted',
    );
    expect(s.rejectedHeartbeats).toEqual(expected);
    expect(s.dropped.replayed).toBe(expected.replayed);
    expect(s.heartbeatsAccepted).toBe(5);

    // The genuine peer is silent from here; keep attacking (bounded) until the observer convicts it.
    for (let round = 0; round < 300 && observer.state !== 'dead'; round++) {
      const [bytes] = attack[round % attack.length]!;
      await send(peer, bytes, port);
      await new Promise((r) => setTimeout(r, 5));
    }
    s = await until(observer, (x) => x.state === 'dead', 'the silent peer convicted');
    expect(s.heartbeatsAccepted).toBe(5);
    expect(s.peer?.sequence).toBe(100);

    // Reordering inside the window is tolerated, and the next fresh genuine heartbeat counts again.
    await send(peer, genuine(98), port);
    await send(peer, genuine(101), port);
    s = await until(observer, (x) => x.state === 'alive' && x.heartbeatsAccepted === 7, 'alive again');
    expect(s.peer?.sequence).toBe(101);
  });

  it('a trusted-network receiver drops authenticated heartbeats as another version', async () => {
    const observer = createKeepalive({ role: 'secondary', startupTimeoutMs: 60_000 });
    open.push(observer);
    const { port } = await observer.start();
    const peer = await udpSocket();
    observer.setPeer({ address: '127.0.0.1', port: peer.address().port });
    await send(peer, encodeAuthenticatedHeartbeat(fields(1), randomBytes(32)), port);
    const s = await until(observer, (x) => x.dropped.version === 1, 'the drop');
    expect(s.authentication).toBe('none');
    expect(s.heartbeatsAccepted).toBe(0);
  });
});

describe('authentication options', () => {
  it('are validated, naming the option', async () => {
    expect(() => createKeepalive({ authentication: { nodeId: '' } })).toThrow(/authentication\.nodeId/);
    expect(() => createKeepalive({ authentication: { nodeId: 'a', secret: new Uint8Array(8) } })).toThrow(
      /authentication\.secret/,
    );
    expect(() => createKeepalive({ authentication: 'secret' as never })).toThrow(/authentication/);
    expect(() =>
      createKeepalive({ authentication: { nodeId: 'a', secret }, peer: { address: '127.0.0.1', port: 9 } }),
    ).toThrow(/peer\.nodeId/);
    expect(() =>
      createKeepalive({
        authentication: { nodeId: 'a' },
        peer: { address: '127.0.0.1', port: 9, nodeId: 'b' },
      }),
    ).toThrow(/peer\.session/);
    expect(() =>
      createKeepalive({
        authentication: { nodeId: 'a', secret },
        peer: { address: '127.0.0.1', port: 9, nodeId: 'a' },
      }),
    ).toThrow(/must differ/);
    expect(() =>
      createKeepalive({ peer: { address: '127.0.0.1', port: 9, session: new Uint8Array(4) } }),
    ).toThrow(/peer\.session/);
    const k = createKeepalive({ authentication: { nodeId: 'a', secret } });
    open.push(k);
    expect(() => k.setPeer({ address: '127.0.0.1', port: 9 })).toThrow(/nodeId is required/);
    // Nothing is sent or accepted before the peer's keys are known.
    await k.start();
    await new Promise((r) => setTimeout(r, 60));
    expect(k.status().heartbeatsSent).toBe(0);
  });
});
