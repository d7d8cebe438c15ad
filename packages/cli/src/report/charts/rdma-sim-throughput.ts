import { defineComparisonChart } from './define-chart.js';

// transport-rdma-sim writes `<fabric> RDMA_WRITE <size>`.
const RDMA_CASE = /^(.+) RDMA_WRITE (.+)$/;

/** Simulated RDMA WRITE throughput per fabric (transport-rdma-sim suite) against its fabric's baseline. */
export const rdmaSimThroughputChart = defineComparisonChart({
  id: 'rdma-sim-throughput',
  title: 'Simulated RDMA WRITE throughput per fabric',
  suite: 'transport-rdma-sim',
  baseline: 'shared memory: TypedArray.set of the same bytes; TCP: transport-tcp messages of the same size',
  unit: 'MB/s',
  seriesTitle: 'write size',
  grouped: true,
  place(c) {
    const match = RDMA_CASE.exec(c.name);
    return match === null ? undefined : { group: match[1]!, series: match[2]! };
  },
});
