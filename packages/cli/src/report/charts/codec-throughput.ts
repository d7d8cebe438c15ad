import { defineComparisonChart } from './define-chart.js';

// checkpoint-store names its throughput cases `<operation> ... (MB/s)`; the operation colours the bar.
const OPERATIONS = ['commit', 'materialize', 'xbzrle encode', 'xbzrle decode'] as const;

/** Commit, materialize and XBZRLE codec throughput (checkpoint-store suite) against a contiguous copy. */
export const codecThroughputChart = defineComparisonChart({
  id: 'codec-throughput',
  title: 'Checkpoint store and codec throughput vs a contiguous copy',
  suite: 'checkpoint-store',
  baseline: 'a contiguous copy of the same bytes (per operation, in the same run)',
  unit: 'MB/s',
  seriesTitle: 'operation',
  grouped: false,
  place(c) {
    const operation = OPERATIONS.find((op) => c.name.startsWith(`${op} `));
    return operation === undefined
      ? undefined
      : { group: c.name.replace(/ \(MB\/s\)$/, ''), series: operation };
  },
});
