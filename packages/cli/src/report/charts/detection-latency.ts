import { splitDistributionCase } from '../case-names.js';
import { defineComparisonChart } from './define-chart.js';

/** Time to suspect or convict a faulty peer, per fault (keepalive suite), against what TCP notices. */
export const detectionLatencyChart = defineComparisonChart({
  id: 'detection-latency',
  title: 'Failure detection latency per fault',
  suite: 'keepalive',
  baseline:
    'TCP noticing the same fault (EOF after SIGKILL; retransmission timeout under DROP, capped) or the deadline',
  unit: 'ms',
  seriesTitle: 'statistic',
  grouped: true,
  place(c) {
    const split = splitDistributionCase(c.name);
    return split === undefined ? undefined : { group: split.base, series: split.statistic };
  },
});
