import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lz4Compress, lz4DecompressInto } from '../src/codecs/lz4.js';
import { loadZstd } from '../src/codecs/zstd.js';
import { isZeroPage, PAGE_CODEC_IDS, pageCodecId, pageCodecName } from '../src/index.js';
import { expectBytes } from './helpers.js';

const page4k = fc.uint8Array({ minLength: 4096, maxLength: 4096 });
// Pages that compress: runs of a few symbols, like text and tables.
const compressible = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 1, max: 200 })), {
    minLength: 1,
    maxLength: 60,
  })
  .map((runs) => {
    const page = new Uint8Array(4096);
    let at = 0;
    for (let i = 0; at < 4096; i = (i + 1) % runs.length) {
      const [value, len] = runs[i]!;
      page.fill(0x61 + value, at, Math.min(4096, at + len));
      at += len;
    }
    return page;
  });

describe('zero pages', () => {
  it('detects all-zero pages and any single non-zero byte (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 1, max: 255 }), (at, value) => {
        const page = new Uint8Array(4096);
        expect(isZeroPage(page)).toBe(true);
        page[at] = value;
        expect(isZeroPage(page)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('works on views at any offset and on other sizes', () => {
    const backing = new Uint8Array(9000);
    expect(isZeroPage(backing.subarray(3, 3 + 4096))).toBe(true);
    backing[3 + 4095] = 1;
    expect(isZeroPage(backing.subarray(3, 3 + 4096))).toBe(false);
    expect(isZeroPage(new Uint8Array(512))).toBe(true);
  });
});

describe('LZ4 pages', () => {
  it('round-trips random and compressible pages (property)', () => {
    fc.assert(
      fc.property(fc.oneof(page4k, compressible), (page) => {
        const out = new Uint8Array(4096);
        lz4DecompressInto(lz4Compress(page), out);
        expectBytes(out, page);
      }),
      { numRuns: 200 },
    );
  });

  it('compresses compressible pages', () => {
    fc.assert(
      fc.property(compressible, (page) => {
        expect(lz4Compress(page).length).toBeLessThan(2048);
      }),
      { numRuns: 50 },
    );
  });

  it('rejects a wrong size prefix before decoding, and truncated or corrupted payloads', () => {
    const page = new Uint8Array(4096).fill(7);
    const good = lz4Compress(page);
    const out = new Uint8Array(4096);
    const huge = good.slice();
    huge.set([0xff, 0xff, 0xff, 0x7f], 0);
    expect(() => lz4DecompressInto(huge, out)).toThrow(/declares/);
    expect(() => lz4DecompressInto(good.subarray(0, 3), out)).toThrow(/truncated/);
    expect(() => lz4DecompressInto(good, new Uint8Array(8192))).toThrow(/declares/);
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (at, value, cut) => {
        const bad = good.slice(0, 5 + (cut % (good.length - 4)));
        bad[4 + (at % (bad.length - 4))] = value;
        const target = new Uint8Array(4096);
        try {
          lz4DecompressInto(bad, target);
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('zstd pages (the strong tier)', () => {
  const zstd = loadZstd();

  it('is installed here (an optional dependency)', () => {
    expect(zstd).not.toBeNull();
  });

  it('round-trips and beats LZ4 on compressible pages (property)', () => {
    const codec = zstd!;
    const out = new Uint8Array(codec.bound(4096));
    fc.assert(
      fc.property(fc.oneof(page4k, compressible), (page) => {
        const n = codec.compress(page, out);
        const back = new Uint8Array(4096);
        codec.decompressInto(out.subarray(0, n), back);
        expectBytes(back, page);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses frames that do not fill exactly one page, without allocating what they declare', () => {
    const codec = zstd!;
    const out = new Uint8Array(codec.bound(8192));
    const n = codec.compress(new Uint8Array(8192).fill(1), out);
    expect(() => codec.decompressInto(out.subarray(0, n), new Uint8Array(4096))).toThrow();
    const m = codec.compress(new Uint8Array(1024).fill(1), out);
    expect(() => codec.decompressInto(out.subarray(0, m), new Uint8Array(4096))).toThrow(/decoded to 1024/);
    expect(() => codec.decompressInto(out.subarray(0, m - 1), new Uint8Array(4096))).toThrow();
  });

  it('reports a module that is not installed as unavailable instead of throwing', () => {
    expect(loadZstd('zstd-napi-not-installed/binding')).toBeNull();
  });
});

describe('codec bytes', () => {
  it('maps names and bytes both ways and rejects unknown ones', () => {
    for (const [name, id] of Object.entries(PAGE_CODEC_IDS)) {
      expect(pageCodecName(id)).toBe(name);
      expect(pageCodecId(name as keyof typeof PAGE_CODEC_IDS)).toBe(id);
    }
    expect(() => pageCodecName(99)).toThrow(/unknown codec byte 99/);
  });
});

describe('the WebAssembly LZ4 decoder against lz4-napi', () => {
  it('decodes every page lz4-napi encodes, identically (property)', () => {
    fc.assert(
      fc.property(fc.oneof(page4k, compressible), (page) => {
        const block = lz4Compress(page);
        const viaWasm = new Uint8Array(4096);
        const viaNapi = new Uint8Array(4096);
        lz4DecompressInto(block, viaWasm, 'wasm');
        lz4DecompressInto(block, viaNapi, 'napi');
        expectBytes(viaWasm, page);
        expectBytes(viaNapi, page);
      }),
      { numRuns: 200 },
    );
  });

  it('rejects malformed blocks without reading or writing out of bounds (fuzz)', () => {
    const good = lz4Compress(compressibleSample());
    fc.assert(
      fc.property(
        fc.nat(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        (cut, flips) => {
          const bad = good.slice(0, 5 + (cut % (good.length - 4)));
          for (const [at, value] of flips) bad[4 + (at % (bad.length - 4))] = value;
          const target = new Uint8Array(4096);
          try {
            lz4DecompressInto(bad, target, 'wasm');
          } catch (err) {
            expect((err as Error).message).toMatch(/malformed/);
          }
        },
      ),
      { numRuns: 500 },
    );
    expect(() =>
      lz4DecompressInto(Uint8Array.from([0, 16, 0, 0, 0x1f, 0x41, 0xff, 0xff]), new Uint8Array(4096), 'wasm'),
    ).toThrow(/malformed/);
  });
});

function compressibleSample(): Uint8Array {
  const page = new Uint8Array(4096);
  for (let i = 0; i < 4096; i++) page[i] = 0x61 + ((i >> 5) % 7);
  return page;
}
