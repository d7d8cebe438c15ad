import { InvalidArgumentError } from './errors.js';

/**
 * A small seeded pseudo-random generator (mulberry32: a 32-bit state advanced by a Weyl constant
 * and mixed). Not cryptographic; what matters is that one seed gives one sequence on every machine
 * and Node version, so a schedule or a workload can be replayed exactly.
 */
export interface Prng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max], both included. */
  int(min: number, max: number): number;
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** A new generator derived from this one's seed and `label` (independent streams per client). */
  fork(label: number): Prng;
}

/** Seeds are unsigned 32-bit integers; anything else is refused rather than silently truncated. */
export function checkSeed(seed: number): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new InvalidArgumentError(`a seed is an integer from 0 to 4294967295, got ${String(seed)}`);
  }
  return seed >>> 0;
}

/** Creates a generator from a 32-bit seed. */
export function createPrng(seed: number): Prng {
  const origin = checkSeed(seed);
  let state = origin;
  const nextUint32 = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const prng: Prng = {
    next: () => nextUint32() / 0x100000000,
    int(min, max) {
      if (!Number.isInteger(min) || !Number.isInteger(max) || max < min) {
        throw new InvalidArgumentError(`int(min, max) needs integers with min <= max, got ${min}, ${max}`);
      }
      return min + Math.floor(prng.next() * (max - min + 1));
    },
    pick(items) {
      if (items.length === 0) throw new InvalidArgumentError('pick() from an empty array');
      return items[Math.floor(prng.next() * items.length)] as (typeof items)[number];
    },
    fork(label) {
      // Mix the label into the origin seed so forks of one seed differ, and stay reproducible.
      return createPrng(
        (Math.imul(origin ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(label + 1, 0xc2b2ae35)) >>> 0,
      );
    },
  };
  return prng;
}
