/**
 * @packageDocumentation
 * mcft: the command line of microcheckpoint. `mcft demo` shows the whole idea on one machine;
 * `mcft primary`, `mcft secondary` and `mcft witness` run the KV sample service protected across
 * hosts (TLS 1.3 by default; `mcft certs` writes a test CA and node certificates); `mcft status`
 * and each node's `/metrics` show how it is doing; `mcft bench` runs the benchmarks and writes the
 * report. This module exports the same pieces for programs and tests.
 *
 * @example
 * ```ts
 * import { runCli } from '@microcheckpoint/cli';
 * process.exitCode = await runCli(['status', '127.0.0.1:9464', '--json']);
 * ```
 */

export { type BenchCommandOptions, benchCommand, runBench } from './commands/bench.js';
export {
  type CertsOptions,
  resolveCertsOptions,
  type WrittenFile,
  writeCertificates,
} from './commands/certs.js';
export { fetchStatus, formatStatus, type StatusClientTls } from './commands/status.js';
export { type DemoOptions, DemoResources, runDemo } from './demo/run-demo.js';
export { DEMO_FAULTS, type DemoFault, type DemoSummary, formatSummary } from './demo/summary.js';
export {
  BadFlagError,
  ChildFailedError,
  CLI_ERROR_EXIT_CODE,
  CliError,
  type CliErrorCode,
  ConfigFileError,
  CredentialError,
  FaultUnavailableError,
  FileExistsError,
  NodeFailedError,
  NoSecurityError,
  PeerRefusedError,
  PeerUnreachableError,
  PortInUseError,
  VersionMismatchError,
} from './errors.js';
export { formatHostPort, type HostPort, parseHostPort } from './flags.js';
export type { NodeStatusReport } from './node/status-report.js';
export { PROMETHEUS_CONTENT_TYPE } from './node/status-server.js';
export { createProgram, runCli } from './program.js';
export * from './report/index.js';
export { type NodeSecurity, resolveSecurity, type SecurityFlags } from './security/node-security.js';
