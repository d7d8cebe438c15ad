import { defineComparisonChart } from './define-chart.js';

// mc-core writes `capture <kernel> <pattern> <percent dirty> (<memory size>)`.
const CAPTURE_CASE = /^capture (\S+) (.+)$/;

/** Capture bandwidth per dirty pattern and kernel (mc-core suite) against one contiguous copy. */
export const captureBandwidthChart = defineComparisonChart({
  id: 'capture-bandwidth',
  title: 'Capture bandwidth vs one contiguous copy',
  suite: 'mc-core',
  baseline: 'one contiguous TypedArray copy of the same number of bytes (best copy kernel)',
  unit: 'MB/s',
  seriesTitle: 'capture kernel',
  grouped: true,
  place(c) {
    const match = CAPTURE_CASE.exec(c.name);
    return match === null ? undefined : { group: match[2]!, series: match[1]! };
  },
});
