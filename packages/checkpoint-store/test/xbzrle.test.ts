import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeWith, encodeWith, type XbzrleImplementation } from '../src/codecs/xbzrle.js';
import { XbzrleDecodeError, xbzrleDecode, xbzrleEncode, xbzrleImplementation } from '../src/index.js';
import { expectBytes } from './helpers.js';

const IMPLS: XbzrleImplementation[] = ['wasm-simd', 'js'];

function goldenPages(): { oldPage: Uint8Array; newPage: Uint8Array; delta: Uint8Array } {
  const oldPage = new Uint8Array(4096);
  const newPage = new Uint8Array(4096);
  for (let i = 0; i < 15; i++) {
    oldPage[1001 + i] = 0x05 + i;
    newPage[1001 + i] = 0x01 + i;
  }
  oldPage.set([0x68, 0x00, 0x00, 0x6b, 0x00, 0x6d], 1016);
  newPage.set([0x68, 0x00, 0x00, 0x67, 0x00, 0x69], 1016);
  const delta = Uint8Array.from([
    0xe9, 0x07, 0x0f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
    0x0f, 0x03, 0x01, 0x67, 0x01, 0x01, 0x69,
  ]);
  return { oldPage, newPage, delta };
}

/** A new page made from an old one by a list of (offset, length, byte) writes. */
function mutate(oldPage: Uint8Array, edits: Array<[number, number, number]>): Uint8Array {
  const page = oldPage.slice();
  for (const [at, len, value] of edits) {
    for (let i = at; i < Math.min(page.length, at + len); i++) page[i] = (page[i]! + value) & 0xff;
  }
  return page;
}

const pageArb = (size: number) => fc.uint8Array({ minLength: size, maxLength: size });
const editsArb = (size: number) =>
  fc.array(fc.tuple(fc.nat(size - 1), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 255 })), {
    maxLength: 40,
  });

describe('XBZRLE', () => {
  it('runs the WebAssembly SIMD kernel in this Node', () => {
    expect(xbzrleImplementation()).toBe('wasm-simd');
  });

  for (const impl of IMPLS) {
    describe(impl, () => {
      it('encodes the golden vector byte for byte and decodes it back', () => {
        const { oldPage, newPage, delta } = goldenPages();
        expect(encodeWith(impl, oldPage, newPage)).toEqual(delta);
        expectBytes(decodeWith(impl, delta, oldPage), newPage);
      });

      it('encodes an unchanged page as nothing', () => {
        const page = new Uint8Array(4096).fill(9);
        expect(encodeWith(impl, page, page.slice())).toEqual(new Uint8Array(0));
        expectBytes(decodeWith(impl, new Uint8Array(0), page), page);
      });

      it('round-trips any edit of any page (property)', () => {
        fc.assert(
          fc.property(pageArb(4096), editsArb(4096), (oldPage, edits) => {
            const newPage = mutate(oldPage, edits);
            const delta = encodeWith(impl, oldPage, newPage);
            if (delta === null) return;
            expect(delta.length).toBeLessThan(4096);
            expectBytes(decodeWith(impl, delta, oldPage), newPage);
          }),
          { numRuns: 150 },
        );
      });

      it('returns null when every byte changed', () => {
        const oldPage = new Uint8Array(4096).fill(1);
        expect(encodeWith(impl, oldPage, new Uint8Array(4096).fill(2))).toBeNull();
      });

      it('returns null for alternating changed bytes (the delta would be 1.5x the page)', () => {
        const oldPage = new Uint8Array(4096);
        const newPage = oldPage.map((_, i) => (i % 2 === 0 ? 0xaa : 0));
        expect(encodeWith(impl, oldPage, newPage)).toBeNull();
      });

      it('encodes alternating bytes over part of a page as 1-byte runs', () => {
        const oldPage = new Uint8Array(4096);
        const newPage = oldPage.slice();
        for (let i = 0; i < 200; i += 2) newPage[i] = 0x55;
        const delta = encodeWith(impl, oldPage, newPage)!;
        // zrun 0 + nzrun 1 + byte, then 99 times: zrun 1 + nzrun 1 + byte
        expect(delta.length).toBe(3 + 99 * 3);
        expect([...delta.subarray(0, 6)]).toEqual([0x00, 0x01, 0x55, 0x01, 0x01, 0x55]);
        expectBytes(decodeWith(impl, delta, oldPage), newPage);
      });

      it('agrees with QEMU on the 1- and 2-byte length boundary (127/128)', () => {
        const oldPage = new Uint8Array(4096);
        const newPage = oldPage.slice();
        newPage.fill(7, 127, 127 + 128);
        const delta = encodeWith(impl, oldPage, newPage)!;
        expect([...delta.subarray(0, 3)]).toEqual([0x7f, 0x80, 0x01]);
        expect(delta.length).toBe(3 + 128);
        expectBytes(decodeWith(impl, delta, oldPage), newPage);
      });

      it('handles the 14-bit run limit on large pages', () => {
        const size = 65536;
        const oldPage = new Uint8Array(size);
        for (const zrun of [16382, 16383, 16384, 16385, 16386, 32767, 32768, 32769, 49151, 65535]) {
          const newPage = oldPage.slice();
          newPage[zrun] = 1;
          const delta = encodeWith(impl, oldPage, newPage);
          expect(delta, `zrun ${zrun}`).not.toBeNull();
          expectBytes(decodeWith(impl, delta!, oldPage), newPage, `zrun ${zrun}`);
        }
        // A changed run of exactly 16383 bytes is encodable; one byte more is not (send the page whole).
        const run14 = oldPage.slice();
        run14.fill(3, 100, 100 + 16383);
        const d14 = encodeWith(impl, oldPage, run14)!;
        expect([...d14.subarray(0, 3)]).toEqual([0x64, 0xff, 0x7f]);
        expectBytes(decodeWith(impl, d14, oldPage), run14);
        const run15 = oldPage.slice();
        run15.fill(3, 100, 100 + 16384);
        expect(encodeWith(impl, oldPage, run15)).toBeNull();
      });

      it('round-trips on a 32 KiB page with long runs (property)', () => {
        const size = 32768;
        fc.assert(
          fc.property(
            fc.array(
              fc.tuple(fc.nat(size - 1), fc.integer({ min: 1, max: 9000 }), fc.integer({ min: 1, max: 255 })),
              {
                maxLength: 4,
              },
            ),
            (edits) => {
              const oldPage = new Uint8Array(size).map((_, i) => i * 31);
              const newPage = mutate(oldPage, edits);
              const delta = encodeWith(impl, oldPage, newPage);
              if (delta !== null) expectBytes(decodeWith(impl, delta, oldPage), newPage);
            },
          ),
          { numRuns: 40 },
        );
      });

      it('rejects every malformed shape with a typed reason and leaves the target untouched', () => {
        const oldPage = new Uint8Array(4096).fill(4);
        const cases: Array<[number[], string]> = [
          [[0x05], 'truncated'],
          [[0x05, 0x03, 0x01], 'truncated'],
          [[0x80, 0x80, 0x01], 'length-too-long'],
          [[0x00, 0x01, 0x07, 0x00, 0x01, 0x07], 'zero-length-unchanged-run'],
          [[0x05, 0x00, 0x07], 'zero-length-changed-run'],
          [[0x80, 0x20, 0x01, 0x07], 'past-end-of-page'],
          [[0xff, 0x1f, 0x02, 0x07, 0x07], 'past-end-of-page'],
        ];
        for (const [bytes, reason] of cases) {
          const target = oldPage.slice();
          let caught: unknown;
          try {
            decodeWith(impl, Uint8Array.from(bytes), oldPage, target);
          } catch (err) {
            caught = err;
          }
          expect(caught, `${bytes}`).toBeInstanceOf(XbzrleDecodeError);
          expect((caught as XbzrleDecodeError).code).toBe('MC_ERR_XBZRLE_MALFORMED');
          expect((caught as XbzrleDecodeError).reason, `${bytes}`).toBe(reason);
          expectBytes(target, oldPage);
        }
      });

      it('survives truncated and corrupted deltas: a typed error or a page, nothing else (fuzz)', () => {
        fc.assert(
          fc.property(
            pageArb(4096),
            editsArb(4096),
            fc.nat(),
            fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
            (oldPage, edits, cut, flips) => {
              const delta = encodeWith(impl, oldPage, mutate(oldPage, edits));
              if (delta === null || delta.length === 0) return;
              const bad = delta.slice(0, 1 + (cut % delta.length));
              for (const [at, value] of flips) bad[at % bad.length] = value;
              const target = oldPage.slice();
              try {
                decodeWith(impl, bad, oldPage, target);
              } catch (err) {
                expect(err).toBeInstanceOf(XbzrleDecodeError);
                expectBytes(target, oldPage);
              }
            },
          ),
          { numRuns: 300 },
        );
      });

      it('never throws anything but a typed error on random bytes (fuzz)', () => {
        const oldPage = new Uint8Array(4096);
        fc.assert(
          fc.property(fc.uint8Array({ maxLength: 9000 }), (junk) => {
            try {
              decodeWith(impl, junk, oldPage);
            } catch (err) {
              expect(err).toBeInstanceOf(XbzrleDecodeError);
            }
          }),
          { numRuns: 300 },
        );
      });
    });
  }

  it('the WebAssembly kernel and the JS fallback produce identical deltas and errors (property)', () => {
    fc.assert(
      fc.property(pageArb(4096), editsArb(4096), fc.integer({ min: 0, max: 3 }), (oldPage, edits, shift) => {
        // Unaligned views exercise the JS byte path against the kernel.
        const backing = new Uint8Array(4096 * 2 + 8);
        const o = backing.subarray(shift, shift + 4096);
        o.set(oldPage);
        const newPage = mutate(oldPage, edits);
        const a = encodeWith('wasm-simd', o, newPage);
        const b = encodeWith('js', o, newPage);
        if (a === null || b === null) expect(a).toBe(b);
        else expectBytes(a, b);
        if (a !== null && a.length > 1) {
          const broken = a.slice(0, a.length - 1);
          const errs = IMPLS.map((impl) => {
            try {
              return decodeWith(impl, broken, o);
            } catch (err) {
              return err instanceof XbzrleDecodeError ? `${err.reason}@${err.offset}` : err;
            }
          });
          if (errs[0] instanceof Uint8Array) expectBytes(errs[1] as Uint8Array, errs[0]);
          else expect(errs[0]).toEqual(errs[1]);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('public functions: output buffer, in-place decode, and argument checks', () => {
    const { oldPage, newPage, delta } = goldenPages();
    const out = new Uint8Array(4095);
    const view = xbzrleEncode(oldPage, newPage, out)!;
    expect(view.buffer).toBe(out.buffer);
    expect(view).toEqual(delta);
    const inPlace = oldPage.slice();
    expect(xbzrleDecode(delta, inPlace, inPlace)).toBe(inPlace);
    expectBytes(inPlace, newPage);
    expect(() => xbzrleEncode(oldPage, new Uint8Array(10))).toThrow(/newPage/);
    expect(() => xbzrleEncode(oldPage, newPage, new Uint8Array(10))).toThrow(/output/);
    expect(() => xbzrleDecode(delta, oldPage, new Uint8Array(10))).toThrow(/target/);
  });
});
