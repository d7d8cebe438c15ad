import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32, tableCrc32 } from '../src/crc32.js';
import {
  BatchChecksumError,
  BatchFormatError,
  BatchMagicError,
  BatchOrderError,
  BatchTooLargeError,
  BatchTruncatedError,
  BatchVersionError,
  CorkError,
  type CorkQueue,
  createCorkQueue,
  DecodedBatch,
  decodeBatch,
  InvalidArgumentError,
  ItemTooLargeError,
  SourceMismatchError,
  StaleGenerationError,
} from '../src/index.js';

const text = new TextEncoder();

/** A primary that sealed `epochs` batches of the given items; returns it and each batch's bytes. */
function primaryWith(
  batches: Array<Array<[string, Uint8Array]>>,
  source = 'svc',
): { queue: CorkQueue; bytes: Uint8Array[] } {
  const queue = createCorkQueue({ source });
  const bytes: Uint8Array[] = [];
  batches.forEach((items, index) => {
    const epoch = index + 1;
    queue.open(epoch);
    for (const [destination, data] of items) queue.append(destination, data);
    queue.seal(epoch);
    bytes.push(queue.serialize(epoch));
  });
  return { queue, bytes };
}

/** Rewrites a header field and fixes the checksum, so only the field itself is wrong. */
function patch(bytes: Uint8Array, edit: (view: DataView) => void): Uint8Array {
  const copy = Uint8Array.from(bytes);
  const view = new DataView(copy.buffer);
  edit(view);
  view.setUint32(12, crc32(copy.subarray(16)), true);
  return copy;
}

const itemArb = fc.tuple(
  fc.constantFrom('client-1', 'client-2', 'log', 'ünïcødé ✓', 'x'.repeat(200)),
  fc.uint8Array({ maxLength: 300 }),
);

describe('serialized batches', () => {
  it('round-trip any batch: same items, seqs, destinations and counters', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(itemArb, { maxLength: 20 }), { minLength: 1, maxLength: 5 }),
        (batches) => {
          const { bytes } = primaryWith(batches);
          let seq = 0;
          bytes.forEach((serialized, index) => {
            const decoded = decodeBatch(serialized);
            expect(decoded.epoch).toBe(index + 1);
            expect(decoded.source).toBe('svc');
            expect(decoded.firstSeq).toBe(seq);
            const items = [...decoded.items()];
            expect(items.map((i) => [i.destination, [...i.data]])).toEqual(
              batches[index]!.map(([d, data]) => [d, [...data]]),
            );
            expect(items.map((i) => i.seq)).toEqual(batches[index]!.map((_, k) => seq + k));
            seq += items.length;
            expect(decoded.nextSeq).toBe(seq);
            expect(decoded.bytes).toBe(batches[index]!.reduce((n, [, d]) => n + d.length, 0));
          });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a batch spanning several arena chunks (and an item larger than a chunk) survives every path', () => {
    const sizes = [10, 70_000, 30_000, 40_000, 0, 65_529, 65_530, 200_000, 5];
    const items = sizes.map((size, i): [string, Uint8Array] => [
      `d${i % 3}`,
      new Uint8Array(size).map((_, k) => (k * 31 + i) & 0xff),
    ]);
    const { queue, bytes } = primaryWith([items]);
    // Byte-wise comparison through Buffer.equals: deep-equality on 400 KB of arrays is slow.
    const same = (got: Array<[string, Uint8Array]>): void => {
      expect(got.map(([d, data]) => [d, data.length])).toEqual(items.map(([d, data]) => [d, data.length]));
      expect(got.map(([, data], i) => Buffer.from(data).equals(items[i]![1]))).not.toContain(false);
    };
    const decoded = decodeBatch(bytes[0]!);
    same([...decoded.items()].map((i): [string, Uint8Array] => [i.destination, i.data]));
    const released: Array<[string, Uint8Array]> = [];
    for (const d of ['d0', 'd1', 'd2'])
      queue.attach(d, { write: (item) => void released.push([item.destination, item.data]) });
    queue.release(1);
    same(released);
    const secondary = createCorkQueue({ source: 'svc' });
    secondary.ingest(bytes[0]!);
    const reemitted: Array<[string, Uint8Array]> = [];
    for (const d of ['d0', 'd1', 'd2'])
      secondary.attach(d, { write: (item) => void reemitted.push([item.destination, item.data]) });
    secondary.reemit();
    same(reemitted);
  });

  it('serialization is deterministic: arena memory that was never written never leaks out', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(itemArb, { maxLength: 20 }), { minLength: 1, maxLength: 3 }),
        (batches) => {
          // Churn memory between the two runs so uninitialized arena bytes would differ.
          const noise = Array.from({ length: 8 }, () => new Uint8Array(70_000).fill(0xab));
          const first = primaryWith(batches).bytes;
          noise.length = 0;
          const second = primaryWith(batches).bytes;
          expect(second).toEqual(first);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('decodes into views of the input, not copies', () => {
    const { bytes } = primaryWith([[['a', text.encode('hello')]]]);
    const decoded = decodeBatch(bytes[0]!);
    const [item] = [...decoded.items()];
    expect(item!.data.buffer).toBe(bytes[0]!.buffer);
    expect(decoded.records.buffer).toBe(bytes[0]!.buffer);
  });

  it('rejects every truncation with BatchTruncatedError', () => {
    const { bytes } = primaryWith([
      [
        ['a', text.encode('some output')],
        ['b', text.encode('more')],
      ],
    ]);
    const full = bytes[0]!;
    for (let length = 0; length < full.length; length++) {
      expect(() => decodeBatch(full.subarray(0, length))).toThrow(BatchTruncatedError);
    }
  });

  it('rejects a wrong version, bad magic, trailing bytes and an oversized header length', () => {
    const { bytes } = primaryWith([[['a', text.encode('x')]]]);
    const good = bytes[0]!;
    const v2 = patch(good, (v) => v.setUint16(4, 2, true));
    expect(() => decodeBatch(v2)).toThrow(BatchVersionError);
    try {
      decodeBatch(v2);
    } catch (error) {
      expect((error as BatchVersionError).code).toBe('MC_ERR_BATCH_VERSION');
      expect((error as BatchVersionError).version).toBe(2);
    }
    expect(() => decodeBatch(patch(good, (v) => v.setUint32(0, 0x12345678, true)))).toThrow(BatchMagicError);
    const longer = new Uint8Array(good.length + 3);
    longer.set(good);
    expect(() => decodeBatch(longer)).toThrow(BatchFormatError);
    expect(() => decodeBatch(good, { maxBatchBytes: good.length - 1 })).toThrow(BatchTooLargeError);
    expect(() => decodeBatch(good, { maxItemBytes: 0 })).toThrow(ItemTooLargeError);
    expect(() => decodeBatch('nope' as unknown as Uint8Array)).toThrow(InvalidArgumentError);
  });

  it('detects any single corrupted byte with a typed error', () => {
    const { bytes } = primaryWith([
      [
        ['client-1', text.encode('GET /a')],
        ['client-2', text.encode('response body')],
      ],
    ]);
    const good = bytes[0]!;
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (index, flip) => {
        const bad = Uint8Array.from(good);
        bad[index]! ^= flip;
        // Past the fixed framing fields, the checksum is what catches it.
        expect(() => decodeBatch(bad)).toThrow(index >= 16 ? BatchChecksumError : CorkError);
      }),
      { numRuns: 400 },
    );
  });

  it('rejects well-checksummed but inconsistent contents with BatchFormatError', () => {
    const { bytes } = primaryWith([[['a', text.encode('abc')]], [['a', text.encode('def')]]]);
    const good = bytes[1]!; // epoch 2
    // releasedThrough + 1 = 3 claims epoch 2 itself was released before it was serialized.
    expect(() => decodeBatch(patch(good, (v) => v.setUint32(40, 3, true)))).toThrow(BatchFormatError);
    // item count larger than the records can hold
    expect(() => decodeBatch(patch(good, (v) => v.setUint32(48, 1000, true)))).toThrow(BatchFormatError);
    // epoch above 2^53
    expect(() => decodeBatch(patch(good, (v) => v.setUint32(20, 0x00400000, true)))).toThrow(
      BatchFormatError,
    );
    // flags and reserved bits
    expect(() => decodeBatch(patch(good, (v) => v.setUint16(6, 1, true)))).toThrow(BatchFormatError);
    expect(() => decodeBatch(patch(good, (v) => v.setUint16(62, 1, true)))).toThrow(BatchFormatError);
    // the record names a destination id missing from the table
    const records = good.length - 8 - 3;
    expect(() =>
      decodeBatch(
        patch(good, (v) => {
          v.setUint32(records, 77, true);
        }),
      ),
    ).toThrow(BatchFormatError);
  });

  it('a decoded batch cannot be forged by hand', () => {
    const queue = createCorkQueue({ source: 'svc' });
    const { bytes } = primaryWith([[['a', text.encode('x')]]]);
    const real = decodeBatch(bytes[0]!);
    const forged = Object.create(DecodedBatch.prototype) as DecodedBatch;
    Object.assign(forged, { ...real });
    expect(() => queue.ingest(forged)).toThrow(InvalidArgumentError);
    expect(queue.ingest(real).items).toBe(1);
  });

  it('the native and table CRC-32 agree (check value 0xcbf43926) on any input', () => {
    expect(tableCrc32(text.encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(text.encode('123456789'))).toBe(0xcbf43926);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => crc32(bytes) === tableCrc32(bytes)));
  });
});

describe('ingest on the secondary', () => {
  it('rejects seq going backwards, seq gaps and epochs out of order, changing nothing', () => {
    const { bytes } = primaryWith([
      [['a', text.encode('1')]],
      [['a', text.encode('2')]],
      [['a', text.encode('3')]],
    ]);
    const secondary = createCorkQueue({ source: 'svc' });
    secondary.ingest(bytes[0]!);
    secondary.ingest(bytes[1]!);
    const before = secondary.metrics();

    // A batch whose first seq goes backwards (renumbered epoch 3 starting at seq 1).
    const backwards = patch(bytes[2]!, (v) => v.setUint32(32, 1, true));
    expect(() => secondary.ingest(backwards)).toThrow(BatchOrderError);
    try {
      secondary.ingest(backwards);
    } catch (error) {
      expect((error as BatchOrderError).reason).toBe('seq-regression');
      expect((error as BatchOrderError).code).toBe('MC_ERR_BATCH_ORDER');
    }
    const gap = patch(bytes[2]!, (v) => v.setUint32(32, 9, true));
    expect(() => secondary.ingest(gap)).toThrow(expect.objectContaining({ reason: 'seq-gap' }));
    expect(() => secondary.ingest(bytes[1]!)).toThrow(expect.objectContaining({ reason: 'epoch-not-after' }));
    expect(secondary.metrics()).toEqual(before);

    expect(secondary.ingest(bytes[2]!).nextSeq).toBe(3);
    expect(secondary.heldEpochs).toEqual([1, 2, 3]);
  });

  it('rejects a batch from another source or from a deposed generation', () => {
    const { bytes } = primaryWith([[['a', text.encode('x')]]], 'other');
    const secondary = createCorkQueue({ source: 'svc' });
    expect(() => secondary.ingest(bytes[0]!)).toThrow(SourceMismatchError);

    const own = primaryWith([[['a', text.encode('x')]]]).bytes[0]!;
    const fenced = createCorkQueue({ source: 'svc', generation: 5 });
    expect(() => fenced.ingest(own)).toThrow(StaleGenerationError);
    expect(fenced.metrics().corkedItems).toBe(0);
  });

  it('adopts the primary generation and lets go of what the primary proved released', () => {
    const primary = createCorkQueue({ source: 'svc', generation: 3 });
    const secondary = createCorkQueue({ source: 'svc' });
    primary.attach('a', { write: () => {} });
    for (let epoch = 1; epoch <= 3; epoch++) {
      primary.open(epoch);
      primary.append('a', text.encode(`e${epoch}`));
      primary.seal(epoch);
      secondary.ingest(primary.serialize(epoch));
      if (epoch < 3) primary.release(epoch);
    }
    expect(secondary.generation).toBe(3);
    // Batch 3 carried "released through 2": only batch 3 is still held.
    expect(secondary.heldEpochs).toEqual([3]);
    expect(secondary.releasedThrough).toBe(2);
    expect(secondary.metrics().corkedItems).toBe(1);
  });

  it('keeps views into the ingested bytes', () => {
    const { bytes } = primaryWith([[['a', text.encode('view me')]]]);
    const secondary = createCorkQueue({ source: 'svc' });
    secondary.ingest(bytes[0]!);
    const seen: Uint8Array[] = [];
    secondary.attach('a', { write: (item) => void seen.push(item.data) });
    secondary.reemit();
    expect(seen[0]!.buffer).toBe(bytes[0]!.buffer);
  });
});
