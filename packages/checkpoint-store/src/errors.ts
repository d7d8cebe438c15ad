/**
 * Every error the store throws carries a literal `code` (`MC_ERR_*`) to switch on, and keeps the
 * underlying error as `cause`.
 */

/** Base class of every error thrown by this package. */
export abstract class CheckpointStoreError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An option passed to `createCheckpointStore` is missing its constraints; the message names it. */
export class InvalidOptionError extends CheckpointStoreError {
  readonly code = 'MC_ERR_INVALID_OPTION' as const;

  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`invalid option ${option}: ${message}`);
  }
}

/** A method argument is out of range or of the wrong size (page index, buffer, epoch). */
export class InvalidArgumentError extends CheckpointStoreError {
  readonly code = 'MC_ERR_INVALID_ARGUMENT' as const;

  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(`invalid ${argument}: ${message}`);
  }
}

/** The staged checkpoint would grow past `maxCheckpointBytes`; the engine should refuse the epoch. */
export class StagingFullError extends CheckpointStoreError {
  readonly code = 'MC_ERR_STAGING_FULL' as const;

  constructor(
    readonly epoch: number,
    readonly limitBytes: number,
    readonly requestedBytes: number,
  ) {
    super(
      `epoch ${epoch}: staging ${requestedBytes} bytes would exceed maxCheckpointBytes (${limitBytes} bytes)`,
    );
  }
}

/** An operation needs a staged epoch and there is none, or there already is one. */
export class StagingStateError extends CheckpointStoreError {
  readonly code = 'MC_ERR_STAGING_STATE' as const;
}

/** An epoch is not newer than the committed one, or a commit names another epoch than the staged one. */
export class EpochOrderError extends CheckpointStoreError {
  readonly code = 'MC_ERR_EPOCH_ORDER' as const;

  constructor(
    readonly epoch: number,
    readonly expected: string,
  ) {
    super(`epoch ${epoch} is out of order: expected ${expected}`);
  }
}

/** Why an XBZRLE delta was rejected. */
export type XbzrleMalformedReason =
  | 'truncated'
  | 'length-too-long'
  | 'zero-length-unchanged-run'
  | 'zero-length-changed-run'
  | 'past-end-of-page';

/** An XBZRLE delta is malformed; nothing was written to the target. */
export class XbzrleDecodeError extends CheckpointStoreError {
  readonly code = 'MC_ERR_XBZRLE_MALFORMED' as const;

  constructor(
    readonly reason: XbzrleMalformedReason,
    /** Offset in the delta where the problem was found. */
    readonly offset: number,
  ) {
    super(`malformed XBZRLE delta at byte ${offset}: ${reason}`);
  }
}

/** An encoded page does not decode to exactly one page; it was not staged. */
export class CorruptPageError extends CheckpointStoreError {
  readonly code = 'MC_ERR_CORRUPT_PAGE' as const;

  constructor(
    readonly pageIndex: number,
    readonly codec: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`page ${pageIndex} (${codec}): ${message}`, options);
  }
}

/** A codec was explicitly asked for and its module is not installed (zstd-napi is optional). */
export class CodecUnavailableError extends CheckpointStoreError {
  readonly code = 'MC_ERR_CODEC_UNAVAILABLE' as const;

  constructor(
    readonly codec: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`codec ${codec} is unavailable: ${message}`, options);
  }
}

/** Reading or writing the offload directory failed; the committed image is untouched. */
export class OffloadIoError extends CheckpointStoreError {
  readonly code = 'MC_ERR_OFFLOAD_IO' as const;
  /** The system error code, e.g. `ENOSPC`, `EACCES`, `EROFS`, or `ESHORTWRITE` for a short write. */
  readonly ioCode: string;

  constructor(
    readonly operation: string,
    readonly path: string,
    cause: unknown,
  ) {
    const ioCode = ioCodeOf(cause);
    super(`offload ${operation} failed on ${path}: ${ioCode}`, { cause });
    this.ioCode = ioCode;
  }
}

/** A record read back from the offload directory is not what was written. */
export class OffloadCorruptError extends CheckpointStoreError {
  readonly code = 'MC_ERR_OFFLOAD_CORRUPT' as const;

  constructor(
    readonly path: string,
    readonly offset: number,
    message: string,
  ) {
    super(`offloaded record at ${path}:${offset} is corrupt: ${message}`);
  }
}

/** The store was closed. */
export class StoreClosedError extends CheckpointStoreError {
  readonly code = 'MC_ERR_STORE_CLOSED' as const;

  constructor() {
    super('the checkpoint store is closed');
  }
}

function ioCodeOf(cause: unknown): string {
  if (typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string') {
    return cause.code;
  }
  return cause instanceof Error ? cause.message : String(cause);
}
