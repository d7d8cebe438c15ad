import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveFaultPlan } from '../src/index.js';
import { copyRange, Placer, segmentOrder } from '../src/nic/placement.js';

/** Cuts `bytes` into views at the given cut points. */
function cut(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) pieces.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  return pieces;
}

describe('placement', () => {
  it('copies any range between any two piece lists exactly like one flat copy', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.nat(),
        fc.nat(),
        (source, sourceCuts, targetCuts, a, b) => {
          const from = a % source.length;
          const length = b % (source.length - from + 1);
          const target = new Uint8Array(source.length);
          copyRange(cut(source, sourceCuts), cut(target, targetCuts), from, length);
          const expected = new Uint8Array(source.length);
          expected.set(source.subarray(from, from + length), from);
          expect([...target]).toEqual([...expected]);
        },
      ),
    );
  });

  it('orders segments as the plan says, always a permutation of the MTU segments', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20_000 }),
        fc.constantFrom(256, 1024, 4096),
        fc.constantFrom('in-order' as const, 'reverse' as const, 'shuffle' as const),
        fc.integer({ min: 1, max: 0xffff_ffff }),
        (length, mtu, placementOrder, seed) => {
          const order = segmentOrder(length, mtu, resolveFaultPlan({ placementOrder, seed }), { x: seed });
          const starts = Array.from({ length: Math.ceil(length / mtu) }, (_, i) => i * mtu);
          expect([...order].sort((p, q) => p - q)).toEqual(starts);
          if (placementOrder === 'in-order') expect(order).toEqual(starts);
          if (placementOrder === 'reverse') expect(order).toEqual([...starts].reverse());
        },
      ),
    );
    const plan = resolveFaultPlan({ placementOrder: 'shuffle', seed: 7 });
    expect(segmentOrder(64 * 256, 256, plan, { x: 7 })).toEqual(segmentOrder(64 * 256, 256, plan, { x: 7 }));
  });

  it('places the same bytes whatever the order', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 5000 }),
        fc.constantFrom('in-order' as const, 'reverse' as const, 'shuffle' as const),
        fc.array(fc.nat(), { maxLength: 5 }),
        (source, placementOrder, cuts) => {
          const target = new Uint8Array(source.length);
          new Placer(resolveFaultPlan({ placementOrder, seed: 3 })).place(
            cut(source, cuts),
            [target],
            source.length,
            256,
          );
          expect(Buffer.from(target).equals(Buffer.from(source))).toBe(true);
        },
      ),
    );
  });
});
