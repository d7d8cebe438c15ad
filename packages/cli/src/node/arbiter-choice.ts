import { type Arbiter, createFileArbiter, createWitnessArbiter } from '@microcheckpoint/mc-core';
import { BadFlagError, PeerRefusedError, PeerUnreachableError } from '../errors.js';
import { formatHostPort, type HostPort, parseChoice, parseHostPort } from '../flags.js';
import { type NodeSecurity, securityOptions } from '../security/node-security.js';
import { refusalIn } from '../security/refusal.js';

/** The arbiters a node can use. */
export const ARBITER_KINDS = ['file', 'witness', 'etcd'] as const;
export type ArbiterKind = (typeof ARBITER_KINDS)[number];

/** Which arbiter, and where it is. */
export type ArbiterChoice =
  | { kind: 'file'; dir: string }
  | { kind: 'witness'; witness: HostPort }
  | { kind: 'etcd'; etcd: string[]; prefix: string | undefined };

/** Flags (or config keys) that choose the arbiter; all optional until checked. */
export interface ArbiterSettings {
  arbiter?: unknown;
  arbiterDir?: unknown;
  witness?: unknown;
  etcd?: unknown;
  etcdPrefix?: unknown;
}

/** Checks the arbiter settings: the kind (default file) and the one address it needs. */
export function chooseArbiter(s: ArbiterSettings): ArbiterChoice {
  const kind = parseChoice('--arbiter', s.arbiter ?? 'file', ARBITER_KINDS);
  const other = (flag: string, value: unknown) => {
    if (value !== undefined) throw new BadFlagError(flag, `does not go with --arbiter ${kind}`);
  };
  if (kind === 'file') {
    other('--witness', s.witness);
    other('--etcd', s.etcd);
    if (typeof s.arbiterDir !== 'string' || s.arbiterDir === '')
      throw new BadFlagError(
        '--arbiter-dir',
        'is required with --arbiter file (a directory both nodes share)',
      );
    return { kind, dir: s.arbiterDir };
  }
  if (kind === 'witness') {
    other('--arbiter-dir', s.arbiterDir);
    other('--etcd', s.etcd);
    if (s.witness === undefined)
      throw new BadFlagError('--witness', 'is required with --arbiter witness (HOST:PORT)');
    return { kind, witness: parseHostPort('--witness', s.witness) };
  }
  other('--arbiter-dir', s.arbiterDir);
  other('--witness', s.witness);
  if (typeof s.etcd !== 'string' || s.etcd === '')
    throw new BadFlagError('--etcd', 'is required with --arbiter etcd (http://HOST:PORT[,...])');
  const etcd = s.etcd.split(',').map((u) => u.trim());
  for (const url of etcd) {
    if (!/^https?:\/\/[^\s/]+$/.test(url))
      throw new BadFlagError('--etcd', `${JSON.stringify(url)} is not an http(s)://HOST:PORT URL`);
  }
  if (s.etcdPrefix !== undefined && (typeof s.etcdPrefix !== 'string' || s.etcdPrefix === ''))
    throw new BadFlagError('--etcd-prefix', 'must be a non-empty string');
  return { kind, etcd, prefix: s.etcdPrefix as string | undefined };
}

/** A ready arbiter and how to let go of it. */
export interface OpenArbiter {
  arbiter: Arbiter;
  describe: string;
  close(): Promise<void>;
}

/**
 * Creates the arbiter. A witness is reached with the node's own credentials (the same mode the
 * witness listens with) and asked for its status first, so an unreachable or refusing one is
 * reported at start and not at the first failover.
 */
export async function openArbiter(choice: ArbiterChoice, security: NodeSecurity): Promise<OpenArbiter> {
  if (choice.kind === 'file') {
    return {
      arbiter: createFileArbiter({ directory: choice.dir }),
      describe: `file ${choice.dir}`,
      close: async () => {},
    };
  }
  if (choice.kind === 'witness') {
    const witness = createWitnessArbiter({
      host: choice.witness.host,
      port: choice.witness.port,
      security: securityOptions(security),
    });
    try {
      await witness.status();
    } catch (error) {
      await witness.close().catch(() => undefined);
      const refusal = refusalIn(error);
      if (refusal !== null)
        throw new PeerRefusedError(
          `the witness at ${formatHostPort(choice.witness)} and this node refused each other's credentials (${refusal}); the witness must run with the same --ca (or --psk-file) as the nodes`,
          { cause: error },
        );
      throw new PeerUnreachableError(
        security.mode === 'plain'
          ? 'the witness'
          : `the witness (if it runs with other credentials or without ${security.mode === 'tls' ? 'TLS' : 'the PSK'}, it drops this node's connection: check its log)`,
        formatHostPort(choice.witness),
        { cause: error },
      );
    }
    return {
      arbiter: witness,
      describe: `witness ${formatHostPort(choice.witness)}`,
      close: () => witness.close(),
    };
  }
  // Loaded only when asked for: etcd3 and gRPC are heavy and most nodes never need them.
  let etcdModule: typeof import('@microcheckpoint/arbiter-etcd');
  try {
    etcdModule = await import('@microcheckpoint/arbiter-etcd');
  } catch (error) {
    throw new BadFlagError(
      '--arbiter etcd',
      'needs the optional package @microcheckpoint/arbiter-etcd (npm install @microcheckpoint/arbiter-etcd)',
      { cause: error },
    );
  }
  const { createEtcdArbiter } = etcdModule;
  const etcd = createEtcdArbiter({
    hosts: choice.etcd,
    ...(choice.prefix === undefined ? {} : { prefix: choice.prefix }),
  });
  return { arbiter: etcd, describe: `etcd ${choice.etcd.join(',')}`, close: () => etcd.close() };
}
