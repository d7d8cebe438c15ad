/** Codes of the errors the MC protocol codec raises. */
export type ProtocolErrorCode =
  | 'MC_ERR_PROTOCOL_UNKNOWN_TYPE'
  | 'MC_ERR_PROTOCOL_TRUNCATED'
  | 'MC_ERR_PROTOCOL_MALFORMED'
  | 'MC_ERR_PROTOCOL_RANGE'
  | 'MC_ERR_PROTOCOL_HANDSHAKE'
  | 'MC_ERR_PROTOCOL_UNEXPECTED';

/** A protocol message could not be encoded or decoded. The connection that carried it must end. */
export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A frame type this side does not know. */
export class UnknownMessageTypeError extends ProtocolError {
  constructor(type: number) {
    super('MC_ERR_PROTOCOL_UNKNOWN_TYPE', `unknown MC protocol message type ${type}`);
  }
}

/** A message's payload ends before all its fields were read. */
export class TruncatedMessageError extends ProtocolError {
  constructor(what: string, needed: number, available: number) {
    super('MC_ERR_PROTOCOL_TRUNCATED', `${what}: needs ${needed} more bytes, ${available} left`);
  }
}

/** A message is structurally wrong: trailing bytes, inconsistent counts, invalid text. */
export class MalformedMessageError extends ProtocolError {
  constructor(message: string) {
    super('MC_ERR_PROTOCOL_MALFORMED', message);
  }
}

/** A field value is out of the range the wire format can carry (encode) or allows (decode). */
export class FieldRangeError extends ProtocolError {
  constructor(field: string, value: unknown, range: string) {
    super('MC_ERR_PROTOCOL_RANGE', `${field} = ${String(value)} is outside ${range}`);
  }
}

/**
 * The peer's HELLO cannot start a session: another protocol version, another role than expected, a
 * memory of another shape, a stale fencing token, or a secondary that already holds another session.
 */
export class HandshakeError extends ProtocolError {
  constructor(message: string) {
    super('MC_ERR_PROTOCOL_HANDSHAKE', message);
  }
}

/** A well-formed message that the protocol does not allow at this point of the session. */
export class UnexpectedMessageError extends ProtocolError {
  constructor(message: string) {
    super('MC_ERR_PROTOCOL_UNEXPECTED', message);
  }
}

/** Codes of checkpoint sequencing failures on the secondary. */
export type CheckpointErrorCode =
  | 'MC_ERR_CKPT_OUT_OF_ORDER'
  | 'MC_ERR_CKPT_STALE_TOKEN'
  | 'MC_ERR_CKPT_TOO_LARGE'
  | 'MC_ERR_CKPT_BAD_RUN'
  | 'MC_ERR_CKPT_MISMATCH';

/**
 * A checkpoint broke the protocol's rules (order, fencing, budget, bounds, counts, checksum). The
 * staged checkpoint is aborted; the committed image is untouched; the connection must end.
 */
export class CheckpointProtocolError extends Error {
  readonly code: CheckpointErrorCode;
  readonly epoch: number | null;
  constructor(
    code: CheckpointErrorCode,
    epoch: number | null,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.epoch = epoch;
  }
}
