/** Every error code the KV example throws. */
export type KvErrorCode =
  | 'MC_ERR_INVALID_OPTION'
  | 'MC_ERR_KV_FULL'
  | 'MC_ERR_KV_FORMAT'
  | 'MC_ERR_RESP_PROTOCOL'
  | 'MC_ERR_RESP_REPLY';

/** Base class: a stable `code` and the `cause` kept. */
export class KvError extends Error {
  readonly code: KvErrorCode;
  constructor(code: KvErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option is missing, of the wrong type or out of range. */
export class InvalidOptionError extends KvError {
  constructor(option: string, message: string) {
    super('MC_ERR_INVALID_OPTION', `option ${option}: ${message}`);
  }
}

/** The table has no room: no free slot under the load limit, or no heap block of the size needed. */
export class KvFullError extends KvError {
  constructor(message: string) {
    super('MC_ERR_KV_FULL', message);
  }
}

/** Guest memory does not hold a table of this version where one was expected, or its header is corrupt. */
export class KvFormatError extends KvError {
  constructor(message: string) {
    super('MC_ERR_KV_FORMAT', message);
  }
}

/** A client broke the RESP protocol; the server answers with an error and closes the connection. */
export class RespProtocolError extends KvError {
  constructor(message: string) {
    super('MC_ERR_RESP_PROTOCOL', `Protocol error: ${message}`);
  }
}

/** A server's replies broke RESP2 or its limits; the client's connection is unusable after it. */
export class RespReplyError extends KvError {
  constructor(message: string) {
    super('MC_ERR_RESP_REPLY', message);
  }
}
