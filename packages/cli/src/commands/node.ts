import { type ProtectedKvNode, startProtectedKvNode } from '@microcheckpoint/example-kv';
import type { Primary, Secondary } from '@microcheckpoint/mc-core';
import { Command, Option } from 'commander';
import {
  DEFAULT_DETECT_MULTIPLIER,
  DEFAULT_HANG_TIMEOUT_MS,
  DEFAULT_METRICS_HOST,
  DEFAULT_METRICS_PORT,
  DEFAULT_NODE_EPOCH_MS,
  DEFAULT_NODE_MEMORY_MIB,
  DEFAULT_NODE_SLOTS,
} from '../constants.js';
import { BadFlagError } from '../errors.js';
import { formatHostPort, type HostPort, parseChoice, parseHostPort, parseInteger } from '../flags.js';
import { ARBITER_KINDS, chooseArbiter, type OpenArbiter, openArbiter } from '../node/arbiter-choice.js';
import { type NodeConfig, readConfigFile } from '../node/config-file.js';
import { nodeStartError } from '../node/errors-map.js';
import { localAddressFor } from '../node/local-address.js';
import { probeListen } from '../node/probe-port.js';
import { type NodeStatusReport, statusReport } from '../node/status-report.js';
import { type StatusServer, startStatusServer, statusServerScheme } from '../node/status-server.js';
import { createPrinter, type Printer } from '../printer.js';
import {
  describeSecurity,
  type NodeSecurity,
  resolveSecurity,
  securityOptions,
} from '../security/node-security.js';
import { addSecurityOptions } from '../security/security-options.js';

type Role = 'primary' | 'secondary';

/** Transports a node can ship checkpoints over. */
export const NODE_TRANSPORTS = ['tcp', 'rdma-sim'] as const;
export type NodeTransport = (typeof NODE_TRANSPORTS)[number];

/** The flags of `mcft primary` and `mcft secondary`, as commander hands them over. */
interface NodeFlags {
  listen?: string;
  secondary?: string;
  service?: string;
  metrics?: string;
  heartbeat?: string;
  arbiter?: string;
  arbiterDir?: string;
  witness?: string;
  etcd?: string;
  etcdPrefix?: string;
  memoryMib?: string;
  slots?: string;
  epochMs?: string;
  detectMultiplier?: string;
  hangTimeoutMs?: string;
  attachTimeoutMs?: string;
  generation?: string;
  nodeId?: string;
  transport?: string;
  config?: string;
  ca?: string;
  cert?: string;
  key?: string;
  pskFile?: string;
  pskIdentity?: string;
  insecurePlain?: boolean;
  metricsPublic?: boolean;
  json?: boolean;
  traceCheckpoints?: boolean;
  exitWithStdin?: boolean;
  reportMs?: string;
}

/** Everything a node needs, checked. */
export interface NodeSettings {
  role: Role;
  listen: HostPort | null;
  secondary: HostPort | null;
  service: HostPort;
  metrics: HostPort;
  heartbeat: string | null;
  arbiter: ReturnType<typeof chooseArbiter>;
  memoryMib: number;
  slots: number;
  epochMs: number;
  detectMultiplier: number;
  hangTimeoutMs: number;
  attachTimeoutMs: number | null;
  /** The generation a primary starts under (null: the engine's default, 1). */
  generation: number | null;
  nodeId: string | null;
  transport: NodeTransport;
  /** How the data channel, the heartbeats, the witness connection and the status endpoint are protected. */
  security: NodeSecurity;
  /** A plain-HTTP status endpoint may listen on a non-loopback address. */
  metricsPublic: boolean;
}

/** Flags win over the config file; the config file wins over defaults. */
export function resolveNodeSettings(role: Role, flags: NodeFlags): NodeSettings {
  const config: NodeConfig = flags.config === undefined ? {} : readConfigFile(flags.config);
  const get = (key: keyof NodeConfig & keyof NodeFlags): string | number | boolean | undefined =>
    (flags[key] as string | boolean | undefined) ?? config[key];
  const listen = get('listen');
  const secondary = get('secondary');
  if (role === 'secondary') {
    if (listen === undefined)
      throw new BadFlagError('--listen', 'is required: HOST:PORT the primary connects to');
    if (secondary !== undefined)
      throw new BadFlagError('--secondary', 'is for mcft primary; a secondary uses --listen');
  } else {
    if (secondary === undefined)
      throw new BadFlagError('--secondary', "is required: the secondary's HOST:PORT");
    if (listen !== undefined)
      throw new BadFlagError('--listen', 'is for mcft secondary; a primary uses --secondary');
  }
  const epochMs = get('epochMs');
  if (role === 'secondary' && epochMs !== undefined)
    throw new BadFlagError('--epoch-ms', 'is for mcft primary (the primary sets the epochs)');
  const heartbeat = get('heartbeat');
  const attach = get('attachTimeoutMs');
  const generation = get('generation');
  if (role === 'secondary' && generation !== undefined)
    throw new BadFlagError(
      '--generation',
      'is for mcft primary (a secondary takes the next one when it takes over)',
    );
  const nodeId = get('nodeId');
  if (nodeId !== undefined && (typeof nodeId !== 'string' || nodeId === ''))
    throw new BadFlagError('--node-id', 'must be a non-empty string');
  const metrics = parseHostPort(
    '--metrics',
    get('metrics') ?? `${DEFAULT_METRICS_HOST}:${DEFAULT_METRICS_PORT}`,
    true,
  );
  const metricsPublic = get('metricsPublic');
  if (metricsPublic !== undefined && typeof metricsPublic !== 'boolean')
    throw new BadFlagError('--metrics-public', 'is a switch (true or false in a config file)');
  const settings = {
    role,
    listen: listen === undefined ? null : parseHostPort('--listen', listen, true),
    secondary: secondary === undefined ? null : parseHostPort('--secondary', secondary),
    service: parseHostPort('--service', get('service') ?? '127.0.0.1:6379', true),
    metrics,
    heartbeat: heartbeat === undefined ? null : checkIp('--heartbeat', heartbeat),
    arbiter: chooseArbiter({
      arbiter: get('arbiter'),
      arbiterDir: get('arbiterDir'),
      witness: get('witness'),
      etcd: get('etcd'),
      etcdPrefix: get('etcdPrefix'),
    }),
    memoryMib: parseInteger('--memory-mib', get('memoryMib') ?? DEFAULT_NODE_MEMORY_MIB, 1, 65_536),
    slots: parseInteger('--slots', get('slots') ?? DEFAULT_NODE_SLOTS, 16, 1 << 28),
    epochMs: parseInteger('--epoch-ms', epochMs ?? DEFAULT_NODE_EPOCH_MS, 1, 60_000),
    detectMultiplier: parseInteger(
      '--detect-multiplier',
      get('detectMultiplier') ?? DEFAULT_DETECT_MULTIPLIER,
      2,
      1000,
    ),
    hangTimeoutMs: parseInteger(
      '--hang-timeout-ms',
      get('hangTimeoutMs') ?? DEFAULT_HANG_TIMEOUT_MS,
      50,
      600_000,
    ),
    attachTimeoutMs: attach === undefined ? null : parseInteger('--attach-timeout-ms', attach, 100, 600_000),
    generation:
      generation === undefined ? null : parseInteger('--generation', generation, 1, Number.MAX_SAFE_INTEGER),
    nodeId: nodeId === undefined ? null : String(nodeId),
    transport: parseChoice('--transport', get('transport') ?? 'tcp', NODE_TRANSPORTS),
    // Secure by default: checked last, so that a mistyped flag is reported as itself first.
    security: resolveSecurity(role, {
      ca: get('ca'),
      cert: get('cert'),
      key: get('key'),
      pskFile: get('pskFile'),
      pskIdentity: get('pskIdentity'),
      insecurePlain: get('insecurePlain'),
    }),
    metricsPublic: metricsPublic === true,
  };
  // A plain status endpoint off loopback is refused now, before anything listens.
  statusServerScheme(settings.metrics, settings.security, settings.metricsPublic);
  return settings;
}

function checkIp(flag: string, value: unknown): string {
  if (
    typeof value !== 'string' ||
    !/^[0-9a-fA-F:.]+$/.test(value) ||
    !(value.includes('.') || value.includes(':'))
  )
    throw new BadFlagError(flag, `expects an IP address, got ${JSON.stringify(value)}`);
  return value;
}

/** A running node: the engine, its status endpoint, and how to stop both. */
export interface RunningNode {
  node: ProtectedKvNode;
  status: StatusServer;
  /** The status report, as `/status` answers it. */
  report(): NodeStatusReport;
  stop(): Promise<void>;
}

/**
 * Starts a node from checked settings and prints what happens (human lines, or JSON lines with
 * `json`). Rejects with a typed CLI error when it cannot start.
 */
export async function runNode(s: NodeSettings, out: Printer, traceCheckpoints = false): Promise<RunningNode> {
  const peer = s.secondary === null ? undefined : formatHostPort(s.secondary);
  const listen = s.listen === null ? undefined : formatHostPort(s.listen);
  // Every listener is checked before anything starts, so a taken port is reported as such.
  if (s.role === 'secondary') await probeListen('--service', s.service);
  let arbiter: OpenArbiter | null = null;
  let node: ProtectedKvNode | null = null;
  let status: StatusServer | null = null;
  let report: (() => NodeStatusReport) | null = null;
  const closeAll = async () => {
    await node?.close().catch(() => undefined);
    await status?.close().catch(() => undefined);
    await arbiter?.close().catch(() => undefined);
  };
  try {
    arbiter = await openArbiter(s.arbiter, s.security);
    const heartbeatAddress =
      s.heartbeat ?? (s.role === 'primary' ? await localAddressFor(s.secondary!.host) : s.listen!.host);
    node = await startProtectedKvNode({
      role: s.role,
      arbiter: arbiter.arbiter,
      host: s.service.host,
      port: s.service.port,
      ...(s.listen === null ? {} : { dataHost: s.listen.host, dataPort: s.listen.port }),
      ...(s.secondary === null ? {} : { secondary: s.secondary }),
      memoryBytes: s.memoryMib * 1024 * 1024,
      slotCount: s.slots,
      epochMs: s.epochMs,
      keepalive: {
        multiplier: s.detectMultiplier,
        hangTimeoutMs: s.hangTimeoutMs,
        address: heartbeatAddress,
      },
      ...(s.attachTimeoutMs === null ? {} : { attachTimeoutMs: s.attachTimeoutMs }),
      ...(s.generation === null ? {} : { generation: s.generation }),
      // TLS or PSK on the data channel also turns on authenticated heartbeats in the engine.
      channel: { security: securityOptions(s.security) },
      ...(s.nodeId === null ? {} : { nodeId: s.nodeId }),
      // The simulated NIC sits on the same local address as the heartbeats: the one facing the peer.
      ...(s.transport === 'rdma-sim' ? { transport: { kind: 'rdma-sim', host: heartbeatAddress } } : {}),
    });
    const running = node;
    report = () =>
      statusReport(
        running.status(),
        s.memoryMib * 1024 * 1024,
        running.service === undefined ? null : { host: running.service.host, port: running.service.port },
      );
    status = await startStatusServer(s.metrics, report, s.security, s.metricsPublic);
    const statusUrl = `${status.scheme}://${formatHostPort(status.address)}/status`;
    watch(running, out, traceCheckpoints);
    out.event(
      'listening',
      {
        role: s.role,
        ...(running.service === undefined ? {} : { service: formatHostPort(running.service) }),
        ...(running.dataAddress === null
          ? {}
          : { data: formatHostPort(running.dataAddress), dataPort: running.dataAddress.port }),
        metrics: formatHostPort(status.address),
        metricsPort: status.address.port,
        arbiter: arbiter.describe,
        heartbeat: heartbeatAddress,
        transport: s.transport,
        security: s.security.mode,
        statusScheme: status.scheme,
      },
      `${
        s.role === 'primary'
          ? `primary: KV service on ${formatHostPort(running.service!)}, protecting it through the secondary at ${peer}; status on ${statusUrl} (arbiter: ${arbiter.describe})`
          : `secondary: waiting for a primary on ${formatHostPort(running.dataAddress!)}; serves KV on ${formatHostPort(s.service)} after a takeover; status on ${statusUrl} (arbiter: ${arbiter.describe})`
      }\n  channels: ${describeSecurity(s.security)}`,
    );
    if (s.role === 'primary') {
      await running.ready;
      const p = running.engine as Primary;
      out.event(
        'protected',
        { epoch: p.status().epoch },
        `protected: the secondary holds every checkpoint from epoch ${p.status().committedEpoch}`,
      );
    }
  } catch (error) {
    await closeAll();
    throw nodeStartError(error, {
      ...(listen === undefined ? {} : { listen }),
      ...(peer === undefined ? {} : { peer }),
      security: s.security.mode,
      ...(s.role === 'primary' ? { generation: s.generation ?? 1 } : {}),
    });
  }
  return { node: node!, status: status!, report: report!, stop: closeAll };
}

/** Prints the engine's events as they happen. */
function watch(node: ProtectedKvNode, out: Printer, traceCheckpoints: boolean): void {
  const now = () => Date.now();
  if (node.role === 'primary') {
    const p = node.engine as Primary;
    p.on('state', (state, previous) =>
      out.event('state', { state, previous, atMs: now() }, `state ${previous} -> ${state}`),
    );
    p.on('peer', (c) =>
      out.event(
        'peer',
        { state: c.to, reason: c.reason, atMs: now() },
        `secondary ${c.from} -> ${c.to} (${c.reason})`,
      ),
    );
    p.on('error', (e) =>
      out.event('error', { code: (e as { code?: string }).code, message: e.message }, `error: ${e.message}`),
    );
    if (traceCheckpoints) {
      p.on('checkpoint', (c) =>
        out.event(
          'checkpoint',
          {
            epoch: c.epoch,
            bytes: c.bytes,
            pauseMs: c.pauseMs,
            shipMs: c.shipMs,
            outputItems: c.outputItems,
          },
          null,
        ),
      );
    }
  } else {
    const sec = node.engine as Secondary;
    sec.on('state', (state, previous) =>
      out.event('state', { state, previous, atMs: now() }, `state ${previous} -> ${state}`),
    );
    sec.on('peer', (c) =>
      out.event(
        'peer',
        { state: c.to, reason: c.reason, atMs: now() },
        `primary ${c.from} -> ${c.to} (${c.reason})`,
      ),
    );
    sec.on('passive', (reason) => out.event('passive', { reason }, `passive: ${reason}`));
    sec.on('error', (e) =>
      out.event('error', { code: (e as { code?: string }).code, message: e.message }, `error: ${e.message}`),
    );
    node.on('serving', (e) =>
      out.event(
        'serving',
        { ...e, service: formatHostPort(e), atMs: now() },
        `took over: serving KV on ${formatHostPort(e)} from committed epoch ${e.epoch}, generation ${e.generation} (restore ${e.restoreMs.toFixed(1)} ms, ${e.durationMs.toFixed(1)} ms after the conviction)`,
      ),
    );
  }
}

const NODE_EXAMPLES: Record<Role, string> = {
  secondary: `
Examples:
  # certificates for the three hosts, once (copy ca.pem and each host's .pem/.key there)
  $ mcft certs --out certs --nodes primary,secondary,witness --ip 10.0.0.1,10.0.0.2,10.0.0.3
  # host B (10.0.0.2): wait for the primary, serve KV on :6379 after a takeover
  $ mcft secondary --listen 10.0.0.2:7000 --service 10.0.0.2:6379 --metrics 10.0.0.2:9464 \\
      --arbiter witness --witness 10.0.0.3:7100 --ca certs/ca.pem --cert certs/secondary.pem --key certs/secondary.key
  # both nodes on one host, shared-file arbiter, a trusted lab machine
  $ mcft secondary --listen 127.0.0.1:7000 --service 127.0.0.1:6380 --arbiter-dir /tmp/mc-arbiter --insecure-plain
  # everything from a file (flags override it)
  $ mcft secondary --config secondary.json`,
  primary: `
Examples:
  # host A (10.0.0.1): serve KV on :6379, protected by the secondary on host B
  $ mcft primary --secondary 10.0.0.2:7000 --service 10.0.0.1:6379 --metrics 10.0.0.1:9464 \\
      --arbiter witness --witness 10.0.0.3:7100 --ca certs/ca.pem --cert certs/primary.pem --key certs/primary.key
  # both nodes on one host, shared-file arbiter, 10 ms epochs, a pre-shared key
  $ mcft certs --out keys --psk
  $ mcft primary --secondary 127.0.0.1:7000 --service 127.0.0.1:6379 --arbiter-dir /tmp/mc-arbiter --epoch-ms 10 \\
      --psk-file keys/psk.key
  $ redis-cli -p 6379 set greeting hello`,
};

/** `mcft primary` or `mcft secondary`. */
export function nodeCommand(role: Role): Command {
  const command = new Command(role).description(
    role === 'primary'
      ? 'run the KV sample service as the primary: serve clients, checkpoint every epoch to the secondary, release replies only once their checkpoint is acknowledged'
      : 'run the secondary: commit and acknowledge the checkpoints of a primary, and take over its KV service when it dies and the arbiter agrees',
  );
  if (role === 'secondary')
    command.option('--listen <host:port>', 'data channel address the primary connects to (required)');
  else command.option('--secondary <host:port>', "the secondary's data channel address (required)");
  command
    .option(
      '--service <host:port>',
      `KV service address${role === 'secondary' ? ' (opened at takeover)' : ''} (default: 127.0.0.1:6379)`,
    )
    .option(
      '--metrics <host:port>',
      'status endpoint: GET /status (JSON) and /metrics (Prometheus) (default: 127.0.0.1:0, printed at start)',
    )
    .option(
      '--heartbeat <ip>',
      `local address of the UDP heartbeat socket (default: ${role === 'primary' ? 'the address routed to the secondary' : 'the --listen host'})`,
    )
    .addOption(
      new Option('--arbiter <kind>', 'who decides which node may act alone (default: file)').choices(
        ARBITER_KINDS,
      ),
    )
    .option('--arbiter-dir <dir>', 'with --arbiter file: a directory both nodes share')
    .option('--witness <host:port>', 'with --arbiter witness: the address of `mcft witness`')
    .option('--etcd <urls>', 'with --arbiter etcd: http://HOST:PORT[,...]')
    .option('--etcd-prefix <prefix>', 'with --arbiter etcd: key prefix of this protected workload')
    .option(
      '--memory-mib <n>',
      `guest memory of the KV table, MiB; the same on both nodes (default: ${DEFAULT_NODE_MEMORY_MIB})`,
    )
    .option(
      '--detect-multiplier <n>',
      `silent 20 ms heartbeat intervals before the peer is convicted (default: ${DEFAULT_DETECT_MULTIPLIER})`,
    )
    .option(
      '--hang-timeout-ms <ms>',
      `no main-loop progress for this long convicts the peer (default: ${DEFAULT_HANG_TIMEOUT_MS})`,
    )
    .option('--node-id <id>', 'identity given to the arbiter (default: kv-<role>-<pid>)')
    .addOption(
      new Option(
        '--transport <kind>',
        'checkpoint transport, the same on both nodes: tcp, or rdma-sim (one-sided writes into a ring on the secondary, simulated NICs over TCP) (default: tcp)',
      ).choices(NODE_TRANSPORTS),
    )
    .option(
      '--config <file.json>',
      'read settings from a JSON file (keys: the flags in camelCase); flags override it',
    )
    .option(
      '--metrics-public',
      'let a plain-HTTP status endpoint (no TLS certificates) listen on a non-loopback address',
    )
    .option('--json', 'print events as JSON lines');
  addSecurityOptions(command);
  if (role === 'primary') {
    command
      .option('--slots <n>', `hash slots of the KV table (default: ${DEFAULT_NODE_SLOTS})`)
      .option('--epoch-ms <ms>', `epoch length (default: ${DEFAULT_NODE_EPOCH_MS})`)
      .option('--attach-timeout-ms <ms>', 'how long to try to reach the secondary at start (default: 10000)')
      .option(
        '--generation <n>',
        'arbitration generation to start under; an arbiter grants each once, so a primary restarted over the same arbiter state after a failed start needs the next one (default: 1)',
      )
      .addOption(
        new Option('--trace-checkpoints', 'print every acknowledged checkpoint (with --json)').hideHelp(),
      );
  }
  command.addOption(
    new Option('--exit-with-stdin', 'stop when stdin ends (the demo starts its nodes so)').hideHelp(),
  );
  command.addOption(
    new Option('--report-ms <ms>', 'print the status report every <ms> (with --json)').hideHelp(),
  );
  command.addHelpText('after', NODE_EXAMPLES[role]);
  command.action(async (flags: NodeFlags) => {
    const settings = resolveNodeSettings(role, flags);
    const out = createPrinter(flags.json === true);
    const running = await runNode(settings, out, flags.traceCheckpoints === true);
    const reportMs =
      flags.reportMs === undefined ? 0 : parseInteger('--report-ms', flags.reportMs, 10, 600_000);
    const reporter =
      reportMs === 0
        ? null
        : setInterval(() => out.event('status', { report: running.report() }, null), reportMs).unref();
    await (flags.exitWithStdin === true ? Promise.race([untilSignal(), untilStdinEnds()]) : untilSignal());
    if (reporter !== null) clearInterval(reporter);
    out.event('stopping', {}, 'stopping');
    await running.stop();
    process.stdin.destroy();
  });
  return command;
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/**
 * Resolves when stdin ends: a process started by the demo goes away with it even when the demo itself
 * is killed without a chance to clean up (its end of the pipe closes then).
 */
export function untilStdinEnds(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.on('end', () => resolve());
    process.stdin.on('close', () => resolve());
    process.stdin.on('error', () => resolve());
    process.stdin.resume();
  });
}
