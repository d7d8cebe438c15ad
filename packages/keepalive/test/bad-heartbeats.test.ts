import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import {
  crc32,
  createKeepalive,
  decodeHeartbeat,
  encodeHeartbeat,
  type Heartbeat,
  type Keepalive,
  type KeepaliveStatus,
} from '../src/index.js';

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const thing of open.splice(0)) await thing.close();
});

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

async function until(k: Keepalive, done: (s: KeepaliveStatus) => boolean): Promise<KeepaliveStatus> {
  for (let i = 0; i < 400; i++) {
    const s = k.status();
    if (done(s)) return s;
    await new Promise((r) => setTimeout(r, 5));
  }
  return k.status();
}

function heartbeat(sequence: number, fields: Partial<Heartbeat> = {}): Uint8Array {
  return encodeHeartbeat({
    role: 'primary',
    goodbye: false,
    incarnation: 4242,
    intervalMs: 20,
    sequence,
    senderTimeMs: performance.now(),
    epoch: 1,
    progress: sequence,
    ...fields,
  });
}

describe('bad heartbeats are counted and ignored', () => {
  it('wrong size, magic, version, checksum, field, replay and unknown source', async () => {
    const observer = createKeepalive({ role: 'secondary', startupTimeoutMs: 60_000 });
    open.push(observer);
    const { port } = await observer.start();
    const peer = await udpSocket();
    const stranger = await udpSocket();
    observer.setPeer({ address: '127.0.0.1', port: peer.address().port });

    for (let seq = 1; seq <= 3; seq++) await send(peer, heartbeat(seq), port);
    await until(observer, (s) => s.heartbeatsAccepted === 3 && s.heartbeatsReceived === 3);

    await send(peer, heartbeat(4).subarray(0, 51), port);
    await send(peer, new Uint8Array(60), port);
    const badMagic = heartbeat(4).slice();
    badMagic[0] = 0x00;
    await send(peer, badMagic, port);
    const v2 = heartbeat(4).slice();
    v2[4] = 2;
    new DataView(v2.buffer).setUint32(48, crc32(v2, 0, 48));
    await send(peer, v2, port);
    const corrupted = heartbeat(4).slice();
    corrupted[20] = (corrupted[20] ?? 0) ^ 0x01;
    await send(peer, corrupted, port);
    const badRole = heartbeat(4).slice();
    badRole[5] = 9;
    new DataView(badRole.buffer).setUint32(48, crc32(badRole, 0, 48));
    await send(peer, badRole, port);
    await send(peer, heartbeat(2), port); // replay
    await send(peer, heartbeat(3), port); // replay
    await send(stranger, heartbeat(4), port); // valid, but from the wrong address

    const s = await until(observer, (x) => x.dropped.unknownSource === 1 && x.dropped.replayed === 2);
    expect(s.dropped).toEqual({
      size: 2,
      magic: 1,
      version: 1,
      checksum: 1,
      field: 1,
      replayed: 2,
      unknownSource: 1,
    });
    expect(s.heartbeatsAccepted).toBe(3);
    expect(s.heartbeatsReceived).toBe(3);
    expect(s.peer?.sequence).toBe(3);

    // None of it counted as life: the peer, silent since its third heartbeat, is convicted.
    await until(observer, (x) => x.state === 'dead');
    expect(observer.state).toBe('dead');

    // The next genuine heartbeat is accepted again.
    await send(peer, heartbeat(4), port);
    const after = await until(observer, (x) => x.state === 'alive');
    expect(after.heartbeatsAccepted).toBe(4);
  });

  it('sends decodable heartbeats carrying role, epoch, incarnation and progress', async () => {
    const peer = await udpSocket();
    const sender = createKeepalive({
      role: 'witness',
      epoch: 12,
      peer: { address: '127.0.0.1', port: peer.address().port },
    });
    open.push(sender);
    const received: Heartbeat[] = [];
    peer.on('message', (m) => received.push(decodeHeartbeat(m)));
    await sender.start();
    for (let i = 0; i < 200 && received.length < 5; i++) await new Promise((r) => setTimeout(r, 5));
    sender.setEpoch(13);
    sender.setRole('primary');
    const mark = received.length;
    for (let i = 0; i < 200 && received.length < mark + 3; i++) await new Promise((r) => setTimeout(r, 5));
    const first = received[0]!;
    expect(first).toMatchObject({ role: 'witness', epoch: 12, sequence: 1, intervalMs: 20, goodbye: false });
    expect(first.incarnation).toBe(sender.status().incarnation);
    expect(received.map((h) => h.sequence)).toEqual(received.map((_, i) => i + 1));
    expect(received.at(-1)).toMatchObject({ role: 'primary', epoch: 13 });
    // The main loop ticks every 5 ms, so progress moves between heartbeats.
    expect(received.at(-1)!.progress).toBeGreaterThan(first.progress);
  });
});
