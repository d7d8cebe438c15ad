import { cpus } from 'node:os';
import type { SuiteResults } from './results-file.js';

/** The machine a suite's figures come from, as every chart states it. */
export interface MachineDescription {
  cpu: string;
  cores: number;
  node: string;
}

/**
 * Describes the machine behind `results`. The runner records the Node version; CPU model and core count
 * come from the file when a runner recorded them, else from this machine, which is the one that ran the
 * suites whenever `mcft bench` runs them and renders the report in one go.
 */
export function describeMachine(results: SuiteResults): MachineDescription {
  const here = cpus();
  const model = results.cpu ?? here[0]?.model?.trim() ?? 'unknown CPU';
  return {
    cpu: model === '' ? 'unknown CPU' : model,
    cores: results.cores ?? here.length,
    node: results.node,
  };
}

/** One line for a chart subtitle: `AMD EPYC, 2 cores, Node v20.20.2`. */
export function formatMachine(machine: MachineDescription): string {
  return `${machine.cpu}, ${machine.cores} ${machine.cores === 1 ? 'core' : 'cores'}, Node ${machine.node}`;
}
