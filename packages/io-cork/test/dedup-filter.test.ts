import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createDedupFilter,
  InvalidArgumentError,
  InvalidOptionError,
  StaleGenerationError,
} from '../src/index.js';

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

  it('by default, drops and counts output of an older generation arriving after a newer one (failover chain 1 → 2 → 3)', () => {
    const filter = createDedupFilter();
    // Generation 1 (primary A) delivers seqs 0..2; B takes over as generation 2, re-emits 2, goes on.
    for (const seq of [0, 1, 2]) expect(filter.check({ source: 's', seq, generation: 1 })).toBe('accept');
    expect(filter.check({ source: 's', seq: 2, generation: 2 })).toBe('duplicate');
    expect(filter.check({ source: 's', seq: 3, generation: 2 })).toBe('accept');
    // A late packet of A (seq 3 of generation 1: never committed) arrives after B's seq 3.
    expect(filter.check({ source: 's', seq: 3, generation: 1 })).toBe('stale-generation');
    // C takes over as generation 3; B's late output with a fresh seq is still refused.
    expect(filter.check({ source: 's', seq: 4, generation: 3 })).toBe('accept');
    expect(filter.check({ source: 's', seq: 5, generation: 2 })).toBe('stale-generation');
    expect(filter.check({ source: 's', seq: 9, generation: 1 })).toBe('stale-generation');
    expect(filter.check({ source: 's', seq: 5, generation: 3 })).toBe('accept');
    expect(filter.stats).toEqual({ accepted: 6, duplicates: 1, stale: 3 });
    expect(filter.generation('s')).toBe(3);
    expect(filter.highestSeq('s')).toBe(5);
    // Items without a generation skip the check unless trackGeneration is true.
    expect(filter.check({ source: 's', seq: 6 })).toBe('accept');
    expect(() => filter.check({ source: 's', seq: 7, generation: -1 })).toThrow(InvalidArgumentError);
  });

  it('ignores generations with trackGeneration: false', () => {
    const filter = createDedupFilter({ trackGeneration: false });
    expect(filter.check({ source: 's', seq: 0, generation: 5 })).toBe('accept');
    expect(filter.check({ source: 's', seq: 1, generation: 1 })).toBe('accept');
    expect(filter.stats.stale).toBe(0);
  });

  it('admit() throws a typed StaleGenerationError for a stale item, after counting it', () => {
    const filter = createDedupFilter();
    expect(filter.admit({ source: 's', seq: 0, generation: 4 })).toBe(true);
    expect(filter.admit({ source: 's', seq: 0, generation: 4 })).toBe(false);
    let error: unknown;
    try {
      filter.admit({ source: 's', seq: 1, generation: 3 });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StaleGenerationError);
    expect(error).toMatchObject({ code: 'MC_ERR_STALE_GENERATION', generation: 3, current: 4 });
    expect(filter.stats.stale).toBe(1);
    // The stale item did not move the seq: the owner's next item is accepted.
    expect(filter.admit({ source: 's', seq: 1, generation: 4 })).toBe(true);
  });

  it('any mix of generations: accepted items never go back in generation or seq, and every stale one is counted', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ seq: fc.nat(40), generation: fc.nat(5), source: fc.constantFrom('a', 'b') }), {
          maxLength: 60,
        }),
        (items) => {
          const filter = createDedupFilter();
          const newest = new Map<string, { generation: number; seq: number }>();
          let stale = 0;
          for (const item of items) {
            const before = newest.get(item.source) ?? { generation: -1, seq: -1 };
            const verdict = filter.check(item);
            if (item.generation < before.generation) {
              expect(verdict).toBe('stale-generation');
              stale++;
              continue;
            }
            expect(verdict).toBe(item.seq > before.seq ? 'accept' : 'duplicate');
            newest.set(item.source, {
              generation: item.generation,
              seq: Math.max(before.seq, item.seq),
            });
          }
          expect(filter.stats.stale).toBe(stale);
          expect(filter.stats.accepted + filter.stats.duplicates + filter.stats.stale).toBe(items.length);
        },
      ),
      { numRuns: 500 },
    );
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
