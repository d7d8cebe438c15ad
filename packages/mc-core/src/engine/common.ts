import type { CheckpointStoreStats } from '@microcheckpoint/checkpoint-store';
import type { CorkMetrics } from '@microcheckpoint/io-cork';
import type { Keepalive, KeepaliveOptions, PeerState } from '@microcheckpoint/keepalive';
import type { ChannelOptions } from '@microcheckpoint/transport-tcp';
import { InvalidOptionError } from '../errors.js';
import type { MessageChannel } from './channel.js';
import type { SampleSummary } from './metrics.js';

/**
 * Keepalive settings the engine passes on to `@microcheckpoint/keepalive`'s `createKeepalive()`:
 * the detector (rule, interval, multiplier, ...) and the local heartbeat socket (`address`, `port`).
 * The engine sets the role, the peer (learned in the HELLO exchange) and the epoch itself.
 */
export type EngineKeepaliveOptions = Omit<KeepaliveOptions, 'role' | 'peer' | 'epoch' | 'goodbyeOnClose'>;

/** Transport settings passed on to `@microcheckpoint/transport-tcp` for the data channel. */
export type EngineChannelOptions = ChannelOptions;

/** What the peer looks like from here. */
export interface PeerStatus {
  /** `'none'` before the HELLO exchange (and after the keepalive is closed). */
  state: PeerState | 'none';
  nodeId: string | null;
  /** Time since the last heartbeat, milliseconds (NaN before the first). */
  lastHeartbeatAgeMs: number;
  phi: number;
  /** Whether the data channel is open. */
  connected: boolean;
  /**
   * How the data channel is protected: `'tls'` or `'psk'`, or `'plain'` (a trusted lab network:
   * whoever reaches the port can inject frames). The live channel's mode, else the configured one.
   */
  channelSecurity: 'plain' | 'tls' | 'psk';
  /** `'hmac-sha256-128'` when heartbeats are authenticated, else `'none'`. */
  heartbeatAuthentication: 'hmac-sha256-128' | 'none';
  /** Heartbeats refused as forged, replayed, stale or unauthenticated (never evidence of life). */
  rejectedHeartbeats: { forged: number; replayed: number; stale: number; unauthenticated: number };
}

/** Counters common to both roles, in `status()`. */
export interface EngineStatus {
  role: 'primary' | 'secondary';
  nodeId: string;
  /**
   * Primary: the epoch running now (whose output is corked and whose writes the next checkpoint
   * carries). Secondary: the epoch being received, else the committed one.
   */
  epoch: number;
  /** The last checkpoint acknowledged (primary) or committed (secondary); 0 before the first. */
  committedEpoch: number;
  /** Arbitration generation and fencing token this node works under. */
  generation: number;
  fencingToken: number;
  /** Pause times of the guest per checkpoint, milliseconds (primary; zeros on a secondary). */
  pauseMs: SampleSummary;
  /** Bytes of page data per checkpoint. */
  checkpointBytes: SampleSummary;
  /** Checkpoints and checkpoint bytes per second over the most recent checkpoints. */
  checkpointsPerSecond: number;
  bytesPerSecond: number;
  /** Checkpoints shipped and not yet acknowledged (primary). */
  inFlight: number;
  /** The cork queue: corked items are output waiting for its checkpoint's ACK. */
  cork: Pick<
    CorkMetrics,
    'corkedItems' | 'corkedBytes' | 'heldItems' | 'heldBytes' | 'nextSeq' | 'releasedThrough' | 'latency'
  >;
  peer: PeerStatus;
}

/** The cork part of `status()`, from the queue's metrics. */
export function corkStatus(cork: CorkMetrics): EngineStatus['cork'] {
  return {
    corkedItems: cork.corkedItems,
    corkedBytes: cork.corkedBytes,
    heldItems: cork.heldItems,
    heldBytes: cork.heldBytes,
    nextSeq: cork.nextSeq,
    releasedThrough: cork.releasedThrough,
    latency: cork.latency,
  };
}

/** The peer part of `status()`: what the detector and the data channel say about the other side. */
export function peerStatus(
  keepalive: Keepalive | null,
  nodeId: string | null,
  channel: Pick<MessageChannel, 'closed' | 'security'> | null,
  configuredSecurity: 'plain' | 'tls' | 'psk',
): PeerStatus {
  const k = keepalive?.status();
  const rejected = k?.rejectedHeartbeats;
  return {
    state: k?.state ?? 'none',
    nodeId,
    lastHeartbeatAgeMs: k?.lastHeartbeatAgeMs ?? Number.NaN,
    phi: k?.phi ?? 0,
    connected: channel !== null && !channel.closed,
    channelSecurity: channel?.security?.mode ?? configuredSecurity,
    heartbeatAuthentication: k?.authentication ?? 'none',
    rejectedHeartbeats: {
      forged: rejected?.forged ?? 0,
      replayed: rejected?.replayed ?? 0,
      stale: rejected?.stale ?? 0,
      unauthenticated: rejected?.unauthenticated ?? 0,
    },
  };
}

/** Checks a number option (finite, within bounds; integer unless `fractional`). */
export function numberOption(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
  fractional = false,
): number {
  if (value === undefined) return fallback;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    (!fractional && !Number.isSafeInteger(value)) ||
    value < min ||
    value > max
  ) {
    throw new InvalidOptionError(
      name,
      `must be ${fractional ? 'a number' : 'an integer'} from ${min} to ${max}, got ${String(value)}`,
    );
  }
  return value;
}

/** Checks a non-empty string option. */
export function stringOption(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0)
    throw new InvalidOptionError(name, 'must be a non-empty string');
  return value;
}

/** Checks an options object passed through to another package (the package validates its fields). */
export function passThrough<T extends object>(name: string, value: T | undefined): T {
  if (value === undefined) return {} as T;
  if (value === null || typeof value !== 'object') throw new InvalidOptionError(name, 'must be an object');
  return value;
}

/** Checks that an arbiter has the three methods of the contract. */
export function arbiterOption<T>(value: T): T {
  const a = value as { acquire?: unknown; renew?: unknown; release?: unknown } | null;
  if (
    a === null ||
    typeof a !== 'object' ||
    typeof a.acquire !== 'function' ||
    typeof a.renew !== 'function' ||
    typeof a.release !== 'function'
  ) {
    throw new InvalidOptionError('arbiter', 'must implement acquire(), renew() and release()');
  }
  return value;
}

/** Store statistics, as the secondary reports them. */
export type StoreStatus = CheckpointStoreStats;
