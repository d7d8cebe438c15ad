import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  WITNESS_MESSAGE,
  type WitnessReply,
  type WitnessRequest,
} from '../src/arbiter/witness-protocol.js';
import { WitnessProtocolError } from '../src/errors.js';

const id = fc.integer({ min: 0, max: 0xffffffff });
const positive = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const ttl = fc.integer({ min: 1, max: 2 ** 31 - 1 });
// Node names up to 255 UTF-8 bytes, including multi-byte characters.
const node = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 60 })
  .filter((s) => s.length > 0 && Buffer.byteLength(s) <= 255);

const request: fc.Arbitrary<WitnessRequest> = fc.oneof(
  fc.record({ kind: fc.constant('acquire' as const), id, generation: positive, node, ttlMs: ttl }),
  fc.record({
    kind: fc.constant('renew' as const),
    id,
    generation: positive,
    node,
    token: positive,
    ttlMs: ttl,
  }),
  fc.record({ kind: fc.constant('release' as const), id, generation: positive, node, token: positive }),
  fc.record({ kind: fc.constant('status' as const), id }),
);

const reply: fc.Arbitrary<WitnessReply> = fc.oneof(
  fc.record({ kind: fc.constant('granted' as const), id, token: positive, ttlMs: ttl }),
  fc.record({
    kind: fc.constant('refused' as const),
    id,
    reason: fc.constantFrom('held', 'superseded', 'lost'),
  }),
  fc.record({ kind: fc.constant('released' as const), id }),
  fc.record({
    kind: fc.constant('status' as const),
    id,
    status: fc.record({
      highest: fc.option(fc.record({ generation: positive, node }), { nil: null }),
      lastToken: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      owner: fc.option(
        fc.record({
          generation: positive,
          node,
          token: positive,
          remainingMs: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        }),
        { nil: null },
      ),
    }),
  }),
  fc.record({
    kind: fc.constant('error' as const),
    id,
    fault: fc.constantFrom('protocol', 'state'),
    message: fc.string({ maxLength: 200 }),
  }),
);

function decodesOrThrowsTyped(decode: () => unknown): void {
  try {
    decode();
  } catch (err) {
    expect(err).toBeInstanceOf(WitnessProtocolError);
    expect((err as WitnessProtocolError).code).toBe('MC_ERR_WITNESS_PROTOCOL');
  }
}

describe('witness protocol', () => {
  it('round-trips every request and reply', () => {
    fc.assert(
      fc.property(request, (r) => {
        const frame = encodeRequest(r);
        expect(decodeRequest(frame.type, frame.payload)).toEqual(r);
      }),
    );
    fc.assert(
      fc.property(reply, (r) => {
        const frame = encodeReply(r);
        expect(decodeReply(frame.type, frame.payload)).toEqual(r);
      }),
    );
  });

  it('refuses every truncated or padded message with a typed error', () => {
    fc.assert(
      fc.property(request, fc.nat(), (r, cut) => {
        const { type, payload } = encodeRequest(r);
        const truncated = payload.subarray(0, cut % payload.byteLength);
        expect(() => decodeRequest(type, truncated)).toThrow(WitnessProtocolError);
        const padded = new Uint8Array(payload.byteLength + 1);
        padded.set(payload);
        expect(() => decodeRequest(type, padded)).toThrow(/trailing/);
      }),
    );
    fc.assert(
      fc.property(reply, fc.nat(), (r, cut) => {
        const { type, payload } = encodeReply(r);
        if (r.kind === 'error') return; // its message runs to the end: only the fixed part can be cut
        expect(() => decodeReply(type, payload.subarray(0, cut % payload.byteLength))).toThrow(
          WitnessProtocolError,
        );
      }),
    );
  });

  it('never throws anything but WitnessProtocolError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 80 }), (type, bytes) => {
        decodesOrThrowsTyped(() => decodeRequest(type, bytes));
        decodesOrThrowsTyped(() => decodeReply(type, bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects out-of-range fields the encoder would never write', () => {
    const acquire = encodeRequest({ kind: 'acquire', id: 7, generation: 3, node: 'a', ttlMs: 100 });
    const view = new DataView(acquire.payload.buffer, acquire.payload.byteOffset, acquire.payload.byteLength);
    const mutate = (edit: (v: DataView) => void) => {
      const copy = new Uint8Array(acquire.payload);
      edit(new DataView(copy.buffer));
      return copy;
    };
    expect(view.getUint32(0, true)).toBe(7);
    expect(() =>
      decodeRequest(
        WITNESS_MESSAGE.acquire,
        mutate((v) => v.setFloat64(4, 0, true)),
      ),
    ).toThrow(/generation/);
    expect(() =>
      decodeRequest(
        WITNESS_MESSAGE.acquire,
        mutate((v) => v.setFloat64(4, 1.5, true)),
      ),
    ).toThrow(/generation/);
    expect(() =>
      decodeRequest(
        WITNESS_MESSAGE.acquire,
        mutate((v) => v.setFloat64(4, 2 ** 60, true)),
      ),
    ).toThrow(/generation/);
    expect(() =>
      decodeRequest(
        WITNESS_MESSAGE.acquire,
        mutate((v) => v.setUint32(12, 0, true)),
      ),
    ).toThrow(/ttlMs/);
    expect(() =>
      decodeRequest(
        WITNESS_MESSAGE.acquire,
        mutate((v) => v.setUint8(16, 0)),
      ),
    ).toThrow();
    expect(() =>
      decodeRequest(
        WITNESS_MESSAGE.acquire,
        mutate((v) => v.setUint8(17, 0xff)),
      ),
    ).toThrow(/UTF-8/);
    expect(() => decodeRequest(99, acquire.payload)).toThrow(/unknown/);
    expect(() =>
      encodeRequest({ kind: 'acquire', id: 1, generation: 1, node: 'x'.repeat(256), ttlMs: 1 }),
    ).toThrow(WitnessProtocolError);
  });
});
