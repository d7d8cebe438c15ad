import { splitDistributionCase } from '../case-names.js';
import { defineComparisonChart } from './define-chart.js';

// mc-core writes `pause per epoch <statistic> vs epoch, <configuration> (ms)`.
const PAUSE_CASE = /^pause per epoch vs epoch, (.+?)(?: \(ms\))?$/;

/** How long the guest stands per epoch (mc-core suite), per configuration, against the epoch. */
export const pauseTimeChart = defineComparisonChart({
  id: 'pause-time',
  title: 'Pause per epoch (distribution) vs the epoch length',
  suite: 'mc-core',
  baseline: 'the epoch interval (a pause as long as the epoch would leave the guest no time to run)',
  unit: 'ms',
  seriesTitle: 'statistic',
  grouped: true,
  place(c) {
    const split = splitDistributionCase(c.name);
    const match = split === undefined ? null : PAUSE_CASE.exec(split.base);
    return match === null || split === undefined ? undefined : { group: match[1]!, series: split.statistic };
  },
});
