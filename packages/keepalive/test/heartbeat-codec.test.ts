import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  crc32,
  decodeHeartbeat,
  encodeHeartbeat,
  HEARTBEAT_BYTES,
  type Heartbeat,
  HeartbeatChecksumError,
  HeartbeatDecodeError,
  HeartbeatFieldError,
  HeartbeatMagicError,
  HeartbeatSizeError,
  HeartbeatVersionError,
  InvalidArgumentError,
} from '../src/index.js';

const heartbeatArb: fc.Arbitrary<Heartbeat> = fc.record({
  role: fc.constantFrom('primary', 'secondary', 'witness'),
  goodbye: fc.boolean(),
  incarnation: fc.integer({ min: 1, max: 0xffffffff }),
  intervalMs: fc.integer({ min: 1, max: 0xffffffff }).map((us) => us / 1_000),
  sequence: fc.maxSafeNat(),
  senderTimeMs: fc.double({ min: 0, max: 1e12, noNaN: true }),
  epoch: fc.maxSafeNat(),
  progress: fc.maxSafeNat(),
});

const sample: Heartbeat = {
  role: 'secondary',
  goodbye: false,
  incarnation: 0x01020304,
  intervalMs: 20,
  sequence: 5,
  senderTimeMs: 1234.5,
  epoch: 9,
  progress: 77,
};

/** A valid encoding with one byte changed and the checksum recomputed, so a field check must catch it. */
function withByte(offset: number, value: number): Uint8Array {
  const bytes = encodeHeartbeat(sample).slice();
  bytes[offset] = value;
  new DataView(bytes.buffer).setUint32(48, crc32(bytes, 0, 48));
  return bytes;
}

describe('heartbeat codec', () => {
  it('crc32 is the IEEE CRC-32', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('round-trips every heartbeat', () => {
    fc.assert(
      fc.property(heartbeatArb, (hb) => {
        const bytes = encodeHeartbeat(hb);
        expect(bytes.length).toBe(HEARTBEAT_BYTES);
        expect(decodeHeartbeat(bytes)).toEqual(hb);
      }),
    );
  });

  it('has the documented layout', () => {
    const bytes = encodeHeartbeat(sample);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(view.getUint32(0)).toBe(0x4d434b41);
    expect(view.getUint8(4)).toBe(1);
    expect(view.getUint8(5)).toBe(1);
    expect(view.getUint16(6)).toBe(0);
    expect(view.getUint32(8)).toBe(0x01020304);
    expect(view.getUint32(12)).toBe(20_000);
    expect(view.getBigUint64(16)).toBe(5n);
    expect(view.getFloat64(24)).toBe(1234.5);
    expect(view.getBigUint64(32)).toBe(9n);
    expect(view.getBigUint64(40)).toBe(77n);
    expect(view.getUint32(48)).toBe(crc32(bytes, 0, 48));
  });

  it('encodes into a caller buffer at an offset, without touching the rest', () => {
    const target = new Uint8Array(HEARTBEAT_BYTES + 8).fill(0xee);
    const written = encodeHeartbeat(sample, target.subarray(4));
    expect(written.byteOffset).toBe(4);
    expect(decodeHeartbeat(written)).toEqual(sample);
    expect(target.subarray(0, 4).every((b) => b === 0xee)).toBe(true);
    expect(target.subarray(4 + HEARTBEAT_BYTES).every((b) => b === 0xee)).toBe(true);
  });

  it('rejects wrong sizes, magic, version, checksum and fields with typed errors', () => {
    const good = encodeHeartbeat(sample);
    const cases: Array<[Uint8Array, new (...args: never[]) => HeartbeatDecodeError, string]> = [
      [good.subarray(0, 51), HeartbeatSizeError, 'MC_ERR_HEARTBEAT_SIZE'],
      [new Uint8Array(53), HeartbeatSizeError, 'MC_ERR_HEARTBEAT_SIZE'],
      [new Uint8Array(0), HeartbeatSizeError, 'MC_ERR_HEARTBEAT_SIZE'],
      [withByte(0, 0x00), HeartbeatMagicError, 'MC_ERR_HEARTBEAT_MAGIC'],
      [withByte(4, 2), HeartbeatVersionError, 'MC_ERR_HEARTBEAT_VERSION'],
      [withByte(5, 3), HeartbeatFieldError, 'MC_ERR_HEARTBEAT_FIELD'],
      [withByte(7, 2), HeartbeatFieldError, 'MC_ERR_HEARTBEAT_FIELD'],
      [withByte(16, 0xff), HeartbeatFieldError, 'MC_ERR_HEARTBEAT_FIELD'],
    ];
    const zeroIncarnation = encodeHeartbeat(sample).slice();
    zeroIncarnation.fill(0, 8, 12);
    new DataView(zeroIncarnation.buffer).setUint32(48, crc32(zeroIncarnation, 0, 48));
    cases.push([zeroIncarnation, HeartbeatFieldError, 'MC_ERR_HEARTBEAT_FIELD']);
    const flipped = encodeHeartbeat(sample).slice();
    flipped[30] = (flipped[30] ?? 0) ^ 0x10;
    cases.push([flipped, HeartbeatChecksumError, 'MC_ERR_HEARTBEAT_CHECKSUM']);
    for (const [bytes, type, code] of cases) {
      let caught: unknown;
      try {
        decodeHeartbeat(bytes);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(type);
      expect(caught).toBeInstanceOf(HeartbeatDecodeError);
      expect((caught as HeartbeatDecodeError).code).toBe(code);
    }
  });

  it('never decodes corrupted bytes into a heartbeat, and fails only with typed errors', () => {
    const good = encodeHeartbeat(sample);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: HEARTBEAT_BYTES - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (at, xor) => {
          const bytes = good.slice();
          bytes[at] = (bytes[at] ?? 0) ^ xor;
          expect(() => decodeHeartbeat(bytes)).toThrow(HeartbeatDecodeError);
        },
      ),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 128 }), (bytes) => {
        try {
          decodeHeartbeat(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(HeartbeatDecodeError);
        }
      }),
    );
  });

  it('refuses to encode what it could not decode', () => {
    const bad: Array<Partial<Heartbeat>> = [
      { incarnation: 0 },
      { incarnation: 2 ** 32 },
      { intervalMs: 0 },
      { intervalMs: 5_000_000 },
      { sequence: -1 },
      { sequence: 1.5 },
      { epoch: Number.MAX_SAFE_INTEGER + 2 },
      { progress: Number.NaN },
      { senderTimeMs: Number.POSITIVE_INFINITY },
      { role: 'leader' as Heartbeat['role'] },
    ];
    for (const fields of bad) {
      expect(() => encodeHeartbeat({ ...sample, ...fields })).toThrow(InvalidArgumentError);
    }
    expect(() => encodeHeartbeat(sample, new Uint8Array(10))).toThrow(InvalidArgumentError);
  });
});
