import { connect } from '@microcheckpoint/transport-tcp';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevice, type Device, tcpFabric, WireProtocolError } from '../src/index.js';
import {
  decodeBatch,
  decodeHello,
  ENTRY_HEADER_BYTES,
  type EntryHeader,
  encodeEntryHeader,
  encodeHello,
  FRAME_BATCH,
  FRAME_HELLO,
} from '../src/nic/tcp-codec.js';
import { parseTcpAddress } from '../src/nic/tcp-fabric.js';
import { packRecvWqes, packSendWqes, unpackRecvWqes, unpackSendWqes } from '../src/nic/wqe-codec.js';
import { collect, connectPair, sleep } from './helpers/pair.js';

const header = fc.record({
  kind: fc.constantFrom(1, 2),
  op: fc.integer({ min: 0, max: 4 }),
  flags: fc.integer({ min: 0, max: 3 }),
  dstQp: fc.integer({ min: 0, max: 0xffff_ffff }),
  srcQp: fc.integer({ min: 0, max: 0xffff_ffff }),
  psn: fc.integer({ min: 0, max: 0xff_ffff }),
  rkey: fc.integer({ min: 0, max: 0xffff_ffff }),
  imm: fc.integer({ min: 0, max: 0xffff_ffff }),
  fragmentLength: fc.integer({ min: 0, max: 64 }),
  extra: fc.integer({ min: 0, max: 1000 }),
  rnrDelayUs: fc.integer({ min: 0, max: 0xffff_ffff }),
  remoteAddr: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
});

type HeaderSample = typeof header extends fc.Arbitrary<infer T> ? T : never;

function entry(h: HeaderSample): { header: EntryHeader; data: Uint8Array } {
  const isReadRequest = h.kind === 1 && h.op === 4;
  const fragmentLength = isReadRequest ? 0 : h.fragmentLength;
  const data = new Uint8Array(fragmentLength).map((_, i) => (i * 7 + h.imm) & 0xff);
  return {
    header: {
      kind: h.kind,
      op: h.op,
      flags: h.flags,
      dstQp: h.dstQp,
      srcQp: h.srcQp,
      psn: h.psn,
      rkey: h.rkey,
      imm: h.imm,
      length: fragmentLength + h.extra,
      fragmentOffset: h.extra,
      fragmentLength,
      rnrDelayUs: h.rnrDelayUs,
      remoteAddr: h.remoteAddr,
    },
    data,
  };
}

function batch(entries: Array<{ header: EntryHeader; data: Uint8Array }>): Uint8Array {
  const parts = entries.flatMap((e) => [encodeEntryHeader(e.header), e.data]);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('TCP fabric wire format', () => {
  it('decodes every batch it encodes, with data as views into the frame', () => {
    fc.assert(
      fc.property(fc.array(header, { maxLength: 8 }), (headers) => {
        const entries = headers.map(entry);
        const bytes = batch(entries);
        const decoded = decodeBatch(bytes);
        expect(decoded.map((d) => d.header)).toEqual(entries.map((e) => e.header));
        for (const [i, d] of decoded.entries()) {
          expect([...d.data]).toEqual([...entries[i]!.data]);
          if (d.data.length > 0) expect(d.data.buffer).toBe(bytes.buffer);
        }
      }),
    );
  });

  it('refuses truncated or corrupted batches with WireProtocolError only', () => {
    fc.assert(
      fc.property(
        fc.array(header, { minLength: 1, maxLength: 4 }),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.boolean(),
        (headers, where, value, truncate) => {
          const bytes = batch(headers.map(entry));
          const damaged = truncate ? bytes.subarray(0, where % bytes.length) : bytes.slice();
          if (!truncate) damaged[where % damaged.length] = value;
          try {
            decodeBatch(damaged);
          } catch (err) {
            expect(err).toBeInstanceOf(WireProtocolError);
            expect((err as WireProtocolError).code).toBe('MC_ERR_RDMA_WIRE');
          }
        },
      ),
    );
    expect(() => decodeBatch(new Uint8Array(ENTRY_HEADER_BYTES - 1))).toThrow(/truncated/);
    const lying = encodeEntryHeader({
      ...entry(fc.sample(header, 1)[0]!).header,
      fragmentLength: 10,
      length: 10,
      fragmentOffset: 0,
      kind: 1,
      op: 2,
    });
    expect(() => decodeBatch(lying)).toThrow(/entry data truncated/);
  });

  it('names the connecting NIC in HELLO and refuses anything else', () => {
    expect(decodeHello(encodeHello('tcp://10.0.0.1:4791'))).toBe('tcp://10.0.0.1:4791');
    expect(() => decodeHello(new TextEncoder().encode('GET / HTTP/1.1'))).toThrow(WireProtocolError);
    expect(() => decodeHello(new Uint8Array([0xff, 0xfe]))).toThrow(WireProtocolError);
    expect(() => decodeHello(new Uint8Array(5000))).toThrow(WireProtocolError);
  });

  it('parses fabric addresses', () => {
    expect(parseTcpAddress('tcp://127.0.0.1:4791')).toEqual({ host: '127.0.0.1', port: 4791 });
    expect(parseTcpAddress('tcp://[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(() => parseTcpAddress('shm://default/1.2')).toThrow(WireProtocolError);
    expect(() => parseTcpAddress('tcp://host')).toThrow(WireProtocolError);
  });
});

describe('work requests crossing to the NIC thread', () => {
  it('unpack to exactly what was packed', () => {
    const sge = fc.tuple(
      fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      fc.nat({ max: 2 ** 31 }),
      fc.nat({ max: 0xffff_ffff }),
    );
    const send = fc.record({
      index: fc.nat(),
      wrId: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      op: fc.integer({ min: 0, max: 4 }),
      signaled: fc.boolean(),
      sges: fc.array(sge, { maxLength: 4 }).map((list) => list.flat()),
      inline: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: null }),
      length: fc.nat(),
      remoteAddr: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      rkey: fc.nat({ max: 0xffff_ffff }),
      imm: fc.nat({ max: 0xffff_ffff }),
    });
    fc.assert(
      fc.property(fc.array(send, { maxLength: 6 }), (wqes) => {
        expect(unpackSendWqes(packSendWqes(wqes))).toEqual(wqes);
      }),
    );
    const recv = fc.record({
      index: fc.nat(),
      wrId: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      sges: fc.array(sge, { maxLength: 4 }).map((list) => list.flat()),
    });
    fc.assert(
      fc.property(fc.array(recv, { maxLength: 6 }), (wqes) => {
        expect(unpackRecvWqes(packRecvWqes(wqes))).toEqual(wqes);
      }),
    );
  });
});

describe('a TCP-fabric NIC facing a foreign peer', () => {
  let devA: Device;
  let devB: Device;
  beforeAll(async () => {
    [devA, devB] = await Promise.all([
      createDevice({ fabric: tcpFabric() }),
      createDevice({ fabric: tcpFabric() }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([devA.close(), devB.close()]);
  });

  const attacks: Array<[string, Array<[number, Uint8Array]>]> = [
    ['a batch before HELLO', [[FRAME_BATCH, new Uint8Array(ENTRY_HEADER_BYTES)]]],
    ['a HELLO that is not one', [[FRAME_HELLO, new TextEncoder().encode('hello?')]]],
    [
      'an unknown frame type',
      [
        [FRAME_HELLO, encodeHello('tcp://127.0.0.1:1')],
        [77, new Uint8Array(3)],
      ],
    ],
    [
      'a corrupt batch',
      [
        [FRAME_HELLO, encodeHello('tcp://127.0.0.1:1')],
        [FRAME_BATCH, new Uint8Array(ENTRY_HEADER_BYTES).fill(0xff)],
      ],
    ],
    [
      'a fragment continuing nothing',
      [
        [FRAME_HELLO, encodeHello('tcp://127.0.0.1:1')],
        [
          FRAME_BATCH,
          encodeEntryHeader({
            kind: 1,
            op: 2,
            flags: 2,
            dstQp: 1,
            srcQp: 1,
            psn: 0,
            rkey: 0,
            imm: 0,
            length: 8,
            fragmentOffset: 4,
            fragmentLength: 0,
            rnrDelayUs: 0,
            remoteAddr: 0,
          }),
        ],
      ],
    ],
  ];

  it.each(attacks)('drops the connection on %s and keeps serving its queue pairs', async (_name, frames) => {
    const pair = connectPair(devA, devB, { recvB: 1 });
    const { host, port } = parseTcpAddress(devB.address);
    const channel = await connect({ host, port });
    const closed = new Promise<void>((resolve) => channel.once('close', () => resolve()));
    channel.on('error', () => {});
    channel.on('message', () => {});
    try {
      for (const [type, payload] of frames) channel.send(type, payload);
      await Promise.race([
        closed,
        sleep(5000).then(() => Promise.reject(new Error('NIC kept the connection'))),
      ]);
      pair.a.mr.buffer.fill(3, 0, 32);
      pair.a.qp.postSend({
        wrId: 1,
        opcode: 'RDMA_WRITE_WITH_IMM',
        sgList: [pair.a.mr.sge(0, 32)],
        remoteAddr: pair.b.mr.addr,
        rkey: pair.b.mr.rkey,
        imm: 5,
        signaled: true,
      });
      expect((await collect(pair.b.cq, 1))[0]).toMatchObject({ status: 'SUCCESS', imm: 5 });
      expect(pair.b.mr.buffer.subarray(0, 32).every((x) => x === 3)).toBe(true);
    } finally {
      channel.destroy();
      pair.dispose();
    }
  });
});
