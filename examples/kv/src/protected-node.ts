import { EventEmitter } from 'node:events';
import {
  type Arbiter,
  createGuestMemory,
  createPrimary,
  createSecondary,
  type EngineChannelOptions,
  type EngineKeepaliveOptions,
  type EngineTransportOptions,
  type PeerAddressOption,
  type Primary,
  type PrimaryStatus,
  type Secondary,
  type SecondaryStatus,
  type TakeoverEvent,
} from '@microcheckpoint/mc-core';
import { DEFAULT_MEMORY_BYTES, DEFAULT_SLOT_COUNT } from './constants.js';
import { InvalidOptionError } from './errors.js';
import { createKvService, type KvService } from './service.js';

/** Name of the workload on the engine's output items; both nodes of a pair must use the same. */
export const KV_WORKLOAD_SOURCE = 'kv';

/** Options of `startProtectedKvNode()`. */
export interface ProtectedKvNodeOptions {
  /** Which side of the pair this process is. Required. */
  role: 'primary' | 'secondary';
  /** Decides who may act alone (take over, or serve without a secondary). Required. */
  arbiter: Arbiter;
  /**
   * Address the KV service listens on for clients (the primary at once, the secondary when it takes over).
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * TCP port of the KV service; 0 picks a free one.
   * @default 0
   */
  port?: number;
  /**
   * Secondary only: address of the data channel the primary connects to.
   * @default '127.0.0.1'
   */
  dataHost?: string;
  /**
   * Secondary only: port of the data channel; 0 picks a free one.
   * @default 0
   */
  dataPort?: number;
  /** Primary only: the secondary's data channel. Required for a primary. */
  secondary?: PeerAddressOption;
  /**
   * Guest memory of the table, bytes; both nodes must use the same.
   * @default 67108864 (64 MiB)
   */
  memoryBytes?: number;
  /**
   * Hash slots of the table (primary; the secondary restores whatever the primary formatted).
   * @default 65536
   */
  slotCount?: number;
  /**
   * Primary only: epoch length, milliseconds.
   * @default mc-core's DEFAULT_EPOCH_MS
   */
  epochMs?: number;
  /**
   * Primary only: how long to keep trying to reach the secondary and finish HELLO, milliseconds.
   * @default mc-core's DEFAULT_ATTACH_TIMEOUT_MS
   */
  attachTimeoutMs?: number;
  /**
   * Primary only: the arbitration generation this protection starts under (its fencing token). An
   * arbiter grants each generation once, so a new primary over arbiter state an earlier primary used
   * needs a higher one.
   * @default 1
   */
  generation?: number;
  /** Keepalive settings passed to the engine (detector rules, heartbeat socket address). */
  keepalive?: EngineKeepaliveOptions;
  /**
   * Data channel settings passed to the engine. `channel.security` (`{ mode: 'tls', ca, cert, key }`
   * or `{ mode: 'psk', identity, key }`, the same mode on both nodes) secures the checkpoint channel
   * and, through the engine, authenticates the heartbeats.
   * @default plain TCP (a trusted lab network only)
   */
  channel?: EngineChannelOptions;
  /**
   * Which transport carries checkpoints (both nodes must use the same kind).
   * @default { kind: 'tcp' }
   */
  transport?: EngineTransportOptions;
  /**
   * Identity given to the arbiter and in HELLO.
   * @default `kv-<role>-<pid>`
   */
  nodeId?: string;
}

/** The survivor serving: the takeover event and where its KV service listens. */
export interface ServingEvent extends TakeoverEvent {
  host: string;
  port: number;
}

/** Events of a protected KV node. */
export interface ProtectedKvNodeEvents {
  /** The secondary took over and its KV service listens. */
  serving: [event: ServingEvent];
}

/** One node of a protected KV pair, running in this process. */
export interface ProtectedKvNode extends EventEmitter<ProtectedKvNodeEvents> {
  readonly role: 'primary' | 'secondary';
  /** The engine: a `Primary` (role primary) or a `Secondary` (role secondary). */
  readonly engine: Primary | Secondary;
  /** The KV service: the primary's from the start, the secondary's once it took over. */
  readonly service: KvService | undefined;
  /** Secondary: the data channel's address. Primary: null. */
  readonly dataAddress: { host: string; port: number } | null;
  /**
   * Primary: resolves when the first checkpoint is acknowledged (protected), rejects when protection
   * could not be established. Secondary: already resolved.
   */
  readonly ready: Promise<void>;
  status(): PrimaryStatus | SecondaryStatus;
  /** Closes the engine (a primary ends protection with a GOODBYE), then the KV service. Idempotent. */
  close(): Promise<void>;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new InvalidOptionError(name, `must be a positive integer, got ${String(value)}`);
  return value;
}

class KvNode extends EventEmitter<ProtectedKvNodeEvents> implements ProtectedKvNode {
  readonly role: 'primary' | 'secondary';
  engine!: Primary | Secondary;
  service: KvService | undefined;
  dataAddress: { host: string; port: number } | null = null;
  ready: Promise<void> = Promise.resolve();
  #closing: Promise<void> | null = null;

  constructor(role: 'primary' | 'secondary') {
    super();
    this.role = role;
  }

  status(): PrimaryStatus | SecondaryStatus {
    return this.engine.status();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.engine.close();
      await this.service?.close();
    })();
    return this.#closing;
  }
}

/**
 * Starts one node of a protected KV pair. A primary formats a table in fresh guest memory, starts the
 * KV service and begins protecting it (watch `ready`); a secondary listens for the primary and, when
 * it wins arbitration after the primary is lost, restores the committed table and serves it on its
 * own `host:port` (event `serving`). Resolves once the primary's service or the secondary's data
 * channel listens.
 */
export async function startProtectedKvNode(options: ProtectedKvNodeOptions): Promise<ProtectedKvNode> {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError('options', 'must be an object');
  if (options.role !== 'primary' && options.role !== 'secondary') {
    throw new InvalidOptionError('role', `must be 'primary' or 'secondary', got ${String(options.role)}`);
  }
  const sizeBytes = positive('memoryBytes', options.memoryBytes, DEFAULT_MEMORY_BYTES);
  const node = new KvNode(options.role);
  const nodeId = options.nodeId ?? `kv-${options.role}-${process.pid}`;
  const common = {
    arbiter: options.arbiter,
    nodeId,
    source: KV_WORKLOAD_SOURCE,
    ...(options.keepalive === undefined ? {} : { keepalive: options.keepalive }),
    ...(options.channel === undefined ? {} : { channel: options.channel }),
    ...(options.transport === undefined ? {} : { transport: options.transport }),
  };

  if (options.role === 'primary') {
    if (options.secondary === undefined)
      throw new InvalidOptionError('secondary', 'is required for a primary');
    const service = await createKvService({
      memory: createGuestMemory({ sizeBytes }),
      slotCount: positive('slotCount', options.slotCount, DEFAULT_SLOT_COUNT),
      ...(options.host === undefined ? {} : { host: options.host }),
      ...(options.port === undefined ? {} : { port: options.port }),
    });
    node.service = service;
    try {
      const primary = createPrimary({
        ...common,
        guest: service.guest,
        output: (connection, data) => service.server.deliver(connection, data),
        secondary: options.secondary,
        ...(options.epochMs === undefined ? {} : { epochMs: options.epochMs }),
        ...(options.attachTimeoutMs === undefined ? {} : { attachTimeoutMs: options.attachTimeoutMs }),
        ...(options.generation === undefined ? {} : { generation: options.generation }),
      });
      node.engine = primary;
      node.ready = primary.start();
      // The caller watches `ready`; an unobserved rejection must not end the process first.
      node.ready.catch(() => undefined);
    } catch (error) {
      await service.close();
      throw error;
    }
    return node;
  }

  const host = options.host;
  const port = options.port;
  const secondary = createSecondary({
    ...common,
    memory: createGuestMemory({ sizeBytes }),
    ...(options.dataHost === undefined ? {} : { host: options.dataHost }),
    ...(options.dataPort === undefined ? {} : { port: options.dataPort }),
    takeover: async ({ memory }) => {
      const service = await createKvService({
        memory,
        restore: true,
        ...(host === undefined ? {} : { host }),
        ...(port === undefined ? {} : { port }),
      });
      node.service = service;
      return {
        guest: service.guest,
        output: (connection, data) => service.server.deliver(connection, data),
        // Re-emitted replies were addressed to connections that died with the primary; connection
        // numbers here are this server's own, so they must not receive them.
        reemit: () => undefined,
      };
    },
  });
  node.engine = secondary;
  secondary.on('takeover', (event) => {
    const service = node.service;
    if (service !== undefined) node.emit('serving', { ...event, host: service.host, port: service.port });
  });
  node.dataAddress = await secondary.start();
  return node;
}
