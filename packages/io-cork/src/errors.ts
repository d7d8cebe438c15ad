import type { CorkItem } from './item.js';

/** Every error code this package throws or reports. */
export type CorkErrorCode =
  | 'MC_ERR_INVALID_OPTION'
  | 'MC_ERR_INVALID_ARGUMENT'
  | 'MC_ERR_EPOCH_STATE'
  | 'MC_ERR_CORK_FULL'
  | 'MC_ERR_ITEM_TOO_LARGE'
  | 'MC_ERR_COMMITTED_OUTPUT'
  | 'MC_ERR_STALE_GENERATION'
  | 'MC_ERR_BATCH_TRUNCATED'
  | 'MC_ERR_BATCH_MAGIC'
  | 'MC_ERR_BATCH_VERSION'
  | 'MC_ERR_BATCH_TOO_LARGE'
  | 'MC_ERR_BATCH_CHECKSUM'
  | 'MC_ERR_BATCH_FORMAT'
  | 'MC_ERR_BATCH_ORDER'
  | 'MC_ERR_SOURCE_MISMATCH'
  | 'MC_ERR_SINK'
  | 'MC_ERR_SINK_CLOSED'
  | 'MC_ERR_ITEM_FRAME';

/** Base class: every error from this package has a stable `code` and keeps its `cause`. */
export class CorkError extends Error {
  readonly code: CorkErrorCode;
  constructor(code: CorkErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option passed to a factory is missing its required shape or out of range. */
export class InvalidOptionError extends CorkError {
  readonly option: string;
  constructor(option: string, message: string) {
    super('MC_ERR_INVALID_OPTION', `option ${option}: ${message}`);
    this.option = option;
  }
}

/** A method was called with an argument of the wrong type or out of range. */
export class InvalidArgumentError extends CorkError {
  constructor(message: string) {
    super('MC_ERR_INVALID_ARGUMENT', message);
  }
}

/**
 * The call does not fit the epoch life cycle (append with no open epoch, open while one is open,
 * seal or release of an epoch that is not in the right state, serialize of an epoch not held).
 * Nothing was changed.
 */
export class EpochStateError extends CorkError {
  constructor(message: string) {
    super('MC_ERR_EPOCH_STATE', message);
  }
}

/**
 * Accepting the item would pass `maxHeldBytes` or `maxHeldItems`. The item was not taken; everything
 * already held is untouched. `append` returned false well before this (at the high-water marks):
 * checkpoint sooner or throttle the workload.
 */
export class CorkQueueFullError extends CorkError {
  readonly heldBytes: number;
  readonly heldItems: number;
  constructor(heldBytes: number, heldItems: number, itemBytes: number, maxBytes: number, maxItems: number) {
    super(
      'MC_ERR_CORK_FULL',
      `cork queue holds ${heldItems} items / ${heldBytes} bytes; an item of ${itemBytes} bytes would pass ` +
        `maxHeldItems ${maxItems} or maxHeldBytes ${maxBytes}`,
    );
    this.heldBytes = heldBytes;
    this.heldItems = heldItems;
  }
}

/** One item is larger than `maxItemBytes` (on append, or inside a batch or frame being decoded). */
export class ItemTooLargeError extends CorkError {
  readonly length: number;
  readonly maxItemBytes: number;
  constructor(length: number, maxItemBytes: number) {
    super('MC_ERR_ITEM_TOO_LARGE', `item of ${length} bytes exceeds maxItemBytes ${maxItemBytes}`);
    this.length = length;
    this.maxItemBytes = maxItemBytes;
  }
}

/** The call would drop output that came from a committed checkpoint (an ingested batch). */
export class CommittedOutputError extends CorkError {
  constructor(message: string) {
    super('MC_ERR_COMMITTED_OUTPUT', message);
  }
}

/** A generation (fencing token) lower than one already seen: a deposed owner, or a token going backwards. */
export class StaleGenerationError extends CorkError {
  readonly generation: number;
  readonly current: number;
  constructor(generation: number, current: number, what: string) {
    super('MC_ERR_STALE_GENERATION', `${what}: generation ${generation} is below the current ${current}`);
    this.generation = generation;
    this.current = current;
  }
}

/** The serialized bytes end before the length their header announces (or before a header). */
export class BatchTruncatedError extends CorkError {
  constructor(what: string, received: number, expected: number) {
    super('MC_ERR_BATCH_TRUNCATED', `${what} truncated: ${received} of ${expected} bytes`);
  }
}

/** The bytes do not start with the expected magic: not a serialized batch or state at all. */
export class BatchMagicError extends CorkError {
  constructor(what: string, found: number, expected: number) {
    super(
      'MC_ERR_BATCH_MAGIC',
      `${what}: bad magic 0x${found.toString(16).padStart(8, '0')} (expected 0x${expected.toString(16)})`,
    );
  }
}

/** The bytes were written by another version of the format. */
export class BatchVersionError extends CorkError {
  readonly version: number;
  constructor(what: string, found: number, expected: number) {
    super(
      'MC_ERR_BATCH_VERSION',
      `${what}: unsupported format version ${found} (this side reads ${expected})`,
    );
    this.version = found;
  }
}

/** The header announces more bytes than the configured maximum; nothing past the header is read. */
export class BatchTooLargeError extends CorkError {
  constructor(what: string, length: number, max: number) {
    super('MC_ERR_BATCH_TOO_LARGE', `${what} of ${length} bytes exceeds the maximum ${max}`);
  }
}

/** The checksum over the bytes does not match the header: corrupted in transit or in storage. */
export class BatchChecksumError extends CorkError {
  constructor(what: string, expected: number, actual: number) {
    super(
      'MC_ERR_BATCH_CHECKSUM',
      `${what}: crc32 0x${actual.toString(16)} does not match header 0x${expected.toString(16)}`,
    );
  }
}

/** The checksum matched but the contents are inconsistent (lengths, indexes, counters, text). */
export class BatchFormatError extends CorkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MC_ERR_BATCH_FORMAT', message, options);
  }
}

/** Why a batch does not fit the queue's history. */
export type BatchOrderReason = 'epoch-not-after' | 'seq-regression' | 'seq-gap';

/**
 * A well-formed batch that does not follow what this queue already holds: an epoch not after the last
 * one, or a first seq below (`seq-regression`) or above (`seq-gap`) the queue's next seq. Nothing was
 * ingested.
 */
export class BatchOrderError extends CorkError {
  readonly reason: BatchOrderReason;
  constructor(reason: BatchOrderReason, message: string) {
    super('MC_ERR_BATCH_ORDER', message);
    this.reason = reason;
  }
}

/** A batch or state from another protected workload (its source differs from the queue's). */
export class SourceMismatchError extends CorkError {
  constructor(found: string, expected: string) {
    super(
      'MC_ERR_SOURCE_MISMATCH',
      `batch source ${JSON.stringify(found)} is not ${JSON.stringify(expected)}`,
    );
  }
}

/**
 * A sink failed to take one item. Reported through the queue's `sink-error` event with the item it
 * concerned; other destinations are not affected and this destination continues with its next item.
 */
export class SinkError extends CorkError {
  readonly item: CorkItem;
  readonly destination: string;
  constructor(item: CorkItem, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(
      'MC_ERR_SINK',
      `sink for ${JSON.stringify(item.destination)} failed on seq ${item.seq}: ${detail}`,
      {
        cause,
      },
    );
    this.item = item;
    this.destination = item.destination;
  }
}

/** A stream or socket sink was asked to write after its stream ended or was destroyed. */
export class SinkClosedError extends CorkError {
  constructor(message = 'the sink stream is closed') {
    super('MC_ERR_SINK_CLOSED', message);
  }
}

/** Why an item frame could not be decoded. */
export type ItemFrameReason = 'magic' | 'version' | 'header' | 'too-large' | 'truncated' | 'poisoned';

/**
 * A receiver got bytes that are not a valid item frame. The stream is desynchronised; the decoder
 * refuses further input.
 */
export class ItemFrameError extends CorkError {
  readonly reason: ItemFrameReason;
  constructor(reason: ItemFrameReason, message: string) {
    super('MC_ERR_ITEM_FRAME', message);
    this.reason = reason;
  }
}
