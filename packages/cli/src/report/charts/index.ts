import { arbitrationCostChart } from './arbitration-cost.js';
import { captureBandwidthChart } from './capture-bandwidth.js';
import type { ChartDefinition } from './chart.js';
import { codecThroughputChart } from './codec-throughput.js';
import { detectionLatencyChart } from './detection-latency.js';
import { failoverTimeChart } from './failover-time.js';
import { faultRecoveryChart } from './fault-recovery.js';
import { memoryRatioChart } from './memory-ratio.js';
import { outputCommitChart } from './output-commit.js';
import { pauseTimeChart } from './pause-time.js';
import { rdmaSimThroughputChart } from './rdma-sim-throughput.js';
import { transportThroughputChart } from './transport-throughput.js';

export type { ChartDefinition, ComparisonRow } from './chart.js';

/** Every chart of the report, in the order the report shows them. */
export const REPORT_CHARTS: readonly ChartDefinition[] = [
  captureBandwidthChart,
  pauseTimeChart,
  transportThroughputChart,
  codecThroughputChart,
  memoryRatioChart,
  detectionLatencyChart,
  failoverTimeChart,
  faultRecoveryChart,
  arbitrationCostChart,
  outputCommitChart,
  rdmaSimThroughputChart,
];
