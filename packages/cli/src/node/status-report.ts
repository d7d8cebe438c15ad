import { PROTOCOL_VERSION, type PrimaryStatus, type SecondaryStatus } from '@microcheckpoint/mc-core';
import { MCFT_VERSION } from '../version.js';

/** Percentiles of one quantity over the engine's recent window. */
export interface Percentiles {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * What `/status` answers and `mcft status` shows: one protected node, as plain JSON (no NaN: an
 * unknown number is null).
 */
export interface NodeStatusReport {
  mcftVersion: string;
  protocolVersion: number;
  role: 'primary' | 'secondary';
  /** The engine's state (primary: protected, arbitrating, ...; secondary: protecting, serving, ...). */
  state: string;
  nodeId: string;
  epoch: number;
  committedEpoch: number;
  generation: number;
  fencingToken: number;
  /** The peer as this node's failure detector and data channel see it. */
  peer: {
    /** Detector state: alive, suspect, dead, or none before the HELLO exchange. */
    detector: string;
    nodeId: string | null;
    connected: boolean;
    lastHeartbeatAgeMs: number | null;
    phi: number;
    /**
     * How the data channel is protected: `tls` or `psk`, or `plain` (a trusted lab network only:
     * whoever reaches the port can inject a checkpoint).
     */
    channelSecurity: 'plain' | 'tls' | 'psk';
    /** `hmac-sha256-128` when heartbeats are authenticated, else `none`. */
    heartbeatAuthentication: string;
    /** Heartbeats refused (never taken as a sign of life), by reason. */
    rejectedHeartbeats: { forged: number; replayed: number; stale: number; unauthenticated: number };
  };
  pauseMs: Percentiles;
  checkpointBytes: Percentiles;
  checkpointsPerSecond: number;
  bytesPerSecond: number;
  /** Output held until its checkpoint is acknowledged. */
  cork: { depthItems: number; depthBytes: number; releasedThrough: number; latencyP99Ms: number };
  /**
   * Memory: the guest's size, and on a secondary what its checkpoint store holds in RAM and on disk
   * (`ramRatio` = RAM / guest size; 1 is what a plain second copy costs).
   */
  memory: {
    guestBytes: number;
    storeRamBytes: number | null;
    storeDiskBytes: number | null;
    storeRamRatio: number | null;
  };
  /**
   * Share of the guest's time the engine throttles it, percent. Null: this engine does not throttle
   * (mc-core's policy shortens epochs instead; see `shortenedEpochs`).
   */
  throttlePercent: number | null;
  shortenedEpochs: number | null;
  /** Where the KV service listens (a secondary: only once it serves). */
  service: { host: string; port: number } | null;
  uptimeS: number;
}

const finite = (n: number): number | null => (Number.isFinite(n) ? n : null);

/** Builds the report from an engine's `status()`. */
export function statusReport(
  status: PrimaryStatus | SecondaryStatus,
  guestBytes: number,
  service: { host: string; port: number } | null,
): NodeStatusReport {
  const store = status.role === 'secondary' ? status.store : null;
  return {
    mcftVersion: MCFT_VERSION,
    protocolVersion: PROTOCOL_VERSION,
    role: status.role,
    state: status.state,
    nodeId: status.nodeId,
    epoch: status.epoch,
    committedEpoch: status.committedEpoch,
    generation: status.generation,
    fencingToken: status.fencingToken,
    peer: {
      detector: status.peer.state,
      nodeId: status.peer.nodeId,
      connected: status.peer.connected,
      lastHeartbeatAgeMs: finite(status.peer.lastHeartbeatAgeMs),
      phi: finite(status.peer.phi) ?? 0,
      channelSecurity: status.peer.channelSecurity,
      heartbeatAuthentication: status.peer.heartbeatAuthentication,
      rejectedHeartbeats: { ...status.peer.rejectedHeartbeats },
    },
    pauseMs: pick(status.pauseMs),
    checkpointBytes: pick(status.checkpointBytes),
    checkpointsPerSecond: finite(status.checkpointsPerSecond) ?? 0,
    bytesPerSecond: finite(status.bytesPerSecond) ?? 0,
    cork: {
      depthItems: status.cork.corkedItems,
      depthBytes: status.cork.corkedBytes,
      releasedThrough: status.cork.releasedThrough,
      latencyP99Ms: finite(status.cork.latency.p99Ms) ?? 0,
    },
    memory: {
      guestBytes,
      storeRamBytes: store?.ramBytes ?? null,
      storeDiskBytes: store?.diskBytes ?? null,
      storeRamRatio: store === null ? null : finite(store.ramRatio),
    },
    throttlePercent: null,
    shortenedEpochs: status.role === 'primary' ? status.shortenedEpochs : null,
    service,
    uptimeS: Math.round(process.uptime()),
  };
}

function pick(s: { count: number; p50: number; p99: number; max: number }): Percentiles {
  return { count: s.count, p50: s.p50, p99: s.p99, max: s.max };
}
