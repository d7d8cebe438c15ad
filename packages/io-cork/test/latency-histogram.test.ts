import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../src/latency-histogram.js';

describe('latency histogram', () => {
  it('quantiles are within 12.5% of the exact nearest-rank value, never below it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000_000 }), { minLength: 1, maxLength: 300 }),
        (us) => {
          const histogram = new LatencyHistogram();
          for (const value of us) histogram.recordMs(value / 1000);
          const sorted = [...us].sort((a, b) => a - b);
          for (const q of [0.5, 0.9, 0.99, 1]) {
            const exact = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
            const estimate = histogram.quantileMs(q) * 1000;
            expect(estimate).toBeGreaterThanOrEqual(exact - 1e-6);
            expect(estimate).toBeLessThanOrEqual(Math.max(exact * 1.125, exact + 1) + 1e-6);
          }
          const snapshot = histogram.snapshot();
          expect(snapshot.count).toBe(us.length);
          expect(snapshot.buckets.reduce((n, b) => n + b.count, 0)).toBe(us.length);
          expect(snapshot.maxMs).toBe(sorted[sorted.length - 1]! / 1000);
          expect(snapshot.minMs).toBe(sorted[0]! / 1000);
        },
      ),
    );
  });

  it('is empty-safe, clamps huge values and resets', () => {
    const histogram = new LatencyHistogram();
    expect(histogram.snapshot().p50Ms).toBeNaN();
    histogram.recordMs(-5);
    histogram.recordMs(1e12);
    expect(histogram.count).toBe(2);
    expect(histogram.snapshot().buckets).toHaveLength(2);
    histogram.reset();
    expect(histogram.snapshot().count).toBe(0);
  });
});
