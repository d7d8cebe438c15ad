import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { uncompressSync } from 'lz4-napi';
import { describe, expect, it } from 'vitest';
import { lz4Compress, lz4CompressInto, lz4DecompressInto } from '../src/codecs/lz4.js';
import { Lz4BatchDecoder, loadLz4Wasm } from '../src/codecs/lz4-wasm.js';
import { loadZstd } from '../src/codecs/zstd.js';
import { isZeroPage, PAGE_CODEC_IDS, pageCodecId, pageCodecName } from '../src/index.js';
import { PageCompressor } from '../src/page-compressor.js';
import { expectBytes } from './helpers.js';
import { makePage } from './pages.js';

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

// Pages full of short repeats: LZ4 matches that overlap their own output (offsets 1 to 15).
const periodic = fc
  .tuple(fc.integer({ min: 1, max: 15 }), fc.uint8Array({ minLength: 15, maxLength: 15 }), fc.nat(4095))
  .map(([period, pattern, noiseAt]) => {
    const page = new Uint8Array(4096);
    for (let i = 0; i < 4096; i++) page[i] = pattern[i % period]!;
    page[noiseAt] = (page[noiseAt]! + 1) & 0xff;
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
      fc.property(fc.oneof(page4k, compressible, periodic), (page) => {
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
    const good = lz4Compress(compressibleSample(4096));
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

describe('the WebAssembly LZ4 compressor', () => {
  it('writes blocks that lz4-napi and the WebAssembly decoder both read back (property)', () => {
    const out = new Uint8Array(4096);
    fc.assert(
      fc.property(fc.oneof(page4k, compressible, periodic), (page) => {
        const n = lz4CompressInto(page, out, out.length, 'wasm');
        if (n < 0) return; // did not fit one page: kept raw by the store
        const block = out.slice(0, n);
        expectBytes(Buffer.from(uncompressSync(block)), page);
        const back = new Uint8Array(4096);
        lz4DecompressInto(block, back, 'wasm');
        expectBytes(back, page);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips every length from 0 to 300 bytes and pages from 512 bytes to 64 KiB', () => {
    const out = new Uint8Array(70_000);
    for (let len = 0; len <= 300; len++) {
      const page = new Uint8Array(len);
      for (let i = 0; i < len; i++) page[i] = (i * 7) % (1 + (len % 5));
      const n = lz4CompressInto(page, out, out.length, 'wasm');
      expect(n, `length ${len}`).toBeGreaterThan(0);
      expectBytes(Buffer.from(uncompressSync(out.subarray(0, n))), page, `length ${len}`);
    }
    for (const size of [512, 1024, 8192, 16384, 65536]) {
      for (const page of [compressibleSample(size), new Uint8Array(size)]) {
        const n = lz4CompressInto(page, out, out.length, 'wasm');
        expectBytes(Buffer.from(uncompressSync(out.subarray(0, n))), page, `size ${size}`);
      }
    }
  });

  it('compresses as well as lz4-napi, and gives up on pages that do not fit the limit', () => {
    const out = new Uint8Array(8192);
    fc.assert(
      fc.property(fc.oneof(compressible, periodic), (page) => {
        const n = lz4CompressInto(page, out, out.length, 'wasm');
        expect(n).toBeLessThanOrEqual(lz4Compress(page).length + 16);
        // Any limit below the block's length is refused, and nothing longer is ever returned.
        expect(lz4CompressInto(page, out, n - 1, 'wasm')).toBe(-1);
        expect(lz4CompressInto(page, out, n, 'wasm')).toBe(n);
      }),
      { numRuns: 100 },
    );
    const random = makePage('random', 0);
    expect(lz4CompressInto(random, out, 4000, 'wasm')).toBe(-1);
    expect(lz4CompressInto(random, out, 4000, 'napi')).toBe(-1);
    expect(lz4CompressInto(compressibleSample(4096), out, 4000, 'napi')).toBeGreaterThan(0);
  });
});

describe('the batch LZ4 decoder (materialize)', () => {
  const decoder = loadLz4Wasm()!;

  it('decodes blocks from one or many buffers into scattered pages, across batch boundaries', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.oneof(compressible, periodic), fc.boolean()), { minLength: 1, maxLength: 150 }),
        (entries) => {
          const pages = 400;
          const target = new Uint8Array(4096 * pages).fill(0xee);
          const expected = target.slice();
          const batch = new Lz4BatchDecoder(decoder, 4096, target);
          // Records as a slab holds them: a 16-byte header, then the block without its size prefix.
          const slab = new Uint8Array(entries.length * (4096 + 16));
          let at = 0;
          let page = 0;
          for (const [content, skip] of entries) {
            page += skip ? 2 : 1;
            const block = lz4Compress(content).subarray(4);
            slab.set(block, at + 16);
            const alone = slab.slice(at + 16, at + 16 + block.length);
            // Every third block comes from a buffer of its own, breaking the span.
            if (page % 3 === 0) batch.push(alone, 0, alone.length, page);
            else batch.push(slab, at + 16, at + 16 + block.length, page);
            expected.set(content, page * 4096);
            at += 16 + block.length;
          }
          batch.flush();
          expect(Buffer.compare(target, expected)).toBe(0);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('throws on a malformed block instead of writing a wrong page', () => {
    const target = new Uint8Array(4096 * 4);
    const batch = new Lz4BatchDecoder(decoder, 4096, target);
    const good = lz4Compress(compressibleSample(4096)).subarray(4);
    const truncated = good.slice(0, good.length - 3);
    batch.push(good, 0, good.length, 0);
    batch.push(truncated, 0, truncated.length, 1);
    expect(() => batch.flush()).toThrow(/page 1 does not decode/);
  });
});

function compressibleSample(size: number): Uint8Array {
  const page = new Uint8Array(size);
  for (let i = 0; i < size; i++) page[i] = 0x61 + ((i >> 5) % 7);
  return page;
}

describe('the tiered decision', () => {
  // Pages of random symbols from a small alphabet: LZ4 finds few matches, zstd's entropy coding
  // still halves them or better, so both of zstd's paths are taken.
  const symbols = fc
    .tuple(fc.integer({ min: 2, max: 64 }), fc.integer({ min: 1, max: 0x7fffffff }))
    .map(([alphabet, seed]) => {
      const page = new Uint8Array(4096);
      let x = seed;
      for (let i = 0; i < 4096; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        page[i] = 0x30 + ((x >>> 0) % alphabet);
      }
      return page;
    });
  const text = fc.nat(1000).map((seed) => makePage('text', seed));

  it('picks what the rule says, computed from full LZ4 and zstd lengths (property)', () => {
    const zstd = loadZstd()!;
    const compressor = new PageCompressor('tiered', zstd, 4096);
    const scratch = compressor.newScratch();
    const lz4Out = new Uint8Array(4096);
    const zstdOut = new Uint8Array(zstd.bound(4096));
    const keep = compressor.maxKeepBytes;
    const seen = new Set<number>();
    fc.assert(
      fc.property(fc.oneof(page4k, compressible, periodic, symbols, text), (page) => {
        const l = lz4CompressInto(page, lz4Out, keep, 'wasm');
        const z = zstd.compress(page, zstdOut);
        const lz4Length = l < 0 ? 4096 : l;
        const expected =
          l >= 0 && l <= 2048
            ? PAGE_CODEC_IDS.lz4
            : z <= keep && z <= lz4Length - lz4Length / 8
              ? PAGE_CODEC_IDS.zstd
              : l >= 0
                ? PAGE_CODEC_IDS.lz4
                : PAGE_CODEC_IDS.raw;
        const encoded = compressor.encode(page, scratch);
        expect(encoded.codec).toBe(expected);
        seen.add(encoded.codec);
        const back = new Uint8Array(4096);
        if (encoded.codec === PAGE_CODEC_IDS.lz4) lz4DecompressInto(encoded.payload, back);
        else if (encoded.codec === PAGE_CODEC_IDS.zstd) zstd.decompressInto(encoded.payload, back);
        else back.set(encoded.payload);
        expectBytes(back, page);
      }),
      { numRuns: 300 },
    );
    expect([...seen].sort()).toEqual([PAGE_CODEC_IDS.raw, PAGE_CODEC_IDS.lz4, PAGE_CODEC_IDS.zstd]);
  });
});
