/** Every error code this package throws or rejects with. */
export type EtcdArbiterErrorCode =
  | 'MC_ERR_INVALID_OPTION'
  | 'MC_ERR_INVALID_ARGUMENT'
  | 'MC_ERR_ARBITER_UNAVAILABLE'
  | 'MC_ERR_ARBITER_REQUEST'
  | 'MC_ERR_ARBITER_STATE'
  | 'MC_ERR_ARBITER_CLOSED';

/** Base class: every error from this package has a stable `code` and keeps its `cause`. */
export class EtcdArbiterError extends Error {
  readonly code: EtcdArbiterErrorCode;
  constructor(code: EtcdArbiterErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option passed to `createEtcdArbiter` is missing, of the wrong type or out of range. */
export class InvalidOptionError extends EtcdArbiterError {
  constructor(option: string, message: string) {
    super('MC_ERR_INVALID_OPTION', `option ${option}: ${message}`);
  }
}

/** A request or grant passed to a method has the wrong shape or is out of range. */
export class InvalidArgumentError extends EtcdArbiterError {
  constructor(message: string) {
    super('MC_ERR_INVALID_ARGUMENT', message);
  }
}

/**
 * etcd did not answer in time or could not be reached (refused, reset, no leader, deadline passed).
 * Nothing was granted: the caller must behave as if it lost arbitration and may retry later.
 */
export class ArbiterUnavailableError extends EtcdArbiterError {
  constructor(operation: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super('MC_ERR_ARBITER_UNAVAILABLE', `etcd unavailable during ${operation}: ${detail}`, { cause });
  }
}

/** etcd answered but refused the request (permission denied, bad request). Nothing was granted. */
export class ArbiterRequestError extends EtcdArbiterError {
  constructor(operation: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super('MC_ERR_ARBITER_REQUEST', `etcd refused ${operation}: ${detail}`, { cause });
  }
}

/**
 * A key under the arbiter's prefix does not hold what this package writes there (another program
 * wrote it, or it was edited by hand). The arbiter refuses to decide on state it cannot read.
 */
export class ArbiterStateError extends EtcdArbiterError {
  constructor(key: string, message: string) {
    super('MC_ERR_ARBITER_STATE', `etcd key ${key}: ${message}`);
  }
}

/** The arbiter was closed; it makes no more requests. */
export class ArbiterClosedError extends EtcdArbiterError {
  constructor() {
    super('MC_ERR_ARBITER_CLOSED', 'the etcd arbiter is closed');
  }
}
