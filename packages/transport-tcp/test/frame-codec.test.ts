import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ChecksumAlgorithm,
  DEFAULT_MAX_PAYLOAD_BYTES,
  decodeFrameHeader,
  encodeFrame,
  encodeFrameHeader,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameHeaderError,
  FrameMagicError,
  FrameTooLargeError,
  FrameTruncatedError,
  FrameVersionError,
  InvalidArgumentError,
  type Message,
  TransportError,
} from '../src/index.js';

interface Frame {
  type: number;
  flags: number;
  payload: Uint8Array;
  algorithm: ChecksumAlgorithm;
}

const frameArb: fc.Arbitrary<Frame> = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  flags: fc.integer({ min: 0, max: 0xffff }),
  payload: fc.uint8Array({ minLength: 0, maxLength: 300 }),
  algorithm: fc.constantFrom<ChecksumAlgorithm>('crc32c', 'xxh64'),
});

const encode = (f: Frame) => encodeFrame(f.type, f.payload, f.flags, f.algorithm);

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let pos = 0;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

/** Splits `bytes` at the given cut points (any order, duplicates allowed). */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(prev, p));
    prev = p;
  }
  return chunks;
}

function decodeAll(decoder: FrameDecoder, chunks: readonly Uint8Array[]): Message[] {
  return chunks.flatMap((chunk) => decoder.push(chunk));
}

/** Bitwise CRC32C (reflected polynomial 0x82F63B78), independent of the implementation under test. */
function referenceCrc32c(...parts: Uint8Array[]): number {
  let crc = 0xffffffff;
  for (const part of parts) {
    for (const byte of part) {
      crc ^= byte;
      for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    }
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('frame header', () => {
  it('lays out magic, version, type, flags, algorithm, reserved, length and checksum little-endian', () => {
    const frame = encodeFrame(0x2a, new Uint8Array([1, 2, 3]), 0x0102);
    expect(frame.length).toBe(FRAME_HEADER_BYTES + 3);
    expect([...frame.subarray(0, 12)]).toEqual([0x43, 0x4d, 1, 0x2a, 0x02, 0x01, 0, 0, 3, 0, 0, 0]);
    const header = decodeFrameHeader(frame, 0, 1024);
    expect(header).toMatchObject({ type: 0x2a, flags: 0x0102, length: 3, algorithm: 'crc32c' });
    // CRC32C (Castagnoli) of header bytes 0..11 then the payload, computed independently here.
    expect(header.checksum).toBe(referenceCrc32c(frame.subarray(0, 12), frame.subarray(16)));
    expect(new DataView(frame.buffer).getUint32(12, true)).toBe(header.checksum);
    const xxh = encodeFrame(0x2a, new Uint8Array([1, 2, 3]), 0x0102, 'xxh64');
    expect(xxh[6]).toBe(1);
    expect(decodeFrameHeader(xxh, 0, 1024).algorithm).toBe('xxh64');
  });

  it('computes the same checksum for a payload whole or in any parts, for both algorithms', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 6 }),
        fc.constantFrom<ChecksumAlgorithm>('crc32c', 'xxh64'),
        (parts, algorithm) => {
          const whole = encodeFrame(1, concat(parts), 0, algorithm);
          const gathered = encodeFrame(1, parts, 0, algorithm);
          expect([...gathered]).toEqual([...whole]);
        },
      ),
    );
  });

  it('rejects out-of-range type and flags when encoding', () => {
    const target = new Uint8Array(FRAME_HEADER_BYTES);
    expect(() => encodeFrameHeader(target, 0, 256, 0, [])).toThrow(InvalidArgumentError);
    expect(() => encodeFrameHeader(target, 0, -1, 0, [])).toThrow(InvalidArgumentError);
    expect(() => encodeFrameHeader(target, 0, 1, 0x10000, [])).toThrow(InvalidArgumentError);
    expect(() => encodeFrameHeader(target, 0, 1.5, 0, [])).toThrow(InvalidArgumentError);
  });

  it('gives a typed error for wrong magic, version, reserved bits and oversize length', () => {
    const good = encodeFrame(1, new Uint8Array(10));
    const variants: Array<[number, number, new (...args: never[]) => TransportError, string]> = [
      [0, 0x00, FrameMagicError, 'MC_ERR_FRAME_MAGIC'],
      [2, 2, FrameVersionError, 'MC_ERR_FRAME_VERSION'],
      [6, 7, FrameHeaderError, 'MC_ERR_FRAME_HEADER'],
      [7, 1, FrameHeaderError, 'MC_ERR_FRAME_HEADER'],
    ];
    for (const [offset, value, ErrorClass, code] of variants) {
      const bad = good.slice();
      bad[offset] = value;
      const decoder = new FrameDecoder(1024);
      expect(() => decoder.push(bad)).toThrow(ErrorClass);
      try {
        new FrameDecoder(1024).push(bad);
      } catch (err) {
        expect((err as TransportError).code).toBe(code);
      }
    }
    expect(() => new FrameDecoder(9).push(good)).toThrow(FrameTooLargeError);
  });
});

describe('FrameDecoder', () => {
  it('decodes any sequence of frames fed in arbitrary splits, in order, each exactly once', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (frames, cuts) => {
          const stream = concat(frames.map(encode));
          const decoder = new FrameDecoder(DEFAULT_MAX_PAYLOAD_BYTES);
          const out = decodeAll(decoder, split(stream, cuts));
          expect(out.map((m) => ({ type: m.type, flags: m.flags, payload: [...m.payload] }))).toEqual(
            frames.map((f) => ({ type: f.type, flags: f.flags, payload: [...f.payload] })),
          );
          expect(decoder.pendingBytes).toBe(0);
          expect(() => decoder.end()).not.toThrow();
        },
      ),
      { numRuns: 500 },
    );
  });

  it('delivers zero-length frames even when their header is split and the chunk ends with it', () => {
    const frame = encodeFrame(9, new Uint8Array(0));
    const decoder = new FrameDecoder(16);
    expect(decoder.push(frame.subarray(0, 5))).toEqual([]);
    const out = decoder.push(frame.subarray(5));
    expect(out).toHaveLength(1);
    expect(out[0]!.type).toBe(9);
    expect(out[0]!.payload.length).toBe(0);
  });

  it('never yields a wrong frame for any single corrupted byte: typed error or truncation instead', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 6 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (frames, at, xor, cuts) => {
          const encoded = frames.map(encode);
          const stream = concat(encoded);
          const index = at % stream.length;
          stream[index]! ^= xor;
          const decoder = new FrameDecoder(1 << 20);
          const delivered: Message[] = [];
          let error: unknown = null;
          try {
            for (const chunk of split(stream, cuts)) delivered.push(...decoder.push(chunk));
            decoder.end();
          } catch (err) {
            error = err;
          }
          expect(error).toBeInstanceOf(TransportError);
          expect((error as TransportError).code).toMatch(/^MC_ERR_FRAME_/);
          // Every frame delivered before the error is one of the originals, untouched, in order.
          delivered.forEach((m, i) => {
            expect(m.type).toBe(frames[i]!.type);
            expect([...m.payload]).toEqual([...frames[i]!.payload]);
          });
          let corruptedFrame = 0;
          for (let pos = 0; pos + encoded[corruptedFrame]!.length <= index; corruptedFrame++) {
            pos += encoded[corruptedFrame]!.length;
          }
          expect(delivered.length).toBeLessThanOrEqual(corruptedFrame);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('reports a stream that ends mid-header or mid-payload as truncated, and refuses input after an error', () => {
    const frame = encodeFrame(3, new Uint8Array(100).fill(7));
    for (const cut of [
      1,
      FRAME_HEADER_BYTES - 1,
      FRAME_HEADER_BYTES,
      FRAME_HEADER_BYTES + 50,
      frame.length - 1,
    ]) {
      const decoder = new FrameDecoder(1024);
      expect(decoder.push(frame.subarray(0, cut))).toEqual([]);
      expect(() => decoder.end()).toThrow(FrameTruncatedError);
      expect(() => decoder.push(frame)).toThrow(FrameTruncatedError);
    }
  });

  it('returns views for frames that arrive whole and separate buffers for assembled ones', () => {
    const a = encodeFrame(1, new Uint8Array([1, 2, 3]));
    const b = encodeFrame(2, new Uint8Array([4, 5, 6]));
    const stream = concat([a, b]);
    const decoder = new FrameDecoder(1024);
    const [first] = decoder.push(stream.subarray(0, a.length + 5));
    expect(first!.payload.buffer).toBe(stream.buffer);
    const [second] = decoder.push(stream.subarray(a.length + 5));
    expect(second!.payload.buffer).not.toBe(stream.buffer);
    expect([...second!.payload]).toEqual([4, 5, 6]);
  });
});
