import type { BenchCase } from './results.js';

/** Options every suite receives from the runner. */
export interface SuiteOptions {
  /** Shortened run for CI smoke tests: every suite together stays under two minutes. */
  quick: boolean;
}

/** A benchmark suite answers one question; it returns cases, each against its physical baseline. */
export interface BenchSuite {
  name: string;
  /** What the suite measures and what its baseline is, printed before it runs. */
  question: string;
  run(options: SuiteOptions): Promise<BenchCase[]>;
}
