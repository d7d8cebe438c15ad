/** Every error code this package throws or emits. */
export type KeepaliveErrorCode =
  | 'MC_ERR_INVALID_OPTION'
  | 'MC_ERR_INVALID_ARGUMENT'
  | 'MC_ERR_HEARTBEAT_SIZE'
  | 'MC_ERR_HEARTBEAT_MAGIC'
  | 'MC_ERR_HEARTBEAT_VERSION'
  | 'MC_ERR_HEARTBEAT_CHECKSUM'
  | 'MC_ERR_HEARTBEAT_FIELD'
  | 'MC_ERR_HEARTBEAT_MAC'
  | 'MC_ERR_HEARTBEAT_UNAUTHENTICATED'
  | 'MC_ERR_KEEPALIVE_STATE'
  | 'MC_ERR_SOCKET'
  | 'MC_ERR_WORKER';

/** Base class: every error from this package has a stable `code` and keeps its `cause`. */
export class KeepaliveError extends Error {
  readonly code: KeepaliveErrorCode;
  constructor(code: KeepaliveErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option passed to a factory has the wrong type or is out of range. */
export class InvalidOptionError extends KeepaliveError {
  constructor(option: string, message: string) {
    super('MC_ERR_INVALID_OPTION', `option ${option}: ${message}`);
  }
}

/** A method was called with an argument of the wrong type or out of range. */
export class InvalidArgumentError extends KeepaliveError {
  constructor(message: string) {
    super('MC_ERR_INVALID_ARGUMENT', message);
  }
}

/** Why a datagram is not a heartbeat; the receiver counts each reason separately. */
export type HeartbeatDecodeReason =
  | 'size'
  | 'magic'
  | 'version'
  | 'checksum'
  | 'field'
  | 'mac'
  | 'unauthenticated';

/** Base class of the errors `decodeHeartbeat` throws; `reason` names the check that failed. */
export class HeartbeatDecodeError extends KeepaliveError {
  readonly reason: HeartbeatDecodeReason;
  constructor(code: KeepaliveErrorCode, reason: HeartbeatDecodeReason, message: string) {
    super(code, message);
    this.reason = reason;
  }
}

/** The datagram is not exactly one heartbeat long: truncated, padded, or something else entirely. */
export class HeartbeatSizeError extends HeartbeatDecodeError {
  constructor(found: number, expected: number) {
    super('MC_ERR_HEARTBEAT_SIZE', 'size', `heartbeat is ${found} bytes, expected ${expected}`);
  }
}

/** The datagram does not start with the heartbeat magic: not a keepalive peer. */
export class HeartbeatMagicError extends HeartbeatDecodeError {
  constructor(found: number) {
    super('MC_ERR_HEARTBEAT_MAGIC', 'magic', `bad heartbeat magic 0x${found.toString(16).padStart(8, '0')}`);
  }
}

/** The peer speaks another heartbeat version. */
export class HeartbeatVersionError extends HeartbeatDecodeError {
  constructor(found: number, expected: number) {
    super(
      'MC_ERR_HEARTBEAT_VERSION',
      'version',
      `unsupported heartbeat version ${found} (this side speaks ${expected})`,
    );
  }
}

/** The CRC-32 over the heartbeat does not match: corrupted on the way. */
export class HeartbeatChecksumError extends HeartbeatDecodeError {
  constructor(found: number, computed: number) {
    super(
      'MC_ERR_HEARTBEAT_CHECKSUM',
      'checksum',
      `heartbeat checksum 0x${found.toString(16)} does not match 0x${computed.toString(16)}`,
    );
  }
}

/** A field holds a value no sender produces (unknown role or flag, zero interval, unsafe integer). */
export class HeartbeatFieldError extends HeartbeatDecodeError {
  constructor(message: string) {
    super('MC_ERR_HEARTBEAT_FIELD', 'field', message);
  }
}

/**
 * The heartbeat's MAC does not verify under the key of its sender: forged, corrupted, or from a node
 * holding another secret. Never evidence of life.
 */
export class HeartbeatMacError extends HeartbeatDecodeError {
  constructor() {
    super('MC_ERR_HEARTBEAT_MAC', 'mac', 'heartbeat MAC does not verify: forged or keyed differently');
  }
}

/** An unauthenticated (version 1) heartbeat reached a receiver that requires authentication. */
export class HeartbeatUnauthenticatedError extends HeartbeatDecodeError {
  constructor() {
    super(
      'MC_ERR_HEARTBEAT_UNAUTHENTICATED',
      'unauthenticated',
      'unauthenticated heartbeat (version 1) refused: this receiver requires authenticated heartbeats',
    );
  }
}

/** A method was called in a state that does not allow it (start twice, use after close). */
export class KeepaliveStateError extends KeepaliveError {
  constructor(message: string) {
    super('MC_ERR_KEEPALIVE_STATE', message);
  }
}

/** The heartbeat socket could not be bound or failed. */
export class KeepaliveSocketError extends KeepaliveError {
  constructor(message: string, cause?: unknown) {
    super('MC_ERR_SOCKET', message, { cause });
  }
}

/** The heartbeat worker thread failed or exited unexpectedly. */
export class KeepaliveWorkerError extends KeepaliveError {
  constructor(message: string, cause?: unknown) {
    super('MC_ERR_WORKER', message, { cause });
  }
}
