/**
 * @packageDocumentation
 * Failure detection in milliseconds: UDP heartbeats from a worker thread, deadline and phi-accrual
 * detectors, suspicion with flap damping, and a self-pause guard.
 *
 * TCP notices a powered-off, hung or cut-off peer only after minutes of retransmissions. A keepalive
 * sends a small heartbeat every 20 ms on a UDP socket of its own, from a worker thread that neither a busy
 * main thread nor a large checkpoint on the data channel can delay, and convicts a silent peer after
 * `multiplier x interval` (100 ms by default) or when phi accrual says so. Each heartbeat carries the
 * sender's main-loop progress counter, so a peer whose heartbeat thread lives while its main loop is stuck
 * is convicted as hung.
 *
 * @example
 * ```ts
 * import { createKeepalive } from '@microcheckpoint/keepalive';
 *
 * const a = createKeepalive({ role: 'primary' });
 * const b = createKeepalive({ role: 'secondary' });
 * const [addrA, addrB] = await Promise.all([a.start(), b.start()]);
 * a.setPeer(addrB);
 * b.setPeer(addrA);
 * b.on('dead', (change) => console.log('primary is gone:', change.reason, change.heartbeatAgeMs));
 * await a.close(); // b sees a goodbye and convicts at once
 * await b.close();
 * ```
 */
export { type Clock, monotonicMs } from './clock.js';
export {
  CHECK_INTERVAL_MS,
  DETECT_MULTIPLIER,
  FLAP_HOLD_MS,
  FLAP_WINDOW_MS,
  HANG_TIMEOUT_MS,
  HEARTBEAT_INTERVAL_MS,
  MAX_FLAP_HOLD_MS,
  PHI_ACCEPTABLE_PAUSE_MS,
  PHI_MIN_STD_DEV_MS,
  PHI_THRESHOLD,
  PHI_WINDOW_SIZE,
  REPLAY_WINDOW_SIZE,
  STARTUP_TIMEOUT_MS,
  SUSPECT_FRACTION,
} from './constants.js';
export { crc32 } from './crc32.js';
export { type DataChannelLike, type DataChannelObserver, watchDataChannel } from './data-channel.js';
export {
  HeartbeatChecksumError,
  HeartbeatDecodeError,
  type HeartbeatDecodeReason,
  HeartbeatFieldError,
  HeartbeatMacError,
  HeartbeatMagicError,
  HeartbeatSizeError,
  HeartbeatUnauthenticatedError,
  HeartbeatVersionError,
  InvalidArgumentError,
  InvalidOptionError,
  KeepaliveError,
  type KeepaliveErrorCode,
  KeepaliveSocketError,
  KeepaliveStateError,
  KeepaliveWorkerError,
} from './errors.js';
export {
  createFailureDetector,
  type DataChannelLoss,
  type DetectionRule,
  type DetectorStatus,
  type EvidenceKind,
  FailureDetector,
  type FailureDetectorEvents,
  type FailureDetectorOptions,
  type FlapEvent,
  type HeartbeatArrival,
  type PeerInfo,
  type PeerState,
  type RestartEvent,
  type SelfPauseEvent,
  type StateChange,
  type TransitionReason,
} from './failure-detector.js';
export {
  deriveHeartbeatKeys,
  HEARTBEAT_KEY_BYTES,
  HEARTBEAT_MAC_BYTES,
  type HeartbeatKeyMaterial,
  type HeartbeatKeys,
} from './heartbeat-auth.js';
export {
  decodeHeartbeat,
  encodeAuthenticatedHeartbeat,
  encodeHeartbeat,
  HEARTBEAT_AUTH_BYTES,
  HEARTBEAT_AUTH_VERSION,
  HEARTBEAT_BYTES,
  HEARTBEAT_MAGIC,
  HEARTBEAT_VERSION,
  type Heartbeat,
  type PeerRole,
} from './heartbeat-codec.js';
export {
  createKeepalive,
  type DroppedHeartbeats,
  type HeartbeatAuthentication,
  Keepalive,
  type KeepaliveAddress,
  type KeepaliveEvents,
  type KeepaliveOptions,
  type KeepaliveStatus,
  type RejectedHeartbeats,
} from './keepalive.js';
export { phi } from './phi.js';
export { type ReplayVerdict, ReplayWindow } from './replay-window.js';
export type { PeerAddress } from './worker-protocol.js';
