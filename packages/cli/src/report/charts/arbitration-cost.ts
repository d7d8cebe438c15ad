import { splitDistributionCase } from '../case-names.js';
import { defineComparisonChart } from './define-chart.js';

/** What arbitration through etcd costs per operation, and takeover after a lapsed grant (arbiter-etcd suite). */
export const arbitrationCostChart = defineComparisonChart({
  id: 'arbitration-cost',
  title: 'etcd arbiter: operation cost and takeover after a lapsed grant',
  suite: 'arbiter-etcd',
  baseline: 'the etcd round trip it cannot avoid (one put; one linearizable get) or the grant TTL',
  unit: 'ms',
  seriesTitle: 'statistic',
  grouped: true,
  place(c) {
    const split = splitDistributionCase(c.name);
    return split === undefined ? undefined : { group: split.base, series: split.statistic };
  },
});
