import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDedupFilter, InvalidArgumentError, InvalidOptionError } from '../src/index.js';

describe('dedup filter', () => {
  it('accepts each seq once per source, dropping re-emitted ones at or below the highest seen', () => {
    const filter = createDedupFilter();
    const verdicts = [0, 1, 2, 1, 2, 3, 0].map((seq) => filter.check({ source: 'a', seq }));
    expect(verdicts).toEqual(['accept', 'accept', 'accept', 'duplicate', 'duplicate', 'accept', 'duplicate']);
    expect(filter.accept({ source: 'b', seq: 0 })).toBe(true);
    expect(filter.highestSeq('a')).toBe(3);
    expect(filter.highestSeq('nobody')).toBe(-1);
    expect(filter.stats).toEqual({ accepted: 5, duplicates: 3, stale: 0 });
  });

  it('any in-order stream with replayed prefixes is reduced to the original stream', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(50), { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        (raw, replays) => {
          const original = [...new Set(raw)].sort((a, b) => a - b);
          // Failovers re-emit a suffix of what was already delivered, then carry on.
          let stream: number[] = [];
          let delivered = 0;
          for (const r of [...replays, original.length]) {
            const upTo = Math.min(original.length, Math.max(delivered, r % (original.length + 1)));
            stream = stream.concat(original.slice(delivered, upTo));
            const back = r % (upTo + 1);
            stream = stream.concat(original.slice(upTo - back, upTo));
            delivered = upTo;
          }
          stream = stream.concat(original.slice(delivered));
          const filter = createDedupFilter();
          expect(stream.filter((seq) => filter.accept({ source: 's', seq }))).toEqual(original);
        },
      ),
    );
  });

  it('with trackGeneration, rejects a lower generation once a higher one was seen', () => {
    const filter = createDedupFilter({ trackGeneration: true });
    expect(filter.check({ source: 's', seq: 0, generation: 1 })).toBe('accept');
    expect(filter.check({ source: 's', seq: 0, generation: 2 })).toBe('duplicate'); // re-emitted under gen 2
    expect(filter.check({ source: 's', seq: 1, generation: 1 })).toBe('stale-generation'); // deposed primary
    expect(filter.check({ source: 's', seq: 1, generation: 2 })).toBe('accept');
    expect(filter.generation('s')).toBe(2);
    expect(() => filter.check({ source: 's', seq: 2 })).toThrow(InvalidArgumentError);
  });

  it('restarts from saved state', () => {
    const first = createDedupFilter({ trackGeneration: true });
    first.accept({ source: 's', seq: 4, generation: 3 });
    const second = createDedupFilter({ trackGeneration: true, initial: first.state() });
    expect(second.check({ source: 's', seq: 4, generation: 3 })).toBe('duplicate');
    expect(second.check({ source: 's', seq: 5, generation: 2 })).toBe('stale-generation');
    expect(second.check({ source: 's', seq: 5, generation: 3 })).toBe('accept');
  });

  it('validates options and inputs', () => {
    expect(() => createDedupFilter({ trackGeneration: 1 as never })).toThrow(InvalidOptionError);
    expect(() => createDedupFilter({ maxSources: 0 })).toThrow(InvalidOptionError);
    expect(() => createDedupFilter({ initial: 5 as never })).toThrow(InvalidOptionError);
    expect(() => createDedupFilter({ initial: [{ source: 's', highestSeq: -2, generation: 0 }] })).toThrow(
      InvalidOptionError,
    );
    const filter = createDedupFilter({ maxSources: 1 });
    filter.accept({ source: 'a', seq: 0 });
    expect(() => filter.accept({ source: 'b', seq: 0 })).toThrow(InvalidArgumentError);
    expect(() => filter.accept({ source: 'a', seq: -1 })).toThrow(InvalidArgumentError);
  });
});
