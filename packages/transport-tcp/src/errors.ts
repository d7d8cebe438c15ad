/** Every error code this package throws or emits. */
export type TransportErrorCode =
  | 'MC_ERR_INVALID_OPTION'
  | 'MC_ERR_INVALID_ARGUMENT'
  | 'MC_ERR_FRAME_MAGIC'
  | 'MC_ERR_FRAME_VERSION'
  | 'MC_ERR_FRAME_HEADER'
  | 'MC_ERR_FRAME_TOO_LARGE'
  | 'MC_ERR_FRAME_CHECKSUM'
  | 'MC_ERR_FRAME_TRUNCATED'
  | 'MC_ERR_SEND_QUEUE_FULL'
  | 'MC_ERR_CHANNEL_CLOSED'
  | 'MC_ERR_CONNECT'
  | 'MC_ERR_SOCKET'
  | TlsErrorCode
  | 'MC_ERR_AUTH_PSK';

/** Why a TLS peer was refused (or refused us). */
export type TlsErrorCode =
  | 'MC_ERR_TLS_HANDSHAKE'
  | 'MC_ERR_TLS_CERT_UNTRUSTED'
  | 'MC_ERR_TLS_CERT_EXPIRED'
  | 'MC_ERR_TLS_NO_PEER_CERT'
  | 'MC_ERR_TLS_PEER_IDENTITY';

/** Base class: every error from this package has a stable `code` and keeps its `cause`. */
export class TransportError extends Error {
  readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option passed to a factory is missing its required shape or out of range. */
export class InvalidOptionError extends TransportError {
  constructor(option: string, message: string) {
    super('MC_ERR_INVALID_OPTION', `option ${option}: ${message}`);
  }
}

/** A method was called with an argument out of range (frame type, flags, payload part). */
export class InvalidArgumentError extends TransportError {
  constructor(message: string) {
    super('MC_ERR_INVALID_ARGUMENT', message);
  }
}

/** The stream does not start a frame with the magic bytes: not a microcheckpoint peer, or desynchronised. */
export class FrameMagicError extends TransportError {
  constructor(found: number) {
    super('MC_ERR_FRAME_MAGIC', `bad frame magic 0x${found.toString(16).padStart(4, '0')}`);
  }
}

/** The peer speaks another wire version. */
export class FrameVersionError extends TransportError {
  constructor(found: number, expected: number) {
    super('MC_ERR_FRAME_VERSION', `unsupported frame version ${found} (this side speaks ${expected})`);
  }
}

/** A header field that must be zero is not: a corrupted or foreign header. */
export class FrameHeaderError extends TransportError {
  constructor(message: string) {
    super('MC_ERR_FRAME_HEADER', message);
  }
}

/** A frame's payload length exceeds the configured maximum, on receive or on send. */
export class FrameTooLargeError extends TransportError {
  readonly length: number;
  readonly maxPayloadBytes: number;
  constructor(length: number, maxPayloadBytes: number) {
    super(
      'MC_ERR_FRAME_TOO_LARGE',
      `frame payload of ${length} bytes exceeds maxPayloadBytes ${maxPayloadBytes}`,
    );
    this.length = length;
    this.maxPayloadBytes = maxPayloadBytes;
  }
}

/** The frame's checksum does not match its header and payload: it was corrupted and is not delivered. */
export class FrameChecksumError extends TransportError {
  constructor(expected: number, actual: number, type: number) {
    super(
      'MC_ERR_FRAME_CHECKSUM',
      `frame type ${type}: checksum 0x${actual.toString(16)} does not match header 0x${expected.toString(16)}`,
    );
  }
}

/** The stream ended in the middle of a frame (peer closed or died mid-frame); the partial frame is dropped. */
export class FrameTruncatedError extends TransportError {
  constructor(receivedBytes: number, expectedBytes: number, options?: { cause?: unknown }) {
    super(
      'MC_ERR_FRAME_TRUNCATED',
      `connection ended mid-frame: ${receivedBytes} of ${expectedBytes} bytes of the frame received`,
      options,
    );
  }
}

/** The caller kept sending after `send()` returned false, and the queue reached its hard cap. */
export class SendQueueFullError extends TransportError {
  constructor(queuedBytes: number, maxQueuedBytes: number) {
    super(
      'MC_ERR_SEND_QUEUE_FULL',
      `send queue holds ${queuedBytes} bytes, the frame would exceed maxQueuedBytes ${maxQueuedBytes}; wait for 'drain'`,
    );
  }
}

/** The channel is closed or destroyed; nothing more can be sent. */
export class ChannelClosedError extends TransportError {
  constructor(message = 'channel is closed') {
    super('MC_ERR_CHANNEL_CLOSED', message);
  }
}

/** `connect()` could not establish the connection (refused, unreachable, timed out). */
export class ConnectError extends TransportError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MC_ERR_CONNECT', message, options);
  }
}

/** The underlying socket failed (reset, broken pipe); the original error is the `cause`. */
export class SocketError extends TransportError {
  constructor(cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super('MC_ERR_SOCKET', `socket error: ${detail}`, { cause });
  }
}

/**
 * A TLS handshake failed or the peer's certificate was refused: `MC_ERR_TLS_CERT_UNTRUSTED` (not chained
 * to the configured CA), `MC_ERR_TLS_CERT_EXPIRED` (expired or not yet valid), `MC_ERR_TLS_NO_PEER_CERT`
 * (the client presented none), `MC_ERR_TLS_PEER_IDENTITY` (name or fingerprint pin mismatch) or
 * `MC_ERR_TLS_HANDSHAKE` (anything else: a plain-TCP peer, no common protocol, a timeout). `reason`
 * is the underlying OpenSSL or Node reason, e.g. `CERT_HAS_EXPIRED`.
 */
export class TlsError extends TransportError {
  readonly reason: string;
  constructor(code: TlsErrorCode, reason: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.reason = reason;
  }
}

/** A pre-shared-key handshake failed: unknown identity or a different key on the two sides. */
export class PskAuthError extends TransportError {
  readonly reason: string;
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super('MC_ERR_AUTH_PSK', message, options);
    this.reason = reason;
  }
}
