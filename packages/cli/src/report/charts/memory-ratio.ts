import { defineComparisonChart } from './define-chart.js';

// checkpoint-store writes `RAM/logical <page mix>, <store configuration>`.
const MEMORY_CASE = /^RAM\/logical (.+?), (.+)$/;

/** RAM the secondary holds per byte of protected memory, per page mix (checkpoint-store suite). */
export const memoryRatioChart = defineComparisonChart({
  id: 'memory-ratio',
  title: 'Secondary memory per byte of protected memory, per page mix',
  suite: 'checkpoint-store',
  baseline: '1.0, a plain copy of the protected memory',
  unit: 'ratio',
  seriesTitle: 'store',
  grouped: true,
  place(c) {
    const match = MEMORY_CASE.exec(c.name);
    return match === null ? undefined : { group: match[1]!, series: match[2]! };
  },
});
