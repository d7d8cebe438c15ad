import { add, complete, cycle, suite } from 'benny';
import type { SuiteOptions } from './suite.js';

/** A function benny measures; it may return a promise. */
export type Measured = () => unknown;

/**
 * Runs measured functions through one benny suite and returns operations per second for each, in
 * order. Alternatives measured in one suite share one process and one warm-up, which is what makes
 * their ratio meaningful on a noisy machine.
 */
export async function opsPerSecond(
  title: string,
  cases: ReadonlyArray<{ name: string; fn: Measured }>,
  options: SuiteOptions,
): Promise<number[]> {
  const timing = options.quick ? { maxTime: 0.4, minSamples: 3 } : { maxTime: 3, minSamples: 10 };
  const summary = await suite(
    title,
    ...cases.map(({ name, fn }) => add(name, fn, timing)),
    cycle(),
    complete(),
  );
  return cases.map(({ name }) => {
    const result = summary.results.find((r) => r.name === name);
    if (!result) throw new Error(`benny returned no result for case ${name}`);
    return result.ops;
  });
}
