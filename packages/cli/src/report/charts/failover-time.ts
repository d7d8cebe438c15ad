import { splitDistributionCase } from '../case-names.js';
import { defineComparisonChart } from './define-chart.js';
import { dominantUnit } from './select-rows.js';

/**
 * Failover time per arbiter (failover suite). Each distribution the suite names (one per arbiter and
 * fault) becomes a band with its statistics as bars; a case that is not a distribution gets its own band.
 */
export const failoverTimeChart = defineComparisonChart({
  id: 'failover-time',
  title: 'Failover time per arbiter',
  suite: 'failover',
  baseline: 'the physical floor each case names (e.g. the detector deadline), measured in the same run',
  unit: (results) => dominantUnit(results.cases),
  seriesTitle: 'statistic',
  grouped: true,
  place(c) {
    const split = splitDistributionCase(c.name);
    return split === undefined
      ? { group: c.name, series: 'value' }
      : { group: split.base, series: split.statistic };
  },
});
