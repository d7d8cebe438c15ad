import { Buffer } from 'node:buffer';
import { expect } from 'vitest';

/** Byte equality through memcmp: vitest's deep equality walks a 64 KiB page element by element. */
export function expectBytes(actual: Uint8Array | null | undefined, expected: Uint8Array, label = ''): void {
  expect(actual, label).toBeInstanceOf(Uint8Array);
  const a = actual as Uint8Array;
  if (a.length !== expected.length || Buffer.compare(a, expected) !== 0) {
    let at = 0;
    while (at < Math.min(a.length, expected.length) && a[at] === expected[at]) at++;
    expect.fail(`${label} bytes differ: lengths ${a.length}/${expected.length}, first difference at ${at}`);
  }
}

/** Runs background work until the store has none left (bounded: a store that never settles fails). */
export function settle(store: { maintain(budgetMs?: number): boolean }, maxCalls = 10_000): void {
  for (let i = 0; i < maxCalls; i++) if (!store.maintain(50)) return;
  expect.fail(`background work did not settle in ${maxCalls} maintain() calls`);
}
