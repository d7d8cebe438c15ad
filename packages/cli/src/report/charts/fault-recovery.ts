import { splitDistributionCase } from '../case-names.js';
import { defineComparisonChart } from './define-chart.js';

// `<nemesis> <arbiter> recover <statistic>` and `reprotected <nemesis> <arbiter> recover ...`, as the
// fault harness writes them (packages/fault-harness/src/report.ts).
const RECOVER_CASE = /^(reprotected )?(\S+) (\S+) recover$/;

/**
 * Time without service after each fault of the fault harness (`npm run test:faults`, faults suite):
 * its median per nemesis, one bar per arbiter, against the detection deadline. Faults thrown at a
 * pair re-protected by the spare get a group of their own.
 */
export const faultRecoveryChart = defineComparisonChart({
  id: 'fault-recovery',
  title: 'Time without service per fault and arbiter (fault harness, median)',
  suite: 'faults',
  baseline: 'the detection deadline (10 missed 20 ms heartbeats)',
  unit: 'ms',
  seriesTitle: 'arbiter',
  grouped: true,
  place(c) {
    const split = splitDistributionCase(c.name);
    if (split?.statistic !== 'p50') return undefined;
    const match = RECOVER_CASE.exec(split.base);
    if (match === null) return undefined;
    const [, reprotected, nemesis, arbiter] = match;
    return { group: `${reprotected ? 're-protected pair: ' : ''}${nemesis}`, series: arbiter! };
  },
});
