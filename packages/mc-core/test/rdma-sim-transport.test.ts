import { connect, createServer } from '@microcheckpoint/transport-tcp';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { InProcessArbiter } from '../src/arbiter/in-process.js';
import type { ChannelMessage, MessageChannel } from '../src/engine/channel.js';
import { nextPlacement, RingSpace } from '../src/engine/rdma-ring.js';
import type { RdmaPlacingChannel, RdmaRingChannel } from '../src/engine/rdma-sim-channel.js';
import {
  decodeRdmaFrame,
  encodeRdmaFrame,
  RDMA_FRAME_TYPES,
  RDMA_LINK_VERSION,
  type RdmaFrame,
} from '../src/engine/rdma-sim-frames.js';
import { acceptRdmaSim, connectRdmaSim } from '../src/engine/rdma-sim-link.js';
import { InvalidOptionError } from '../src/errors.js';
import { createGuestMemory } from '../src/guest-memory.js';
import { createWorkerGuest } from '../src/guests/worker.js';
import { decodeMessage, MESSAGE_TYPES } from '../src/protocol/messages.js';
import {
  FieldRangeError,
  HandshakeError,
  MalformedMessageError,
  TruncatedMessageError,
} from '../src/protocol/protocol-errors.js';
import { type FieldSink, Sizer, Writer } from '../src/protocol/wire.js';
import { cleanups, makePrimary, runCleanups, startSecondary, until } from './engine-helpers.js';
import { xorshift } from './helpers.js';

afterEach(runCleanups);

const RDMA = { kind: 'rdma-sim' } as const;

const frameArbitrary: fc.Arbitrary<RdmaFrame> = fc.oneof(
  fc.record({
    kind: fc.constant('CONNECT' as const),
    version: fc.integer({ min: 0, max: 0xffff }),
    nicAddress: fc.string({ minLength: 1, maxLength: 60 }),
    qpNum: fc.nat({ max: 0xffff_ffff }),
    maxFrameBytes: fc.nat({ max: 0xffff_ffff }),
  }),
  fc.record({
    kind: fc.constant('ACCEPT' as const),
    nicAddress: fc.string({ minLength: 1, maxLength: 60 }),
    qpNum: fc.nat({ max: 0xffff_ffff }),
    ringAddr: fc.maxSafeNat(),
    ringBytes: fc.nat({ max: 0xffff_ffff }),
    ringRkey: fc.nat({ max: 0xffff_ffff }),
  }),
  fc.record({
    kind: fc.constant('PLACED' as const),
    sequence: fc.nat({ max: 0xffff_ffff }),
    frameType: fc.nat({ max: 0xff }),
    offset: fc.nat({ max: 0xffff_ffff }),
    length: fc.nat({ max: 0xffff_ffff }),
    releaseMark: fc.maxSafeNat(),
  }),
  fc.record({ kind: fc.constant('RELEASE' as const), releaseMark: fc.maxSafeNat() }),
);

describe('RDMA link frames', () => {
  it('round-trip every field', () => {
    fc.assert(
      fc.property(frameArbitrary, (frame) => {
        const { type, payload } = encodeRdmaFrame(frame);
        expect(decodeRdmaFrame(type, payload)).toEqual(frame);
      }),
    );
  });

  it('reject truncated and padded frames with typed errors, never a wrong frame', () => {
    fc.assert(
      fc.property(
        frameArbitrary,
        fc.nat(),
        fc.uint8Array({ minLength: 1, maxLength: 8 }),
        (frame, cut, pad) => {
          const { type, payload } = encodeRdmaFrame(frame);
          const short = payload.subarray(0, cut % payload.byteLength);
          expect(() => decodeRdmaFrame(type, short)).toThrow(
            expect.objectContaining({
              code: expect.stringMatching(/^MC_ERR_PROTOCOL_(TRUNCATED|MALFORMED)$/),
            }),
          );
          const long = new Uint8Array([...payload, ...pad]);
          expect(() => decodeRdmaFrame(type, long)).toThrow(
            expect.objectContaining({ code: 'MC_ERR_PROTOCOL_MALFORMED' }),
          );
        },
      ),
    );
  });

  it('refuse every strict prefix as truncated and any trailing bytes as malformed', () => {
    fc.assert(
      fc.property(frameArbitrary, fc.uint8Array({ minLength: 1, maxLength: 16 }), (frame, pad) => {
        const { type, payload } = encodeRdmaFrame(frame);
        for (let cut = 0; cut < payload.byteLength; cut++)
          expect(() => decodeRdmaFrame(type, payload.subarray(0, cut))).toThrow(TruncatedMessageError);
        const long = new Uint8Array([...payload, ...pad]);
        expect(() => decodeRdmaFrame(type, long)).toThrow(MalformedMessageError);
      }),
    );
  });

  it('carry NIC addresses of 1..1024 bytes of UTF-8 and refuse empty or longer ones both ways', () => {
    const accept = (nicAddress: string): RdmaFrame => ({
      kind: 'ACCEPT',
      nicAddress,
      qpNum: 1,
      ringAddr: 2,
      ringBytes: 3,
      ringRkey: 4,
    });
    // Two bytes a character: the limit counts bytes, not characters.
    const longest = 'é'.repeat(512);
    const { type, payload } = encodeRdmaFrame(accept(longest));
    expect(decodeRdmaFrame(type, payload)).toEqual(accept(longest));
    for (const bad of ['', `${longest}a`])
      expect(() => encodeRdmaFrame(accept(bad))).toThrow(FieldRangeError);
    // The same frames written without the encoder's check, as a peer that skips it would send them.
    for (const bad of ['', `${longest}a`, 'x'.repeat(5000)]) {
      const fields = (sink: FieldSink) => {
        sink.u16('version', RDMA_LINK_VERSION);
        sink.u32('qpNum', 1);
        sink.u32('maxFrameBytes', 4096);
        sink.text('nicAddress', bad);
      };
      const sizer = new Sizer();
      fields(sizer);
      const writer = new Writer(sizer.headBytes);
      fields(writer);
      expect(() => decodeRdmaFrame(RDMA_FRAME_TYPES.CONNECT, writer.head)).toThrow(MalformedMessageError);
    }
  });

  it('reject unknown types and out-of-range fields', () => {
    expect(() => decodeRdmaFrame(0xf7, new Uint8Array(8))).toThrow(
      expect.objectContaining({ code: 'MC_ERR_PROTOCOL_UNKNOWN_TYPE' }),
    );
    expect(() => encodeRdmaFrame({ kind: 'RELEASE', releaseMark: -1 })).toThrow(
      expect.objectContaining({ code: 'MC_ERR_PROTOCOL_RANGE' }),
    );
    // A release mark beyond 2^53 cannot be a real ring position.
    const huge = new Uint8Array(8).fill(0xff);
    expect(() => decodeRdmaFrame(0xf3, huge)).toThrow(
      expect.objectContaining({ code: 'MC_ERR_PROTOCOL_RANGE' }),
    );
  });
});

describe('the receive ring', () => {
  it('never hands out bytes still in use, whatever the order of frames and releases', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4096 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 4096 })), { maxLength: 200 }),
        (ringBytes, steps) => {
          const ring = new RingSpace(ringBytes);
          const live: Array<{ offset: number; end: number; mark: number }> = [];
          for (const [release, size] of steps) {
            if (release && live.length > 0) {
              ring.release(live.shift()!.mark);
              continue;
            }
            const bytes = Math.min(size, ringBytes);
            const placement = ring.reserve(bytes);
            if (placement === null) {
              expect(live.length).toBeGreaterThan(0);
              continue;
            }
            const end = placement.offset + bytes;
            expect(end).toBeLessThanOrEqual(ringBytes);
            for (const other of live) expect(end <= other.offset || placement.offset >= other.end).toBe(true);
            live.push({ offset: placement.offset, end, mark: placement.mark });
            expect(ring.usedBytes).toBeLessThanOrEqual(ringBytes);
          }
        },
      ),
    );
  });

  it('agree with the placement both sides compute, and refuse releases outside what was reserved', () => {
    const ring = new RingSpace(100);
    expect(ring.reserve(60)).toEqual(nextPlacement(0, 60, 100));
    expect(ring.reserve(50)).toBeNull();
    expect(() => ring.release(61)).toThrow(expect.objectContaining({ code: 'MC_ERR_INVALID_ARGUMENT' }));
    ring.release(60);
    expect(ring.reserve(50)).toEqual({ offset: 0, mark: 150 });
    expect(() => ring.release(60)).toThrow(expect.objectContaining({ code: 'MC_ERR_INVALID_ARGUMENT' }));
    expect(() => ring.reserve(101)).toThrow(expect.objectContaining({ code: 'MC_ERR_INVALID_ARGUMENT' }));
  });
});

/** Both ends of a real TCP control channel on loopback. */
async function controlPair(): Promise<{ control: MessageChannel; serverSide: MessageChannel }> {
  const server = createServer({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => server.close());
  const accepted = new Promise<MessageChannel>((resolve) =>
    server.once('channel', (c) => resolve(c as MessageChannel)),
  );
  const { port } = await server.listen();
  const control = (await connect({ host: '127.0.0.1', port })) as unknown as MessageChannel;
  cleanups.push(() => control.destroy());
  return { control, serverSide: await accepted };
}

/** A control channel pair, then the RDMA link set up over it. */
async function linkPair(ringBytes: number, maxFrameBytes: number, guestBuffer: SharedArrayBuffer) {
  const { control, serverSide } = await controlPair();
  const [placing, ring] = await Promise.all([
    connectRdmaSim(control, { transport: RDMA, guestBuffer, maxFrameBytes, timeoutMs: 10_000 }),
    acceptRdmaSim(serverSide, { transport: { ...RDMA, ringBytes }, timeoutMs: 10_000 }),
  ]);
  cleanups.push(() => placing.close());
  cleanups.push(() => ring.close());
  return {
    control,
    serverSide,
    placing: placing as RdmaPlacingChannel,
    ring: ring as RdmaRingChannel,
  };
}

function closeError(channel: MessageChannel): Promise<Error | undefined> {
  return new Promise((resolve) => channel.on('close', resolve));
}

describe('the RDMA-semantics channel', () => {
  it('deliver page frames written one-sided and control frames in the order they were sent, through ring wrap-around and backpressure', async () => {
    const guest = new SharedArrayBuffer(4 << 20);
    new Uint8Array(guest).forEach((_, i, a) => {
      a[i] = (i * 31 + 7) & 255;
    });
    const { placing, ring } = await linkPair(1 << 20, 300_000, guest);
    const random = xorshift(11);
    const sent: Array<{ type: number; bytes: Buffer }> = [];
    const received: Array<{ type: number; bytes: Buffer }> = [];
    ring.on('message', (m: ChannelMessage) => received.push({ type: m.type, bytes: Buffer.from(m.payload) }));
    let waits = 0;
    for (let i = 0; i < 300; i++) {
      const kind = random() % 3;
      const type =
        kind === 0 ? MESSAGE_TYPES.ACK : kind === 1 ? MESSAGE_TYPES.CKPT_PAGES : MESSAGE_TYPES.SYNC_PAGES;
      // A header outside guest memory (bounced), then views of guest memory (written in place).
      const header = new Uint8Array(1 + (random() % 40)).map(() => random() & 255);
      const parts: Uint8Array[] = [header];
      const views = type === MESSAGE_TYPES.ACK ? 0 : 1 + (random() % 3);
      for (let v = 0; v < views; v++) {
        const length = random() % 90_000;
        const at = random() % (guest.byteLength - length);
        parts.push(new Uint8Array(guest, at, length));
      }
      sent.push({ type, bytes: Buffer.concat(parts) });
      if (!placing.send(type, parts)) {
        waits++;
        await new Promise((resolve) => placing.once('drain', resolve));
      }
    }
    await until(() => received.length === sent.length, 30_000, 'every frame delivered');
    expect(received.map((r) => r.type)).toEqual(sent.map((s) => s.type));
    for (const [i, r] of received.entries()) expect(r.bytes.equals(sent[i]!.bytes), `frame ${i}`).toBe(true);
    expect(placing.stats.placedFrames).toBeGreaterThan(100);
    expect(ring.stats.placedFrames).toBe(placing.stats.placedFrames);
    expect(placing.stats.placedBytes).toBeGreaterThan(placing.stats.bouncedBytes);
    expect(waits).toBeGreaterThan(0);
  });

  it('end the link with a typed error when a doorbell lies about where a frame landed; nothing is delivered', async () => {
    const guest = new SharedArrayBuffer(1 << 16);
    const { control, ring } = await linkPair(1 << 16, 8192, guest);
    const delivered: ChannelMessage[] = [];
    ring.on('message', (m: ChannelMessage) => delivered.push(m));
    const closed = closeError(ring);
    const { type, payload } = encodeRdmaFrame({
      kind: 'PLACED',
      sequence: 0,
      frameType: MESSAGE_TYPES.CKPT_PAGES,
      offset: 4096,
      length: 100,
      releaseMark: 4196,
    });
    control.send(type, [payload]);
    expect(await closed).toMatchObject({ code: 'MC_ERR_PROTOCOL_MALFORMED' });
    expect(delivered).toEqual([]);
  });

  it('refuse a doorbell for a frame type that is never placed, and one out of sequence', async () => {
    for (const forged of [
      { sequence: 0, frameType: MESSAGE_TYPES.CKPT_END },
      { sequence: 5, frameType: MESSAGE_TYPES.CKPT_PAGES },
    ]) {
      const { control, ring } = await linkPair(1 << 16, 8192, new SharedArrayBuffer(4096));
      const closed = closeError(ring);
      const { type, payload } = encodeRdmaFrame({
        kind: 'PLACED',
        offset: 0,
        length: 10,
        releaseMark: 10,
        ...forged,
      });
      control.send(type, [payload]);
      expect(await closed).toMatchObject({ code: 'MC_ERR_PROTOCOL_MALFORMED' });
    }
  });

  it('refuse a primary of another link version at connect, telling it why, whatever its layout', async () => {
    // Version 1 was big-endian: version, qpNum, maxFrameBytes, address length, address.
    const address = new TextEncoder().encode('127.0.0.1:4791');
    const v1 = new Uint8Array(12 + address.byteLength);
    const view = new DataView(v1.buffer);
    view.setUint16(0, 1);
    view.setUint32(2, 7);
    view.setUint32(6, 4096);
    view.setUint16(10, address.byteLength);
    v1.set(address, 12);
    const v3 = encodeRdmaFrame({
      kind: 'CONNECT',
      version: RDMA_LINK_VERSION + 1,
      nicAddress: '127.0.0.1:4791',
      qpNum: 7,
      maxFrameBytes: 4096,
    }).payload;
    for (const [payload, seen] of [
      [v1, 256],
      [v3, RDMA_LINK_VERSION + 1],
    ] as const) {
      const { control, serverSide } = await controlPair();
      const answer = new Promise<ChannelMessage>((resolve) => control.on('message', resolve));
      const accepted = acceptRdmaSim(serverSide, { transport: RDMA, timeoutMs: 10_000 });
      control.send(RDMA_FRAME_TYPES.CONNECT, [payload]);
      const detail = `RDMA link version ${seen}; this secondary speaks ${RDMA_LINK_VERSION}`;
      await expect(accepted).rejects.toThrow(HandshakeError);
      await expect(accepted).rejects.toThrow(detail);
      const error = await answer;
      expect(decodeMessage(error.type, error.payload)).toEqual({
        kind: 'ERROR',
        code: 'MC_ERR_PROTOCOL_HANDSHAKE',
        detail,
      });
    }
  });

  it('refuse a primary whose frames cannot fit the ring, telling it why', async () => {
    const { control, serverSide } = await controlPair();
    const [primary, secondary] = await Promise.allSettled([
      connectRdmaSim(control, {
        transport: RDMA,
        guestBuffer: new SharedArrayBuffer(4096),
        maxFrameBytes: 1 << 20,
        timeoutMs: 10_000,
      }),
      acceptRdmaSim(serverSide, { transport: { ...RDMA, ringBytes: 1 << 16 }, timeoutMs: 10_000 }),
    ]);
    expect(secondary).toMatchObject({ status: 'rejected', reason: { code: 'MC_ERR_PROTOCOL_HANDSHAKE' } });
    expect(primary).toMatchObject({
      status: 'rejected',
      reason: { code: 'MC_ERR_PROTOCOL_HANDSHAKE', message: expect.stringMatching(/do not fit/) },
    });
  });
});

describe('primary and secondary over the RDMA-semantics transport', () => {
  it("protect a worker that never stops: after each commit the secondary's image is the primary's at that capture", async () => {
    const SIZE = 1 << 20;
    const arbiter = new InProcessArbiter();
    const { secondary, port } = await startSecondary({
      arbiter,
      transport: { kind: 'rdma-sim', ringBytes: 4 << 20 },
    });
    const memory = createGuestMemory({ sizeBytes: SIZE });
    const guest = createWorkerGuest({
      memory,
      module: new URL('./fixtures/paced-writer.ts', import.meta.url),
      data: { mode: 'api', seed: 3 },
      output: () => undefined,
    });
    cleanups.push(() => guest.close());
    const primary = makePrimary(guest, () => undefined, port, arbiter, { epochMs: 5, transport: RDMA });
    const snapshots = new Map<number, Buffer>();
    primary.on('capture', ({ epoch }) => snapshots.set(epoch, Buffer.from(memory.bytes)));
    const image = new Uint8Array(SIZE);
    const mismatches: number[] = [];
    let commits = 0;
    secondary.on('commit', ({ epoch }) => {
      commits++;
      secondary.materialize(image);
      const expected = snapshots.get(epoch);
      if (expected === undefined || !expected.equals(image)) mismatches.push(epoch);
      snapshots.delete(epoch);
    });
    await primary.start();
    await until(() => commits >= 25, 30_000, '25 commits');
    expect(mismatches).toEqual([]);
    expect(primary.status().checkpointBytes.max).toBeGreaterThan(0);
    await primary.close();
    await until(() => secondary.state === 'stopped', 5000, 'secondary stopped');
  });

  it('refuse a primary on TCP at a secondary on rdma-sim with a typed error, and validate the option', async () => {
    const arbiter = new InProcessArbiter();
    const { port } = await startSecondary({ arbiter, transport: RDMA, attachTimeoutMs: 1500 });
    const memory = createGuestMemory({ sizeBytes: 1 << 20 });
    const guest = createWorkerGuest({
      memory,
      module: new URL('./fixtures/paced-writer.ts', import.meta.url),
      data: { mode: 'api', seed: 1 },
      output: () => undefined,
    });
    cleanups.push(() => guest.close());
    const primary = makePrimary(guest, () => undefined, port, arbiter, { attachTimeoutMs: 1500 });
    await expect(primary.start()).rejects.toMatchObject({ code: expect.stringMatching(/^MC_ERR_/) });
    expect(() =>
      makePrimary(guest, () => undefined, port, arbiter, { transport: { kind: 'infiniband' } as never }),
    ).toThrow(InvalidOptionError);
    expect(() =>
      makePrimary(guest, () => undefined, port, arbiter, {
        transport: { kind: 'rdma-sim', advertiseHost: '0.0.0.0' },
      }),
    ).toThrow(/advertiseHost/);
  });
});
