import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CorkItem } from '../src/index.js';
import {
  createItemFrameDecoder,
  encodeItemFrame,
  encodeItemFrameHeader,
  InvalidOptionError,
  ItemFrameError,
} from '../src/index.js';

const itemArb: fc.Arbitrary<CorkItem> = fc.record({
  source: fc.constantFrom('kv', 'svc-ü', 's'.repeat(255)),
  generation: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  epoch: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  seq: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  destination: fc.constant('d'),
  data: fc.uint8Array({ maxLength: 3000 }),
});

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

describe('item frames', () => {
  it('decode to the same items however the stream is split into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(itemArb, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (items, cuts) => {
          const stream = concat(
            items.map((item, i) =>
              // Both ways the sinks write a frame: one buffer, or header then data.
              i % 2 === 0 ? encodeItemFrame(item) : concat([encodeItemFrameHeader(item), item.data]),
            ),
          );
          const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
          const decoder = createItemFrameDecoder();
          const out = [];
          let start = 0;
          for (const point of [...points, stream.length]) {
            out.push(...decoder.push(stream.subarray(start, point)));
            start = point;
          }
          decoder.end();
          expect(decoder.bufferedBytes).toBe(0);
          expect(out.map((i) => ({ ...i, data: [...i.data] }))).toEqual(
            items.map(({ destination: _, ...rest }) => ({ ...rest, data: [...rest.data] })),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('returns views of the chunk when a frame arrives whole', () => {
    const frame = encodeItemFrame({
      source: 's',
      generation: 1,
      epoch: 2,
      seq: 3,
      destination: 'd',
      data: Uint8Array.of(9),
    });
    const [item] = createItemFrameDecoder().push(frame);
    expect(item!.data.buffer).toBe(frame.buffer);
  });

  it('rejects bad frames with a typed reason and then refuses further input', () => {
    const good = encodeItemFrame({
      source: 's',
      generation: 1,
      epoch: 2,
      seq: 3,
      destination: 'd',
      data: new Uint8Array(10),
    });
    const expectReason = (bytes: Uint8Array, reason: string, options = {}) => {
      const decoder = createItemFrameDecoder(options);
      expect(() => decoder.push(bytes)).toThrow(
        expect.objectContaining({ reason, code: 'MC_ERR_ITEM_FRAME' }),
      );
      expect(() => decoder.push(good)).toThrow(expect.objectContaining({ reason: 'poisoned' }));
    };
    const withByte = (index: number, value: number) => {
      const copy = Uint8Array.from(good);
      copy[index] = value;
      return copy;
    };
    expectReason(withByte(0, 0x58), 'magic');
    expectReason(withByte(2, 9), 'version');
    expectReason(withByte(3, 1), 'header');
    expectReason(withByte(8, 0), 'header'); // empty source
    expectReason(withByte(19, 0xff), 'header'); // generation above 2^53
    expectReason(withByte(36, 0xff), 'header'); // source not UTF-8
    expectReason(good, 'too-large', { maxItemBytes: 9 });

    const truncated = createItemFrameDecoder();
    expect(truncated.push(good.subarray(0, good.length - 1))).toEqual([]);
    expect(() => truncated.end()).toThrow(ItemFrameError);
    expect(() => createItemFrameDecoder().push('x' as never)).toThrow(ItemFrameError);
    expect(() => createItemFrameDecoder({ maxItemBytes: -1 })).toThrow(InvalidOptionError);
  });
});
