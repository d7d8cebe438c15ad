import { request } from 'node:http';
import { PROTOCOL_VERSION } from '@microcheckpoint/mc-core';
import { Command } from 'commander';
import { STATUS_REQUEST_TIMEOUT_MS } from '../constants.js';
import { PeerUnreachableError, VersionMismatchError } from '../errors.js';
import { formatHostPort, type HostPort, parseHostPort, parseInteger } from '../flags.js';
import type { NodeStatusReport } from '../node/status-report.js';
import { formatTable } from '../table.js';

/** Fetches `GET /status` of a node; rejects with `PeerUnreachableError` when it does not answer. */
export function fetchStatus(
  address: HostPort,
  timeoutMs = STATUS_REQUEST_TIMEOUT_MS,
): Promise<NodeStatusReport> {
  const where = formatHostPort(address);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: address.host, port: address.port, path: '/status', timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          try {
            if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
            const report = JSON.parse(body) as NodeStatusReport;
            if (typeof report.role !== 'string' || typeof report.protocolVersion !== 'number')
              throw new Error('the answer is not an mcft status report');
            resolve(report);
          } catch (error) {
            reject(new PeerUnreachableError('the mcft status endpoint', where, { cause: error }));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error) =>
      reject(new PeerUnreachableError('the mcft status endpoint', where, { cause: error })),
    );
    req.end();
  });
}

const ms = (n: number | null) => (n === null ? '-' : `${n.toFixed(2)} ms`);
const bytes = (n: number | null) =>
  n === null
    ? '-'
    : n >= 1 << 20
      ? `${(n / (1 << 20)).toFixed(1)} MiB`
      : n >= 1024
        ? `${(n / 1024).toFixed(1)} KiB`
        : `${n} B`;

/** The report as a two-column table for a person. */
export function formatStatus(where: string, r: NodeStatusReport): string {
  const rows: Array<[string, string]> = [
    ['node', `${r.nodeId} (${where}, mcft ${r.mcftVersion}, protocol ${r.protocolVersion})`],
    ['role / state', `${r.role} / ${r.state}`],
    ['epoch / committed', `${r.epoch} / ${r.committedEpoch}`],
    ['generation / token', `${r.generation} / ${r.fencingToken}`],
    ['peer', `${r.peer.nodeId ?? '-'} (data channel ${r.peer.connected ? 'open' : 'closed'})`],
    [
      'detector',
      `${r.peer.detector}, last heartbeat ${ms(r.peer.lastHeartbeatAgeMs)} ago, phi ${r.peer.phi.toFixed(2)}`,
    ],
    ['pause p50 / p99 / max', `${ms(r.pauseMs.p50)} / ${ms(r.pauseMs.p99)} / ${ms(r.pauseMs.max)}`],
    [
      'checkpoints',
      `${r.pauseMs.count} (${r.checkpointsPerSecond.toFixed(1)}/s, ${bytes(r.bytesPerSecond)}/s)`,
    ],
    ['checkpoint p50 / p99', `${bytes(r.checkpointBytes.p50)} / ${bytes(r.checkpointBytes.p99)}`],
    [
      'cork depth',
      `${r.cork.depthItems} outputs, ${bytes(r.cork.depthBytes)} (added latency p99 ${ms(r.cork.latencyP99Ms)})`,
    ],
    [
      'memory',
      r.memory.storeRamBytes === null
        ? `guest ${bytes(r.memory.guestBytes)}`
        : `guest ${bytes(r.memory.guestBytes)}, store RAM ${bytes(r.memory.storeRamBytes)} (ratio ${r.memory.storeRamRatio?.toFixed(3) ?? '-'}), disk ${bytes(r.memory.storeDiskBytes)}`,
    ],
    [
      'throttle',
      r.throttlePercent === null
        ? `none (epochs shortened instead${r.shortenedEpochs === null ? '' : `: ${r.shortenedEpochs}`})`
        : `${r.throttlePercent}%`,
    ],
    ['KV service', r.service === null ? '- (not serving)' : formatHostPort(r.service)],
  ];
  return formatTable(['', ''], rows, { header: false });
}

/** `mcft status HOST:PORT`. */
export function statusCommand(): Command {
  return new Command('status')
    .description("show a node's role, epoch, peer and detector state, pause times, store memory and throttle")
    .argument('<host:port>', "the node's --metrics address")
    .option('--json', 'print the status report as JSON')
    .option('--timeout-ms <ms>', `give up after this long (default: ${STATUS_REQUEST_TIMEOUT_MS})`)
    .addHelpText(
      'after',
      `
Examples:
  $ mcft status 127.0.0.1:9464
  $ mcft status 10.0.0.2:9464 --json | jq .peer
  $ curl -s http://127.0.0.1:9464/metrics     # the same numbers, Prometheus text`,
    )
    .action(async (target: string, flags: { json?: boolean; timeoutMs?: string }) => {
      const address = parseHostPort('<host:port>', target);
      const timeout =
        flags.timeoutMs === undefined
          ? STATUS_REQUEST_TIMEOUT_MS
          : parseInteger('--timeout-ms', flags.timeoutMs, 1, 600_000);
      const report = await fetchStatus(address, timeout);
      if (flags.json === true) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else process.stdout.write(`${formatStatus(formatHostPort(address), report)}\n`);
      if (report.protocolVersion !== PROTOCOL_VERSION) {
        throw new VersionMismatchError(
          `the node speaks protocol ${report.protocolVersion}, this mcft ${PROTOCOL_VERSION}: it cannot pair with nodes started by this mcft`,
        );
      }
    });
}
