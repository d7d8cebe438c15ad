import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { PROTOCOL_VERSION } from '@microcheckpoint/mc-core';
import { Command } from 'commander';
import { STATUS_REQUEST_TIMEOUT_MS } from '../constants.js';
import { BadFlagError, PeerRefusedError, PeerUnreachableError, VersionMismatchError } from '../errors.js';
import { formatHostPort, type HostPort, parseHostPort, parseInteger } from '../flags.js';
import type { NodeStatusReport } from '../node/status-report.js';
import { loadTls } from '../security/node-security.js';
import { formatTable } from '../table.js';

/** Client credentials for a node whose status endpoint is HTTPS (the node's CA, a certificate from it). */
export interface StatusClientTls {
  ca: string;
  cert: string;
  key: string;
}

/**
 * Fetches `GET /status` of a node, over HTTPS with a client certificate when `tls` is given;
 * rejects with `PeerUnreachableError` when it does not answer, `PeerRefusedError` when TLS fails.
 */
export function fetchStatus(
  address: HostPort,
  timeoutMs = STATUS_REQUEST_TIMEOUT_MS,
  tls: StatusClientTls | null = null,
): Promise<NodeStatusReport> {
  const where = formatHostPort(address);
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage) => {
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
    };
    const common = { host: address.host, port: address.port, path: '/status', timeout: timeoutMs };
    const req =
      tls === null
        ? httpRequest(common, onResponse)
        : httpsRequest(
            { ...common, ca: tls.ca, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.3', agent: false },
            onResponse,
          );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error) => {
      const code = (error as { code?: string }).code ?? '';
      if (
        tls !== null &&
        (code.startsWith('ERR_SSL') || code.includes('CERT') || /certificate|SSL|TLS/i.test(error.message))
      )
        reject(
          new PeerRefusedError(
            `the mcft status endpoint at ${where} and this client did not agree on TLS (${error.message}); use the --ca of the node and a certificate it issued`,
            { cause: error },
          ),
        );
      else if (
        tls === null &&
        (code === 'ECONNRESET' || code === 'HPE_INVALID_CONSTANT' || /hang up|parse/i.test(error.message))
      )
        reject(
          new PeerUnreachableError(
            'the mcft status endpoint (if the node runs with TLS certificates it serves HTTPS: give --ca, --cert and --key)',
            where,
            { cause: error },
          ),
        );
      else reject(new PeerUnreachableError('the mcft status endpoint', where, { cause: error }));
    });
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

/** The security row: what protects the data channel and the heartbeats, and what was refused. */
function channelSecurityText(r: NodeStatusReport): string {
  const channel = {
    tls: 'TLS 1.3, mutual certificates',
    psk: 'TLS 1.3, pre-shared key',
    plain: 'PLAIN TCP (trusted lab network only)',
  }[r.peer.channelSecurity];
  const h = r.peer.rejectedHeartbeats;
  const rejected = h.forged + h.replayed + h.stale + h.unauthenticated;
  const heartbeats =
    r.peer.heartbeatAuthentication === 'none'
      ? r.peer.channelSecurity !== 'plain' && r.peer.detector === 'none'
        ? 'heartbeats authenticated once a peer attaches'
        : 'heartbeats unauthenticated'
      : `heartbeats ${r.peer.heartbeatAuthentication}, ${rejected} rejected (forged ${h.forged}, replayed ${h.replayed}, stale ${h.stale}, unauthenticated ${h.unauthenticated})`;
  return `${channel}; ${heartbeats}`;
}

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
    ['channel security', channelSecurityText(r)],
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
    .option('--ca <file>', "HTTPS: the node's CA certificate (PEM)")
    .option('--cert <file>', 'HTTPS: a client certificate from that CA (PEM)')
    .option('--key <file>', "HTTPS: the client certificate's key (PEM)")
    .addHelpText(
      'after',
      `
Examples:
  $ mcft status 127.0.0.1:9464                 # a node started with --insecure-plain (or --psk-file)
  $ mcft status 10.0.0.2:9464 --ca certs/ca.pem --cert certs/admin.pem --key certs/admin.key --json | jq .peer
  $ curl -s --cacert certs/ca.pem --cert certs/admin.pem --key certs/admin.key https://10.0.0.2:9464/metrics`,
    )
    .action(
      async (
        target: string,
        flags: { json?: boolean; timeoutMs?: string; ca?: string; cert?: string; key?: string },
      ) => {
        const address = parseHostPort('<host:port>', target);
        const given = [flags.ca, flags.cert, flags.key].filter((f) => f !== undefined).length;
        if (given !== 0 && given !== 3)
          throw new BadFlagError(
            flags.ca === undefined ? '--ca' : flags.cert === undefined ? '--cert' : '--key',
            'HTTPS needs --ca, --cert and --key together',
          );
        let tls: StatusClientTls | null = null;
        if (given === 3) {
          const loaded = loadTls({ ca: flags.ca!, cert: flags.cert!, key: flags.key! });
          if (loaded.mode === 'tls') tls = { ca: loaded.ca, cert: loaded.cert, key: loaded.key };
        }
        const timeout =
          flags.timeoutMs === undefined
            ? STATUS_REQUEST_TIMEOUT_MS
            : parseInteger('--timeout-ms', flags.timeoutMs, 1, 600_000);
        const report = await fetchStatus(address, timeout, tls);
        if (flags.json === true) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else process.stdout.write(`${formatStatus(formatHostPort(address), report)}\n`);
        if (report.protocolVersion !== PROTOCOL_VERSION) {
          throw new VersionMismatchError(
            `the node speaks protocol ${report.protocolVersion}, this mcft ${PROTOCOL_VERSION}: it cannot pair with nodes started by this mcft`,
          );
        }
      },
    );
}
