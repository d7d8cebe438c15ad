import type { WcStatus } from './wc-status.js';

/** Every error code this package throws or emits. */
export type RdmaErrorCode =
  | 'MC_ERR_INVALID_OPTION'
  | 'MC_ERR_RDMA_INVALID_ARGUMENT'
  | 'MC_ERR_RDMA_INVALID_WR'
  | 'MC_ERR_RDMA_QP_STATE'
  | 'MC_ERR_RDMA_QUEUE_FULL'
  | 'MC_ERR_RDMA_TOO_MANY_SGES'
  | 'MC_ERR_RDMA_INLINE_TOO_LARGE'
  | 'MC_ERR_RDMA_REGISTRATION'
  | 'MC_ERR_RDMA_CQ_OVERRUN'
  | 'MC_ERR_RDMA_BUSY'
  | 'MC_ERR_RDMA_DEVICE_CLOSED'
  | 'MC_ERR_RDMA_NIC'
  | 'MC_ERR_RDMA_WIRE'
  | 'MC_ERR_RDMA_COMPLETION'
  | 'MC_ERR_RDMA_UNREGISTERED_MEMORY'
  | 'MC_ERR_RDMA_CHECKPOINT_RANGE';

/**
 * The errno a real verbs call would return for the same mistake, so code written against this
 * package can be mapped onto libibverbs without guessing.
 */
export type Errno = 'EINVAL' | 'ENOMEM' | 'EBUSY' | 'EIO' | 'ENODEV';

/** Base class: every error from this package has a stable `code` and keeps its `cause`. */
export class RdmaError extends Error {
  readonly code: RdmaErrorCode;
  /** What libibverbs would have returned for this mistake. */
  readonly errno: Errno;
  constructor(code: RdmaErrorCode, errno: Errno, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.errno = errno;
  }
}

/** An option passed to a factory or a verb is missing, of the wrong type or out of range. */
export class InvalidOptionError extends RdmaError {
  constructor(option: string, message: string) {
    super('MC_ERR_INVALID_OPTION', 'EINVAL', `option ${option}: ${message}`);
  }
}

/** A method argument is out of range (not an option of a factory). */
export class InvalidArgumentError extends RdmaError {
  constructor(message: string) {
    super('MC_ERR_RDMA_INVALID_ARGUMENT', 'EINVAL', message);
  }
}

/**
 * Base of the synchronous errors of `postSend()` / `postRecv()`. As with `ibv_post_send`'s `bad_wr`,
 * every work request before `badWrIndex` was posted and will complete; the one at `badWrIndex` and
 * those after it were not.
 */
export class PostError extends RdmaError {
  /** Index, in the list passed to the post call, of the first work request that was not posted. */
  readonly badWrIndex: number;
  constructor(code: RdmaErrorCode, errno: Errno, badWrIndex: number, message: string) {
    super(code, errno, `work request ${badWrIndex}: ${message}`);
    this.badWrIndex = badWrIndex;
  }
}

/** A work request is malformed: unknown opcode, missing rkey or immediate, bad scatter-gather entry. */
export class InvalidWorkRequestError extends PostError {
  constructor(badWrIndex: number, message: string) {
    super('MC_ERR_RDMA_INVALID_WR', 'EINVAL', badWrIndex, message);
  }
}

/** Posting in a queue pair state that does not allow it (send before RTS, receive in RESET). */
export class PostStateError extends PostError {
  constructor(badWrIndex: number, message: string) {
    super('MC_ERR_RDMA_QP_STATE', 'EINVAL', badWrIndex, message);
  }
}

/** The work queue is full; unsignaled send requests keep their slots until a later signaled one is polled. */
export class QueueFullError extends PostError {
  constructor(badWrIndex: number, message: string) {
    super('MC_ERR_RDMA_QUEUE_FULL', 'ENOMEM', badWrIndex, message);
  }
}

/** A work request has more scatter-gather entries than the queue pair was created for. */
export class TooManySgesError extends PostError {
  constructor(badWrIndex: number, count: number, max: number) {
    super(
      'MC_ERR_RDMA_TOO_MANY_SGES',
      'EINVAL',
      badWrIndex,
      `${count} scatter-gather entries, the queue allows ${max}`,
    );
  }
}

/** An inline send carries more bytes than the queue pair's `maxInlineData`. */
export class InlineTooLargeError extends PostError {
  constructor(badWrIndex: number, bytes: number, max: number) {
    super(
      'MC_ERR_RDMA_INLINE_TOO_LARGE',
      'EINVAL',
      badWrIndex,
      `${bytes} inline bytes, the queue allows ${max}`,
    );
  }
}

/** A queue pair transition that verbs would refuse (for example RESET to RTS), or a state the NIC changed first. */
export class QpStateError extends RdmaError {
  constructor(message: string) {
    super('MC_ERR_RDMA_QP_STATE', 'EINVAL', message);
  }
}

/** Memory cannot be registered: not backed by a SharedArrayBuffer, empty, or an invalid access combination. */
export class RegistrationError extends RdmaError {
  constructor(message: string) {
    super('MC_ERR_RDMA_REGISTRATION', 'EINVAL', message);
  }
}

/**
 * The NIC found the completion queue full and had to drop completions (verbs reports this as the
 * asynchronous event IBV_EVENT_CQ_ERR). The queue is unusable from then on.
 */
export class CqOverrunError extends RdmaError {
  constructor(capacity: number) {
    super(
      'MC_ERR_RDMA_CQ_OVERRUN',
      'EIO',
      `completion queue of ${capacity} entries overran: completions were lost`,
    );
  }
}

/** A resource is still in use: a PD with memory regions or queue pairs, a CQ with queue pairs. */
export class ResourceBusyError extends RdmaError {
  constructor(message: string) {
    super('MC_ERR_RDMA_BUSY', 'EBUSY', message);
  }
}

/** The device was closed (or its NIC thread died); nothing can be done with it any more. */
export class DeviceClosedError extends RdmaError {
  constructor(message = 'device is closed', options?: { cause?: unknown }) {
    super('MC_ERR_RDMA_DEVICE_CLOSED', 'ENODEV', message, options);
  }
}

/** The simulated NIC failed: its thread could not start or died, or a fabric link broke its protocol. */
export class NicError extends RdmaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MC_ERR_RDMA_NIC', 'EIO', message, options);
  }
}

/** A peer NIC sent bytes that are not a valid frame of this simulator's wire protocol; the link is dropped. */
export class WireProtocolError extends RdmaError {
  constructor(message: string) {
    super('MC_ERR_RDMA_WIRE', 'EIO', message);
  }
}

/** A work request completed with an error status where a helper needed it to succeed. */
export class CompletionError extends RdmaError {
  /** The completion status, e.g. `REM_ACCESS_ERR`. */
  readonly status: WcStatus;
  /** The work request id of the failed completion. */
  readonly wrId: number;
  constructor(status: WcStatus, wrId: number, message: string) {
    super('MC_ERR_RDMA_COMPLETION', 'EIO', `${message}: completion status ${status} (wrId ${wrId})`);
    this.status = status;
    this.wrId = wrId;
  }
}

/** Bytes handed to a helper do not lie inside any of the memory regions it was given. */
export class UnregisteredMemoryError extends RdmaError {
  constructor(message: string) {
    super('MC_ERR_RDMA_UNREGISTERED_MEMORY', 'EINVAL', message);
  }
}

/** A page run of a checkpoint does not fit the remote staging region, or the epoch is not a uint32. */
export class CheckpointRangeError extends RdmaError {
  constructor(message: string) {
    super('MC_ERR_RDMA_CHECKPOINT_RANGE', 'EINVAL', message);
  }
}
