/** The statistics a distribution is reported as, one case each: `<case> p50`, `<case> p99`, `<case> max`. */
export const DISTRIBUTION_STATISTICS = ['p50', 'p99', 'max'] as const;

export type DistributionStatistic = (typeof DISTRIBUTION_STATISTICS)[number];

/** A case name split into the distribution it belongs to and its statistic. */
export interface DistributionCaseName {
  /** The name without the statistic, e.g. `SIGKILL conviction (vs TCP EOF)`. */
  base: string;
  statistic: DistributionStatistic;
}

// `<base> <statistic>`, the form `distributionCases` writes.
const TRAILING_STATISTIC = /^([\s\S]+) (p50|p99|max)$/;
// `<name> <statistic> <baseline label>`, e.g. `pause per epoch p50 vs epoch, 20 ms epochs (ms)`, where a
// suite put the statistic before the label of what it is compared with.
const INNER_STATISTIC = /^([\s\S]+?) (p50|p99|max) (vs [\s\S]+)$/;

/**
 * Splits a case name into its distribution and statistic; `undefined` for a case that is not one
 * statistic of a distribution.
 */
export function splitDistributionCase(name: string): DistributionCaseName | undefined {
  const trailing = TRAILING_STATISTIC.exec(name);
  if (trailing !== null) return { base: trailing[1]!, statistic: trailing[2] as DistributionStatistic };
  const inner = INNER_STATISTIC.exec(name);
  if (inner !== null)
    return { base: `${inner[1]} ${inner[3]}`, statistic: inner[2] as DistributionStatistic };
  return undefined;
}
