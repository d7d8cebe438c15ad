/**
 * @packageDocumentation
 * The fault harness (private): network-namespace test hosts, nemeses, a recording client workload and
 * a checker that judges the protected KV service from the clients' point of view.
 */
export {
  checkCounter,
  checkMonotonic,
  checkRegister,
  checkReleases,
  checkRun,
  isCounterKey,
  isRegisterKey,
  recoveryMs,
  type Violation,
  type ViolationKind,
} from './checker.js';
export * from './constants.js';
export {
  FaultHarnessError,
  type FaultHarnessErrorCode,
  HistoryFormatError,
  InvalidArgumentError,
  InvalidOptionError,
  LabError,
} from './errors.js';
export {
  type FinalState,
  type Operation,
  type OpKind,
  type Outcome,
  parseHistory,
  parseOperation,
  parseReleaseLog,
  type ReleaseSpan,
} from './history.js';
export {
  createLab,
  HOST_NAMES,
  type Host,
  type HostName,
  type Lab,
  labNamespaces,
  labSkipReason,
  newRunId,
  ownerOf,
  subnetOctet,
  sweep,
  tcAvailable,
} from './lab.js';
export { applyFault, type Heal, type NemesisContext } from './nemesis.js';
export { checkSeed, createPrng, type Prng } from './prng.js';
export { faultCases, formatTable, outcomeOf, writeFaultsJson } from './report.js';
export { type FaultResult, type RunOptions, type RunResult, runSchedule } from './run.js';
export {
  ARBITER_KINDS,
  type ArbiterKind,
  describeFault,
  describeSchedule,
  type Fault,
  FOLLOW_UP_KINDS,
  FORCEABLE_FOLLOW_UPS,
  generateSchedule,
  NEMESIS_KINDS,
  type NemesisKind,
  nemesesFor,
  type Schedule,
  type ScheduleOptions,
  type Target,
} from './schedule.js';
export { findService, type NodeAddress, type NodeStatus, probeStatus } from './service-finder.js';
