import { randomFillSync } from 'node:crypto';
import { type CheckpointStoreOptions, createCheckpointStore, InvalidOptionError } from '../src/index.js';

/** The smallest RAM budget a store with these options accepts (read from the error that names it). */
export function minimumBudget(options: CheckpointStoreOptions): number {
  try {
    createCheckpointStore({ ...options, ramBudgetBytes: 1 }).close();
  } catch (err) {
    const match = err instanceof InvalidOptionError ? /at least (\d+) bytes/.exec(err.message) : null;
    if (match) return Number(match[1]);
    throw err;
  }
  throw new Error('a budget of 1 byte was accepted');
}

/** Deterministic page contents for the store tests. */
export type PageKind = 'zero' | 'random' | 'text' | 'fill';

const WORDS =
  'the of and to in is was that for on with as by at from his her which or an be this had not are but'.split(
    ' ',
  );

/** A small deterministic PRNG (xorshift32). */
export function prng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

export function makePage(kind: PageKind, seed: number, size = 4096): Uint8Array {
  const page = new Uint8Array(size);
  fillPage(page, kind, seed);
  return page;
}

export function fillPage(page: Uint8Array, kind: PageKind, seed: number): void {
  const size = page.length;
  switch (kind) {
    case 'zero':
      page.fill(0);
      return;
    case 'random':
      randomFillSync(page);
      return;
    case 'fill':
      page.fill((seed % 7) + 1);
      return;
    case 'text': {
      const rnd = prng(seed + 1);
      let at = 0;
      while (at < size) {
        const word = WORDS[Math.floor(rnd() * WORDS.length)]!;
        for (let i = 0; i < word.length && at < size; i++) page[at++] = word.charCodeAt(i);
        if (at < size) page[at++] = 0x20;
      }
    }
  }
}
