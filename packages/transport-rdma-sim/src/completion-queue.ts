import { DEFAULT_CQ_CAPACITY, DEVICE_MAX_CQE } from './constants.js';
import {
  allocateCqRing,
  CQ_CLOSED,
  CQ_CONSUMER,
  CQ_HEADER_BYTES,
  CQ_OVERRUN,
  CQ_PRODUCER,
  CQE,
  CQE_FIELDS,
  CQE_FLAG_IMM,
  CQE_FLAG_RECV,
  cqRingCapacity,
} from './cq-ring.js';
import type { DeviceContext } from './device-context.js';
import { CqOverrunError, InvalidArgumentError, ResourceBusyError } from './errors.js';
import { type WcOpcode, wcOpcodeFromNumber } from './opcode.js';
import { integerOption, optionsObject } from './validate.js';
import { type WcStatus, wcStatusFromNumber } from './wc-status.js';

/** A work completion (`ibv_wc`). */
export interface WorkCompletion {
  /** The `wrId` of the work request. */
  wrId: number;
  status: WcStatus;
  /**
   * What completed. Unlike verbs, where the opcode of an error completion is undefined, the
   * simulator always fills it in.
   */
  opcode: WcOpcode;
  /** Receive: bytes received (for RECV_RDMA_WITH_IMM, the length of the WRITE). Send: the message length. */
  byteLen: number;
  /** The local queue pair. */
  qpNum: number;
  /** Receive only: the remote queue pair the message came from. */
  srcQp: number;
  /** Immediate data, when the completion carries some (IBV_WC_WITH_IMM); undefined otherwise. */
  imm: number | undefined;
}

/** Options of `device.createCq()`. */
export interface CqOptions {
  /**
   * Entries the queue holds; rounded up to a power of two (read `capacity` for the real size), as
   * `ibv_create_cq` may give more than asked for.
   * @default 256
   */
  capacity?: number;
}

type WaitAsyncResult =
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (
  Atomics as unknown as { waitAsync: (a: Int32Array, i: number, v: number, t?: number) => WaitAsyncResult }
).waitAsync;

/**
 * A completion queue (`ibv_cq`). The NIC writes completions into shared memory, so `poll()` is a
 * synchronous read that works even in a loop that never yields to the event loop; `wait()` is the
 * awaitable notification.
 */
export class CompletionQueue {
  /** Device-local handle of the CQ. */
  readonly handle: number;
  /** Entries the queue holds. */
  readonly capacity: number;
  readonly #ctx: DeviceContext;
  readonly #header: Int32Array;
  readonly #entries: Float64Array;
  readonly #mask: number;
  readonly #users = new Set<number>();
  #destroyed = false;

  /** @internal use `device.createCq()` */
  constructor(ctx: DeviceContext, options: CqOptions = {}) {
    const o = optionsObject('options', options);
    const requested = integerOption('capacity', o.capacity, DEFAULT_CQ_CAPACITY, 1, DEVICE_MAX_CQE);
    this.#ctx = ctx;
    this.capacity = cqRingCapacity(requested);
    this.#mask = this.capacity - 1;
    this.handle = ctx.allocCqHandle();
    const ring = allocateCqRing(this.capacity);
    this.#header = new Int32Array(ring, 0, 4);
    this.#entries = new Float64Array(ring, CQ_HEADER_BYTES, this.capacity * CQE_FIELDS);
    ctx.post({ t: 'cq', cq: this.handle, ring, capacity: this.capacity });
    ctx.cqs.set(this.handle, this);
  }

  /** Completions waiting to be polled. */
  get pending(): number {
    return (Atomics.load(this.#header, CQ_PRODUCER) - this.#header[CQ_CONSUMER]!) | 0;
  }

  /**
   * Takes up to `maxEntries` completions, oldest first (`ibv_poll_cq`). Never blocks. Polling a send
   * completion also frees the send queue slots of every earlier unsignaled request of its QP.
   * @throws CqOverrunError once the NIC had to drop a completion because the queue was full
   */
  poll(maxEntries = 16): WorkCompletion[] {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new InvalidArgumentError(`maxEntries must be a positive integer, got ${maxEntries}`);
    }
    if (Atomics.load(this.#header, CQ_OVERRUN) !== 0) throw new CqOverrunError(this.capacity);
    const producer = Atomics.load(this.#header, CQ_PRODUCER);
    let consumer = this.#header[CQ_CONSUMER]!;
    const out: WorkCompletion[] = [];
    const e = this.#entries;
    while (consumer !== producer && out.length < maxEntries) {
      const base = (consumer & this.#mask) * CQE_FIELDS;
      const flags = e[base + CQE.FLAGS]!;
      const qpNum = e[base + CQE.QP_NUM]!;
      const isRecv = (flags & CQE_FLAG_RECV) !== 0;
      out.push({
        wrId: e[base + CQE.WR_ID]!,
        status: wcStatusFromNumber(e[base + CQE.STATUS]!),
        opcode: wcOpcodeFromNumber(e[base + CQE.OPCODE]!),
        byteLen: e[base + CQE.BYTE_LEN]!,
        qpNum,
        srcQp: isRecv ? e[base + CQE.SRC_QP]! : 0,
        imm: (flags & CQE_FLAG_IMM) !== 0 ? e[base + CQE.IMM]! : undefined,
      });
      this.#ctx.qps.get(qpNum)?._retire(isRecv, e[base + CQE.WQE_INDEX]!);
      consumer = (consumer + 1) | 0;
    }
    Atomics.store(this.#header, CQ_CONSUMER, consumer);
    return out;
  }

  /**
   * Resolves true as soon as at least one completion can be polled, or false when `timeoutMs`
   * passes first or the device closes. This is `ibv_req_notify_cq` + `ibv_get_cq_event` without
   * their race: a completion that arrives between a poll and the wait is never missed.
   * @param timeoutMs how long to wait, in milliseconds; Infinity waits forever
   * @throws CqOverrunError once the queue overran
   */
  async wait(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
      throw new InvalidArgumentError(`timeoutMs must be a non-negative number, got ${String(timeoutMs)}`);
    }
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (Atomics.load(this.#header, CQ_OVERRUN) !== 0) throw new CqOverrunError(this.capacity);
      if (Atomics.load(this.#header, CQ_CLOSED) !== 0) return false;
      const producer = Atomics.load(this.#header, CQ_PRODUCER);
      if (producer !== this.#header[CQ_CONSUMER]) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      const result = waitAsync(this.#header, CQ_PRODUCER, producer, Number.isFinite(left) ? left : undefined);
      if (result.async) await result.value;
    }
  }

  /**
   * Destroys the queue (`ibv_destroy_cq`).
   * @throws ResourceBusyError (EBUSY) while a queue pair uses it
   */
  destroy(): void {
    if (this.#destroyed) return;
    if (this.#users.size > 0)
      throw new ResourceBusyError(`completion queue is used by ${this.#users.size} queue pair(s)`);
    this.#destroyed = true;
    this.#ctx.cqs.delete(this.handle);
    this._close();
    if (!this.#ctx.closed) this.#ctx.post({ t: 'cq-destroy', cq: this.handle });
  }

  /** @internal a queue pair starts or stops using this CQ */
  _use(qpNum: number, using: boolean): void {
    if (this.#destroyed && using) throw new InvalidArgumentError('completion queue was destroyed');
    if (using) this.#users.add(qpNum);
    else this.#users.delete(qpNum);
  }

  /** @internal wakes every waiter for good (device closing) */
  _close(): void {
    Atomics.store(this.#header, CQ_CLOSED, 1);
    Atomics.notify(this.#header, CQ_PRODUCER);
  }
}
