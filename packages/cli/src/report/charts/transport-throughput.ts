import { defineComparisonChart } from './define-chart.js';

// transport-tcp writes `<size> messages <checksum>`.
const TRANSPORT_CASE = /^(.+) messages (\S+)$/;

/** Framed, checksummed transport throughput per message size (transport-tcp suite) against a raw socket. */
export const transportThroughputChart = defineComparisonChart({
  id: 'transport-throughput',
  title: 'Transport throughput vs a raw socket',
  suite: 'transport-tcp',
  baseline: 'a raw node:net socket between the same two processes sending the same bytes',
  unit: 'MB/s',
  seriesTitle: 'checksum',
  grouped: true,
  place(c) {
    const match = TRANSPORT_CASE.exec(c.name);
    return match === null ? undefined : { group: `${match[1]} messages`, series: match[2]! };
  },
});
