import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  encodeMessage,
  type McMessage,
  MESSAGE_TYPES,
  type WirePageRun,
} from '../src/protocol/messages.js';
import { ProtocolError } from '../src/protocol/protocol-errors.js';

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u64 = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.maxSafeNat());
const text = fc.string({ maxLength: 40, unit: 'grapheme' });

const pagesArb = <K extends 'SYNC_PAGES' | 'CKPT_PAGES'>(kind: K) =>
  fc
    .array(
      fc.record({
        firstPage: fc.integer({ min: 0, max: 1 << 20 }),
        pageCount: fc.integer({ min: 1, max: 64 }),
        data: fc.uint8Array({ maxLength: 64 }),
      }),
      { maxLength: 8 },
    )
    .chain((runs) =>
      fc.record({
        kind: fc.constant(kind),
        sequence: u64,
        codec: u8,
        runs: fc.constant(
          runs.map<WirePageRun>((r) => ({
            firstPage: r.firstPage,
            pageCount: r.pageCount,
            encodedBytes: r.data.length,
          })),
        ),
        data: fc.constant(runs.map((r) => r.data)),
      }),
    );

const messageArb: fc.Arbitrary<McMessage> = fc.oneof(
  fc.record({
    kind: fc.constant('HELLO' as const),
    protocolVersion: u16,
    role: u8,
    capabilities: u32,
    pageSize: u32,
    pageCount: u32,
    memoryBudgetBytes: u64,
    maxCheckpointBytes: u64,
    maxInFlight: u8,
    fencingToken: u64,
    committedEpoch: u64,
    generation: u64,
    heartbeatPort: u16,
    nodeId: text,
  }),
  fc.record({ kind: fc.constant('SYNC_BEGIN' as const), pass: u32, fencingToken: u64, pageCount: u32 }),
  pagesArb('SYNC_PAGES'),
  fc.record({ kind: fc.constant('SYNC_END' as const), pass: u32, final: u8, pagesSent: u32 }),
  fc.record({ kind: fc.constant('SYNC_ACK' as const), pass: u32, pagesReceived: u32 }),
  fc.record({
    kind: fc.constant('CKPT_BEGIN' as const),
    epoch: u64,
    fencingToken: u64,
    pageCount: u32,
    dataBytes: u64,
  }),
  pagesArb('CKPT_PAGES'),
  fc.record({
    kind: fc.constant('CKPT_OUTPUT' as const),
    epoch: u64,
    batch: fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 3 }),
  }),
  fc.record({ kind: fc.constant('CKPT_END' as const), epoch: u64, pageCount: u32, checksum: u32 }),
  fc.record({ kind: fc.constant('ACK' as const), epoch: u64, fencingToken: u64 }),
  fc.record({ kind: fc.constant('NACK' as const), epoch: u64, reason: u16, detail: text }),
  fc.record({ kind: fc.constant('BUDGET' as const), memoryBudgetBytes: u64, maxCheckpointBytes: u64 }),
  fc.record({ kind: fc.constant('GOODBYE' as const), reason: u16, detail: text }),
  fc.record({ kind: fc.constant('ERROR' as const), code: text, detail: text }),
  fc.record({ kind: fc.constant('HANDOVER' as const), epoch: u64, fencingToken: u64, generation: u64 }),
);

function join(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.byteLength;
  }
  return out;
}

/** The message with its bulk parts joined, which is how a decoded message presents them. */
function normalized(message: McMessage): unknown {
  if (message.kind === 'SYNC_PAGES' || message.kind === 'CKPT_PAGES') {
    return { ...message, data: [...join(message.data)] };
  }
  if (message.kind === 'CKPT_OUTPUT') return { ...message, batch: [...join(message.batch)] };
  return message;
}

describe('MC protocol messages', () => {
  it('round-trip every message kind with any field values', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        const { type, parts } = encodeMessage(message);
        expect(type).toBe(MESSAGE_TYPES[message.kind]);
        expect(normalized(decodeMessage(type, join(parts)))).toEqual(normalized(message));
      }),
      { numRuns: 2000 },
    );
  });

  it('pass bulk data through without copying it on encode', () => {
    const data = new Uint8Array(4096).fill(9);
    const { parts } = encodeMessage({
      kind: 'CKPT_PAGES',
      sequence: 5,
      codec: 0,
      runs: [{ firstPage: 3, pageCount: 1, encodedBytes: 4096 }],
      data: [data],
    });
    expect(parts[1]).toBe(data);
  });

  it('refuse every truncation of every message with a typed error', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), (message, cut) => {
        const { type, parts } = encodeMessage(message);
        const bytes = join(parts);
        fc.pre(bytes.length > 0);
        const truncated = bytes.subarray(0, cut % bytes.length);
        const bulk = message.kind === 'CKPT_OUTPUT';
        // An output batch is opaque bulk: a shorter one is still a well-formed message (io-cork checks it).
        if (bulk && truncated.length >= 8) return;
        expect(() => decodeMessage(type, truncated)).toThrow(ProtocolError);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuse trailing bytes, unknown types, inconsistent run lengths and hostile run counts', () => {
    const { type, parts } = encodeMessage({ kind: 'ACK', epoch: 1, fencingToken: 2 });
    const ack = join(parts);
    expect(() => decodeMessage(type, join([ack, new Uint8Array([0])]))).toThrow(/trailing/);
    expect(() => decodeMessage(200, ack)).toThrow(
      expect.objectContaining({ code: 'MC_ERR_PROTOCOL_UNKNOWN_TYPE' }),
    );

    const pages = encodeMessage({
      kind: 'CKPT_PAGES',
      sequence: 1,
      codec: 0,
      runs: [{ firstPage: 0, pageCount: 1, encodedBytes: 4 }],
      data: [new Uint8Array(4)],
    });
    const bytes = join(pages.parts);
    // One data byte short, one too many.
    expect(() => decodeMessage(pages.type, bytes.subarray(0, bytes.length - 1))).toThrow(ProtocolError);
    expect(() => decodeMessage(pages.type, join([bytes, new Uint8Array(1)]))).toThrow(ProtocolError);
    // A run count of 2^32-1 with no room for the runs is refused before anything is allocated.
    const hostile = bytes.slice();
    new DataView(hostile.buffer).setUint32(9, 0xffff_ffff, true);
    expect(() => decodeMessage(pages.type, hostile)).toThrow(/cannot fit/);
    // A run with zero pages is malformed.
    const empty = bytes.slice();
    new DataView(empty.buffer).setUint32(17, 0, true);
    expect(() => decodeMessage(pages.type, empty)).toThrow(/no pages/);
  });

  it('refuse values the wire cannot carry when encoding, and u64 fields above 2^53 when decoding', () => {
    expect(() => encodeMessage({ kind: 'ACK', epoch: -1, fencingToken: 0 })).toThrow(ProtocolError);
    expect(() => encodeMessage({ kind: 'ACK', epoch: 1.5, fencingToken: 0 })).toThrow(ProtocolError);
    expect(() => encodeMessage({ kind: 'GOODBYE', reason: 70000, detail: '' })).toThrow(/reason/);
    expect(() =>
      encodeMessage({
        kind: 'CKPT_PAGES',
        sequence: 1,
        codec: 0,
        runs: [{ firstPage: 0, pageCount: 1, encodedBytes: 5 }],
        data: [new Uint8Array(4)],
      }),
    ).toThrow(/data length/);
    const { type, parts } = encodeMessage({ kind: 'ACK', epoch: 1, fencingToken: 0 });
    const bytes = join(parts);
    bytes.fill(0xff, 0, 8);
    expect(() => decodeMessage(type, bytes)).toThrow(
      expect.objectContaining({ code: 'MC_ERR_PROTOCOL_RANGE' }),
    );
  });

  it('carry HANDOVER in 24 bytes and refuse every shorter or longer one', () => {
    const message = { kind: 'HANDOVER' as const, epoch: 41, fencingToken: 7, generation: 7 };
    const { type, parts } = encodeMessage(message);
    const bytes = join(parts);
    expect(type).toBe(MESSAGE_TYPES.HANDOVER);
    expect(bytes.length).toBe(24);
    expect(decodeMessage(type, bytes)).toEqual(message);
    for (let cut = 0; cut < bytes.length; cut++)
      expect(() => decodeMessage(type, bytes.subarray(0, cut))).toThrow(
        expect.objectContaining({ code: 'MC_ERR_PROTOCOL_TRUNCATED' }),
      );
    expect(() => decodeMessage(type, join([bytes, new Uint8Array(1)]))).toThrow(/trailing/);
  });

  it('refuse text that is not UTF-8', () => {
    const { type, parts } = encodeMessage({ kind: 'ERROR', code: 'ab', detail: '' });
    const bytes = join(parts);
    bytes[2] = 0xff;
    expect(() => decodeMessage(type, bytes)).toThrow(
      expect.objectContaining({ code: 'MC_ERR_PROTOCOL_MALFORMED' }),
    );
  });
});
