/** Every error code this package throws, rejects with or emits. */
export type McCoreErrorCode =
  | 'MC_ERR_INVALID_OPTION'
  | 'MC_ERR_INVALID_ARGUMENT'
  | 'MC_ERR_OUT_OF_BOUNDS'
  | 'MC_ERR_MEMORY_ALLOCATION'
  | 'MC_ERR_KERNEL_UNAVAILABLE'
  | 'MC_ERR_SLAB_BUSY'
  | 'MC_ERR_CAPTURE_HELPER_STALLED'
  | 'MC_ERR_GUEST_STATE'
  | 'MC_ERR_PAUSE_TIMEOUT'
  | 'MC_ERR_GUEST_QUEUE_FULL'
  | 'MC_ERR_GUEST_CLOSED'
  | 'MC_ERR_GUEST_FAILED'
  | 'MC_ERR_ENGINE_STATE'
  | 'MC_ERR_ATTACH'
  | 'MC_ERR_PEER_LOST'
  | 'MC_ERR_PEER_ERROR'
  | 'MC_ERR_ARBITRATION_LOST'
  | 'MC_ERR_CHECKPOINT_TOO_LARGE'
  | 'MC_ERR_STALE_TOKEN'
  | 'MC_ERR_SWITCHOVER'
  | 'MC_ERR_ARBITER_IO'
  | 'MC_ERR_ARBITER_UNAVAILABLE'
  | 'MC_ERR_ARBITER_CLOSED'
  | 'MC_ERR_WITNESS_PROTOCOL'
  | 'MC_ERR_WITNESS_STATE';

/** Base class: every error from this package has a stable `code` and keeps its `cause`. */
export class McCoreError extends Error {
  readonly code: McCoreErrorCode;
  constructor(code: McCoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option passed to a factory is missing, of the wrong type or out of range. */
export class InvalidOptionError extends McCoreError {
  constructor(option: string, message: string) {
    super('MC_ERR_INVALID_OPTION', `option ${option}: ${message}`);
  }
}

/** A method was called with an argument of the wrong type or shape. */
export class InvalidArgumentError extends McCoreError {
  constructor(message: string) {
    super('MC_ERR_INVALID_ARGUMENT', message);
  }
}

/** An offset, length, page index or page run falls outside guest memory or the data given. */
export class OutOfBoundsError extends McCoreError {
  constructor(message: string) {
    super('MC_ERR_OUT_OF_BOUNDS', message);
  }
}

/** The engine refused to allocate the shared memory (too large for this process or this machine). */
export class MemoryAllocationError extends McCoreError {
  constructor(bytes: number, cause: unknown) {
    super('MC_ERR_MEMORY_ALLOCATION', `could not allocate a shared memory of ${bytes} bytes`, { cause });
  }
}

/** `kernel: 'wasm'` was asked for but the WebAssembly kernel cannot be instantiated here. */
export class KernelUnavailableError extends McCoreError {
  constructor(cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super('MC_ERR_KERNEL_UNAVAILABLE', `the WebAssembly capture kernel is unavailable: ${detail}`, { cause });
  }
}

/**
 * The capture helper thread claimed part of a capture and did not finish it within the deadline (its
 * thread was not scheduled, or died). Its late writes could land in a slab at any time, so this
 * memory takes no capture any more: every later `capture()` throws this error too. A primary reports
 * it as an `error` at each epoch and releases no more output; close it and let the secondary take
 * over from the last committed checkpoint.
 */
export class CaptureHelperStalledError extends McCoreError {
  constructor(waitedMs: number) {
    super(
      'MC_ERR_CAPTURE_HELPER_STALLED',
      `the capture helper thread did not finish its part of a capture within ${waitedMs} ms; this memory takes no more captures`,
    );
  }
}

/**
 * Both staging slabs hold captures that were not released. Nothing was swapped: the dirty pages are
 * still dirty. Release a capture (its checkpoint was shipped) or stretch the epoch.
 */
export class SlabBusyError extends McCoreError {
  constructor() {
    super('MC_ERR_SLAB_BUSY', 'both staging slabs hold unreleased captures; release one before capturing');
  }
}

/** A guest method was called in a state that does not allow it (resume while pausing, use after close). */
export class GuestStateError extends McCoreError {
  constructor(message: string) {
    super('MC_ERR_GUEST_STATE', message);
  }
}

/** The guest did not reach a safe point in time; the pause request was withdrawn and the guest runs on. */
export class PauseTimeoutError extends McCoreError {
  constructor(timeoutMs: number) {
    super('MC_ERR_PAUSE_TIMEOUT', `the guest did not reach a safe point within ${timeoutMs} ms`);
  }
}

/** The caller kept submitting after `submit()` returned false, and the queue reached its hard cap. */
export class GuestQueueFullError extends McCoreError {
  constructor(maxQueuedRequests: number) {
    super(
      'MC_ERR_GUEST_QUEUE_FULL',
      `the guest already queues maxQueuedRequests ${maxQueuedRequests} requests; wait for 'drain'`,
    );
  }
}

/** The guest was closed; it takes no more requests and never resumes. */
export class GuestClosedError extends McCoreError {
  constructor(message = 'the guest is closed') {
    super('MC_ERR_GUEST_CLOSED', message);
  }
}

/** The workload threw or its worker died; the guest stops and the original error is the `cause`. */
export class GuestFailedError extends McCoreError {
  constructor(message: string, cause?: unknown) {
    super('MC_ERR_GUEST_FAILED', message, { cause });
  }
}

/** An engine method was called in a state that does not allow it (`start()` twice, use after close). */
export class EngineStateError extends McCoreError {
  constructor(message: string) {
    super('MC_ERR_ENGINE_STATE', message);
  }
}

/** The primary could not connect to its secondary and finish the HELLO exchange in time. */
export class AttachError extends McCoreError {
  constructor(message: string, cause?: unknown) {
    super('MC_ERR_ATTACH', message, cause === undefined ? undefined : { cause });
  }
}

/** The peer was lost (data channel closed, keepalive conviction) before the operation could finish. */
export class PeerLostError extends McCoreError {
  constructor(message: string, cause?: unknown) {
    super('MC_ERR_PEER_LOST', message, cause === undefined ? undefined : { cause });
  }
}

/** The peer reported an error (an ERROR message) and ended the session. */
export class PeerErrorReport extends McCoreError {
  /** The peer's error code. */
  readonly peerCode: string;
  constructor(peerCode: string, detail: string) {
    super('MC_ERR_PEER_ERROR', `the peer reported ${peerCode}: ${detail}`);
    this.peerCode = peerCode;
  }
}

/** The arbiter gave the generation to another node: this node must not act alone. */
export class ArbitrationLostError extends McCoreError {
  constructor(generation: number) {
    super('MC_ERR_ARBITRATION_LOST', `another node holds generation ${generation} or a newer one`);
  }
}

/** A checkpoint is larger than the secondary accepts (its maxCheckpointBytes); it cannot be shipped. */
export class CheckpointTooLargeError extends McCoreError {
  constructor(epoch: number, bytes: number, maxBytes: number) {
    super(
      'MC_ERR_CHECKPOINT_TOO_LARGE',
      `checkpoint ${epoch} holds ${bytes} bytes; the secondary accepts at most ${maxBytes}`,
    );
  }
}

/**
 * A message or output carries a fencing token lower than one this node has already seen: it comes
 * from a deposed generation (an old primary still running, a late packet) and is refused.
 */
export class StaleTokenError extends McCoreError {
  /** The token the refused thing carried. */
  readonly token: number;
  /** The highest token this node has seen. */
  readonly current: number;
  constructor(what: string, token: number, current: number) {
    super('MC_ERR_STALE_TOKEN', `${what} carries token ${token}, older than ${current}`);
    this.token = token;
    this.current = current;
  }
}

/** A planned switchover could not finish (the secondary did not confirm the handover in time, or refused it). */
export class SwitchoverError extends McCoreError {
  constructor(message: string, cause?: unknown) {
    super('MC_ERR_SWITCHOVER', message, cause === undefined ? undefined : { cause });
  }
}

/** The shared-file arbiter could not read or write its directory. */
export class ArbiterIoError extends McCoreError {
  constructor(message: string, cause?: unknown) {
    super('MC_ERR_ARBITER_IO', message, cause === undefined ? undefined : { cause });
  }
}

/** Base class of the witness arbiter's errors (client and server). */
export class WitnessError extends McCoreError {}

/**
 * The witness could not be reached or did not answer within the request deadline (refused, reset,
 * frozen, gone). Nothing was granted: behave as if arbitration was lost, and retry later.
 */
export class WitnessUnavailableError extends WitnessError {
  constructor(message: string, cause?: unknown) {
    super('MC_ERR_ARBITER_UNAVAILABLE', `witness unavailable: ${message}`, { cause });
  }
}

/** The arbiter (or the server) was closed. */
export class WitnessClosedError extends WitnessError {
  constructor(what = 'the witness arbiter') {
    super('MC_ERR_ARBITER_CLOSED', `${what} is closed`);
  }
}

/**
 * A witness message is malformed (wrong length, unknown type, bad field) or the peer reported that ours
 * was. The message is dropped whole and nothing it asked for happens.
 */
export class WitnessProtocolError extends WitnessError {
  constructor(message: string, cause?: unknown) {
    super('MC_ERR_WITNESS_PROTOCOL', message, { cause });
  }
}

/**
 * The witness state file cannot be read back (corrupted, another format, unreadable) or written. The
 * witness refuses to start on state it cannot trust, and refuses a grant it could not persist.
 */
export class WitnessStateError extends WitnessError {
  constructor(message: string, cause?: unknown) {
    super('MC_ERR_WITNESS_STATE', message, { cause });
  }
}
