import { defineComparisonChart } from './define-chart.js';

// io-cork writes `<item size> items, <sink>: MB/s` (and the same in items/s, left off: one axis).
const THROUGHPUT_CASE = /^(.+) items, (.+): MB\/s$/;

/** Output commit throughput (io-cork suite) against writing the same bytes straight to the same sink. */
export const outputCommitChart = defineComparisonChart({
  id: 'output-commit',
  title: 'Output commit throughput vs writing straight to the sink',
  suite: 'io-cork',
  baseline: 'the same bytes written straight to the same sink (callback; corked loopback socket)',
  unit: 'MB/s',
  seriesTitle: 'item size',
  grouped: true,
  place(c) {
    const match = THROUGHPUT_CASE.exec(c.name);
    return match === null ? undefined : { group: match[2]!, series: match[1]! };
  },
});
