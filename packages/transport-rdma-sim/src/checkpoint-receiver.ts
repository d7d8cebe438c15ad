import { Access } from './access.js';
import type { CompletionQueue } from './completion-queue.js';
import { DEFAULT_RECEIVE_CREDITS } from './constants.js';
import { CompletionError, InvalidOptionError } from './errors.js';
import { MemoryRegion } from './memory-region.js';
import { QueuePair } from './queue-pair.js';
import { integerOption, optionsObject } from './validate.js';

/** Options of {@link createCheckpointReceiver}. */
export interface CheckpointReceiverOptions {
  /** The secondary's queue pair, in INIT or later (receives are posted at once), used by the receiver alone. Required. */
  qp: QueuePair;
  /**
   * Completion queue of the queue pair's receives, polled by this receiver alone.
   * @default qp.recvCq
   */
  cq?: CompletionQueue;
  /** The registered staging region the primary writes into (LOCAL_WRITE | REMOTE_WRITE). Required. */
  staging: MemoryRegion;
  /**
   * Receives kept posted. Each commit marker consumes one and is replaced as soon as it is polled,
   * so the marker never meets receiver-not-ready while the receiver keeps up. At most the queue's
   * `maxRecvWr`.
   * @default 16
   */
  credits?: number;
}

/** One checkpoint whose every byte has landed in staging. */
export interface ReceivedCheckpoint {
  /** The epoch the primary sent as the immediate (uint32). */
  epoch: number;
  /** The staging region's memory (a view, not a copy); valid until the next checkpoint is allowed in. */
  staging: Uint8Array;
}

/**
 * The secondary's side of checkpoint shipping. The primary's writes land in staging without the
 * secondary's involvement; the receiver only watches for commit markers (RDMA_WRITE_WITH_IMM
 * completions) and keeps receive credits posted.
 */
export class CheckpointReceiver {
  readonly #qp: QueuePair;
  readonly #cq: CompletionQueue;
  readonly #staging: MemoryRegion;
  readonly #credits: number;
  #nextWrId = 1;
  #closed = false;

  /** @internal use `createCheckpointReceiver()` */
  constructor(options: CheckpointReceiverOptions) {
    const o = optionsObject('options', options);
    if (!(o.qp instanceof QueuePair)) throw new InvalidOptionError('qp', 'must be a QueuePair');
    if (!(o.staging instanceof MemoryRegion))
      throw new InvalidOptionError('staging', 'must be a MemoryRegion');
    if ((o.staging.access & Access.REMOTE_WRITE) === 0) {
      throw new InvalidOptionError('staging', 'must be registered with REMOTE_WRITE (and LOCAL_WRITE)');
    }
    this.#qp = o.qp;
    this.#cq = o.cq ?? o.qp.recvCq;
    if (this.#cq !== o.qp.recvCq)
      throw new InvalidOptionError('cq', "must be the queue pair's receive completion queue");
    this.#staging = o.staging;
    this.#credits = integerOption(
      'credits',
      o.credits,
      Math.min(DEFAULT_RECEIVE_CREDITS, o.qp.capabilities.maxRecvWr),
      1,
      o.qp.capabilities.maxRecvWr,
    );
    const receives = Array.from({ length: this.#credits - o.qp.recvQueueOutstanding }, () => ({
      wrId: this.#nextWrId++,
    }));
    if (receives.length > 0) o.qp.postRecv(receives);
  }

  /** Receives posted right now. */
  get credits(): number {
    return this.#qp.recvQueueOutstanding;
  }

  /**
   * Takes the next committed checkpoint if its marker has arrived, without waiting: usable from a
   * loop that never yields. Replenishes the credit the marker consumed before returning.
   * @throws CompletionError when a marker completed with an error (the queue pair is then in ERR)
   */
  poll(): ReceivedCheckpoint | undefined {
    if (this.#closed) return undefined;
    const [wc] = this.#cq.poll(1);
    if (!wc) return undefined;
    if (wc.status !== 'SUCCESS') {
      this.#closed = true;
      throw new CompletionError(wc.status, wc.wrId, 'checkpoint receive failed');
    }
    if (wc.opcode !== 'RECV_RDMA_WITH_IMM' || wc.imm === undefined) {
      this.#closed = true;
      throw new CompletionError(
        wc.status,
        wc.wrId,
        `expected a commit marker, got a ${wc.opcode} completion`,
      );
    }
    this.#qp.postRecv({ wrId: this.#nextWrId++ });
    return { epoch: wc.imm, staging: this.#staging.buffer };
  }

  /**
   * Waits for the next committed checkpoint. Resolves undefined when `timeoutMs` passes first or
   * the receiver or its device is closed.
   * @throws CompletionError as `poll()`
   */
  async next(timeoutMs = Number.POSITIVE_INFINITY): Promise<ReceivedCheckpoint | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const checkpoint = this.poll();
      if (checkpoint || this.#closed) return checkpoint;
      const left = deadline - performance.now();
      if (left <= 0 || !(await this.#cq.wait(left))) return this.poll();
    }
  }

  /** Every committed checkpoint, in epoch order, until the receiver closes. */
  async *[Symbol.asyncIterator](): AsyncGenerator<ReceivedCheckpoint, void, undefined> {
    for (;;) {
      const checkpoint = await this.next();
      if (!checkpoint) return;
      yield checkpoint;
    }
  }

  /** Stops delivering; receives stay posted until the queue pair is reset or destroyed. */
  close(): void {
    this.#closed = true;
  }
}

/**
 * Creates a checkpoint receiver and posts its credits.
 * @throws InvalidOptionError naming a bad option; PostStateError when the queue pair is still in RESET
 */
export function createCheckpointReceiver(options: CheckpointReceiverOptions): CheckpointReceiver {
  return new CheckpointReceiver(options);
}
