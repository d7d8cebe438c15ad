import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DISTRIBUTION_STATISTICS, splitDistributionCase } from '../src/report/case-names.js';

describe('splitDistributionCase', () => {
  it('splits every `<base> <statistic>` name back into its base and statistic', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.constantFrom(...DISTRIBUTION_STATISTICS),
        (base, statistic) => {
          expect(splitDistributionCase(`${base} ${statistic}`)).toEqual({ base, statistic });
        },
      ),
    );
  });

  it('reads the statistic placed before a `vs ...` baseline label', () => {
    expect(
      splitDistributionCase('pause per epoch p99 vs epoch, 10 ms epochs, 100 clients x 64 pipelined (ms)'),
    ).toEqual({
      base: 'pause per epoch vs epoch, 10 ms epochs, 100 clients x 64 pipelined (ms)',
      statistic: 'p99',
    });
  });

  it('leaves names that are not one statistic of a distribution alone', () => {
    for (const name of [
      '4 KiB messages crc32c',
      'TCP DROP detection (> cap)',
      'p50',
      'maximum p50x',
      'x max2',
    ]) {
      expect(splitDistributionCase(name), name).toBeUndefined();
    }
  });
});
