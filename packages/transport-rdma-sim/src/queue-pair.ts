import { ACCESS_ALL, type AccessFlags } from './access.js';
import { CompletionQueue } from './completion-queue.js';
import {
  DEFAULT_ACK_TIMEOUT_MS,
  DEFAULT_MAX_INLINE_DATA_BYTES,
  DEFAULT_MAX_RECV_SGE,
  DEFAULT_MAX_RECV_WR,
  DEFAULT_MAX_SEND_SGE,
  DEFAULT_MAX_SEND_WR,
  DEFAULT_MIN_RNR_TIMER_MS,
  DEFAULT_PATH_MTU_BYTES,
  DEFAULT_RETRY_COUNT,
  DEFAULT_RNR_RETRY,
  DEVICE_MAX_INLINE_DATA_BYTES,
  DEVICE_MAX_QP_WR,
  DEVICE_MAX_SGE,
  MAX_MIN_RNR_TIMER_MS,
  PATH_MTUS_BYTES,
  PSN_MASK,
} from './constants.js';
import type { DeviceContext } from './device-context.js';
import { InvalidOptionError, PostStateError, QpStateError, QueueFullError } from './errors.js';
import type { EncodedRecvWqe, EncodedSendWqe, ModifyCommand } from './nic/commands.js';
import { packRecvWqes, packSendWqes } from './nic/wqe-codec.js';
import type { ProtectionDomain } from './protection-domain.js';
import { isValidTransition, QP_STATE_NUMBER, type QpState, qpStateFromNumber } from './qp-state.js';
import { booleanOption, integerOption, numberOption, optionsObject, stringOption } from './validate.js';
import { encodeRecvWqe, encodeSendWqe, type RecvWorkRequest, type SendWorkRequest } from './work-request.js';

/** Where a queue pair lives: its device's address and its number. Exchanged out of band, as in verbs. */
export interface QpEndpoint {
  /** The device address (`device.address`). */
  address: string;
  /** The queue pair number. */
  qpNum: number;
}

/** Work queue sizes (`ibv_qp_cap`). */
export interface QpCapabilities {
  /**
   * Send queue depth; unsignaled requests hold their slot until a later signaled one is polled.
   * @default 128
   */
  maxSendWr?: number;
  /**
   * Receive queue depth.
   * @default 128
   */
  maxRecvWr?: number;
  /**
   * Scatter-gather entries per send request.
   * @default 4
   */
  maxSendSge?: number;
  /**
   * Scatter-gather entries per receive request.
   * @default 4
   */
  maxRecvSge?: number;
  /**
   * Bytes a send request may carry inline.
   * @default 64
   */
  maxInlineData?: number;
}

/** Options of `pd.createQp()` (`ibv_qp_init_attr`; the type is always RC). */
export interface QpOptions extends QpCapabilities {
  /** Completion queue of send requests. Required. */
  sendCq: CompletionQueue;
  /** Completion queue of receive requests. Required; may be the same as `sendCq`. */
  recvCq: CompletionQueue;
  /**
   * Signal every send request (`sq_sig_all = 1`) instead of only those with `signaled: true`.
   * @default false
   */
  signalAll?: boolean;
}

/** Attributes of a transition (`ibv_modify_qp`), by target state. */
export type QpModifyAttributes =
  | {
      state: 'INIT';
      /**
       * What remote peers may do through this QP (`qp_access_flags`): REMOTE_WRITE, REMOTE_READ.
       * @default 0 (nothing remote)
       */
      access?: AccessFlags;
    }
  | {
      state: 'RTR';
      /** The remote queue pair (`dest_qp_num` and address vector). Required. */
      remote: QpEndpoint;
      /**
       * Path MTU in bytes: 256, 512, 1024, 2048 or 4096.
       * @default 4096
       */
      pathMtu?: number;
      /**
       * Delay this responder asks the requester to wait after an RNR NAK, in milliseconds (verbs'
       * `min_rnr_timer`, 0.01–655.36 ms).
       * @default 1
       */
      minRnrTimerMs?: number;
      /**
       * First packet sequence number expected from the peer; must equal the peer's `sqPsn`.
       * @default 0
       */
      rqPsn?: number;
    }
  | {
      state: 'RTS';
      /**
       * Time without any response before a retry is counted, in milliseconds (verbs encodes it as
       * 4.096 µs x 2^timeout).
       * @default 250
       */
      ackTimeoutMs?: number;
      /**
       * Transport retries (0–7); after (retryCount + 1) x ackTimeoutMs of silence the oldest request
       * completes with RETRY_EXC_ERR.
       * @default 7
       */
      retryCount?: number;
      /**
       * RNR retries (0–7; 7 means forever); one more RNR NAK fails the request with RNR_RETRY_EXC_ERR.
       * @default 7
       */
      rnrRetry?: number;
      /**
       * First packet sequence number this QP sends; must equal the peer's `rqPsn`.
       * @default 0
       */
      sqPsn?: number;
    }
  | { state: 'ERR' }
  | { state: 'RESET' };

/** Everything `query()` reports. */
export interface QpAttributes {
  state: QpState;
  access: AccessFlags;
  remote: QpEndpoint | null;
  pathMtu: number;
  minRnrTimerMs: number;
  rqPsn: number;
  ackTimeoutMs: number;
  retryCount: number;
  rnrRetry: number;
  sqPsn: number;
  capabilities: Required<QpCapabilities>;
  signalAll: boolean;
}

const STATES = new Set<string>(['RESET', 'INIT', 'RTR', 'RTS', 'ERR']);

/**
 * A reliable-connected queue pair (`ibv_qp`, IBV_QPT_RC). Created in RESET; brought up with
 * `modify()` through INIT, RTR and RTS. Posting is synchronous and only queues work: completions
 * arrive in the completion queues.
 */
export class QueuePair {
  /** The queue pair number peers address. */
  readonly qpNum: number;
  readonly pd: ProtectionDomain;
  readonly sendCq: CompletionQueue;
  readonly recvCq: CompletionQueue;
  /** Queue sizes as created. */
  readonly capabilities: Readonly<Required<QpCapabilities>>;
  /** Whether every send request is signaled (`sq_sig_all`). */
  readonly signalAll: boolean;
  readonly #ctx: DeviceContext;
  /** Shared with the NIC, which moves it to ERR on its own. */
  readonly #stateWord: Int32Array;
  #sqPosted = 0;
  #sqRetired = 0;
  #rqPosted = 0;
  #rqRetired = 0;
  #attributes: Omit<QpAttributes, 'state' | 'capabilities' | 'signalAll'>;
  #destroyed = false;

  /** @internal use `pd.createQp()` */
  constructor(ctx: DeviceContext, pd: ProtectionDomain, options: QpOptions) {
    const o = optionsObject('options', options);
    if (!(o.sendCq instanceof CompletionQueue))
      throw new InvalidOptionError('sendCq', 'must be a CompletionQueue');
    if (!(o.recvCq instanceof CompletionQueue))
      throw new InvalidOptionError('recvCq', 'must be a CompletionQueue');
    if (ctx.cqs.get(o.sendCq.handle) !== o.sendCq)
      throw new InvalidOptionError('sendCq', 'belongs to another device or was destroyed');
    if (ctx.cqs.get(o.recvCq.handle) !== o.recvCq)
      throw new InvalidOptionError('recvCq', 'belongs to another device or was destroyed');
    this.capabilities = Object.freeze({
      maxSendWr: integerOption('maxSendWr', o.maxSendWr, DEFAULT_MAX_SEND_WR, 1, DEVICE_MAX_QP_WR),
      maxRecvWr: integerOption('maxRecvWr', o.maxRecvWr, DEFAULT_MAX_RECV_WR, 1, DEVICE_MAX_QP_WR),
      maxSendSge: integerOption('maxSendSge', o.maxSendSge, DEFAULT_MAX_SEND_SGE, 1, DEVICE_MAX_SGE),
      maxRecvSge: integerOption('maxRecvSge', o.maxRecvSge, DEFAULT_MAX_RECV_SGE, 1, DEVICE_MAX_SGE),
      maxInlineData: integerOption(
        'maxInlineData',
        o.maxInlineData,
        DEFAULT_MAX_INLINE_DATA_BYTES,
        0,
        DEVICE_MAX_INLINE_DATA_BYTES,
      ),
    });
    this.signalAll = booleanOption('signalAll', o.signalAll, false);
    this.#ctx = ctx;
    this.pd = pd;
    this.sendCq = o.sendCq;
    this.recvCq = o.recvCq;
    this.qpNum = ctx.allocQpNum();
    this.#stateWord = new Int32Array(new SharedArrayBuffer(4));
    this.#attributes = this.#initialAttributes();
    ctx.post({
      t: 'qp',
      qp: this.qpNum,
      pd: pd.handle,
      sendCq: this.sendCq.handle,
      recvCq: this.recvCq.handle,
      state: this.#stateWord,
    });
    ctx.qps.set(this.qpNum, this);
    this.sendCq._use(this.qpNum, true);
    this.recvCq._use(this.qpNum, true);
  }

  /** Current state; the NIC may move it to ERR at any time. */
  get state(): QpState {
    return qpStateFromNumber(Atomics.load(this.#stateWord, 0));
  }

  /** Where peers reach this queue pair. */
  get endpoint(): QpEndpoint {
    return { address: this.#ctx.address, qpNum: this.qpNum };
  }

  /** Send queue slots in use: posted requests whose completion (or a later one) has not been polled. */
  get sendQueueOutstanding(): number {
    return this.#sqPosted - this.#sqRetired;
  }

  /** Receive queue slots in use. */
  get recvQueueOutstanding(): number {
    return this.#rqPosted - this.#rqRetired;
  }

  /** Current attributes (`ibv_query_qp`). */
  query(): QpAttributes {
    return {
      ...this.#attributes,
      state: this.state,
      capabilities: { ...this.capabilities },
      signalAll: this.signalAll,
    };
  }

  /**
   * Changes state (`ibv_modify_qp`): RESET → INIT → RTR → RTS, INIT → INIT, RTS → RTS, and any state
   * → ERR or RESET. Moving to ERR flushes every outstanding request; moving to RESET discards them
   * without completions.
   * @throws QpStateError for a transition verbs refuses, or when the NIC moved the QP to ERR first
   * @throws InvalidOptionError naming a bad attribute
   */
  modify(attributes: QpModifyAttributes): void {
    this.#assertUsable();
    const a = optionsObject('attributes', attributes) as Partial<QpModifyAttributes> &
      Record<string, unknown>;
    if (typeof a.state !== 'string' || !STATES.has(a.state)) {
      throw new InvalidOptionError(
        'state',
        `must be one of RESET, INIT, RTR, RTS, ERR, got ${String(a.state)}`,
      );
    }
    const to = a.state as QpState;
    const fromNumber = Atomics.load(this.#stateWord, 0);
    const from = qpStateFromNumber(fromNumber);
    if (!isValidTransition(from, to))
      throw new QpStateError(`queue pair ${this.qpNum}: cannot go from ${from} to ${to}`);
    const command: ModifyCommand = { t: 'modify', qp: this.qpNum, state: QP_STATE_NUMBER[to] };
    const next = { ...this.#attributes };
    if (to === 'INIT') {
      const access = integerOption('access', a.access, from === 'INIT' ? next.access : 0, 0, ACCESS_ALL);
      if ((access & ~ACCESS_ALL) !== 0)
        throw new InvalidOptionError('access', 'has bits this device does not know');
      next.access = access;
      command.access = access;
    } else if (to === 'RTR') {
      const remote = optionsObject('remote', a.remote as QpEndpoint | undefined);
      if (a.remote === undefined) throw new InvalidOptionError('remote', 'is required to go to RTR');
      const address = stringOption('remote.address', remote.address, '');
      const qpNum = integerOption('remote.qpNum', remote.qpNum, -1, 0, 0xff_ffff);
      const pathMtu = integerOption('pathMtu', a.pathMtu, DEFAULT_PATH_MTU_BYTES, 256, 4096);
      if (!PATH_MTUS_BYTES.includes(pathMtu))
        throw new InvalidOptionError('pathMtu', `must be one of ${PATH_MTUS_BYTES.join(', ')}`);
      next.remote = { address, qpNum };
      next.pathMtu = pathMtu;
      next.minRnrTimerMs = numberOption(
        'minRnrTimerMs',
        a.minRnrTimerMs,
        DEFAULT_MIN_RNR_TIMER_MS,
        0.01,
        MAX_MIN_RNR_TIMER_MS,
      );
      next.rqPsn = integerOption('rqPsn', a.rqPsn, 0, 0, PSN_MASK);
      Object.assign(command, {
        remoteAddress: address,
        remoteQpNum: qpNum,
        pathMtu,
        minRnrTimerMs: next.minRnrTimerMs,
        rqPsn: next.rqPsn,
      });
    } else if (to === 'RTS') {
      next.ackTimeoutMs = numberOption('ackTimeoutMs', a.ackTimeoutMs, next.ackTimeoutMs, 1, 3_600_000);
      next.retryCount = integerOption('retryCount', a.retryCount, next.retryCount, 0, 7);
      next.rnrRetry = integerOption('rnrRetry', a.rnrRetry, next.rnrRetry, 0, 7);
      if (from === 'RTR') next.sqPsn = integerOption('sqPsn', a.sqPsn, 0, 0, PSN_MASK);
      Object.assign(command, {
        ackTimeoutMs: next.ackTimeoutMs,
        retryCount: next.retryCount,
        rnrRetry: next.rnrRetry,
        sqPsn: next.sqPsn,
      });
    } else if (to === 'RESET') {
      Object.assign(next, this.#initialAttributes());
    }
    // The NIC may have moved the QP to ERR since the state was read: then its state wins, as the
    // kernel would refuse a transition from a stale current state.
    if (Atomics.compareExchange(this.#stateWord, 0, fromNumber, QP_STATE_NUMBER[to]) !== fromNumber) {
      throw new QpStateError(`queue pair ${this.qpNum} moved to ${this.state} meanwhile`);
    }
    this.#attributes = next;
    if (to === 'RESET') {
      this.#sqRetired = this.#sqPosted;
      this.#rqRetired = this.#rqPosted;
    }
    this.#ctx.post(command);
  }

  /**
   * Posts send work requests (`ibv_post_send`). Only queues them; completions arrive in `sendCq`.
   * Allowed in RTS, and in ERR (where they complete with WR_FLUSH_ERR).
   * @throws PostStateError before RTS; QueueFullError (ENOMEM) when the send queue is full;
   *   TooManySgesError; InlineTooLargeError; InvalidWorkRequestError. Requests before the failing
   *   one (`error.badWrIndex`) were posted.
   */
  postSend(requests: SendWorkRequest | readonly SendWorkRequest[]): void {
    this.#assertUsable();
    const list = Array.isArray(requests)
      ? (requests as readonly SendWorkRequest[])
      : [requests as SendWorkRequest];
    const state = this.state;
    if (state !== 'RTS' && state !== 'ERR') {
      throw new PostStateError(0, `queue pair ${this.qpNum} is in ${state}; sends need RTS`);
    }
    const limits = {
      maxSge: this.capabilities.maxSendSge,
      maxInlineData: this.capabilities.maxInlineData,
      signalAll: this.signalAll,
    };
    const encoded: EncodedSendWqe[] = [];
    try {
      list.forEach((wr, i) => {
        if (this.#sqPosted - this.#sqRetired >= this.capabilities.maxSendWr) {
          throw new QueueFullError(
            i,
            `send queue holds ${this.capabilities.maxSendWr} requests; poll completions to free slots`,
          );
        }
        encoded.push(encodeSendWqe(this.#ctx, wr, i, this.#sqPosted, limits));
        this.#sqPosted++;
      });
    } finally {
      if (encoded.length > 0) this.#ctx.post({ t: 'send', qp: this.qpNum, ...packSendWqes(encoded) });
    }
  }

  /**
   * Posts receive work requests (`ibv_post_recv`). Allowed from INIT on (ERR flushes them).
   * @throws PostStateError in RESET; QueueFullError when the receive queue is full; TooManySgesError;
   *   InvalidWorkRequestError. Requests before the failing one were posted.
   */
  postRecv(requests: RecvWorkRequest | readonly RecvWorkRequest[]): void {
    this.#assertUsable();
    const list = Array.isArray(requests)
      ? (requests as readonly RecvWorkRequest[])
      : [requests as RecvWorkRequest];
    if (this.state === 'RESET')
      throw new PostStateError(0, `queue pair ${this.qpNum} is in RESET; receives need INIT or later`);
    const encoded: EncodedRecvWqe[] = [];
    try {
      list.forEach((wr, i) => {
        if (this.#rqPosted - this.#rqRetired >= this.capabilities.maxRecvWr) {
          throw new QueueFullError(i, `receive queue holds ${this.capabilities.maxRecvWr} requests`);
        }
        encoded.push(encodeRecvWqe(wr, i, this.#rqPosted, this.capabilities.maxRecvSge));
        this.#rqPosted++;
      });
    } finally {
      if (encoded.length > 0) this.#ctx.post({ t: 'recv', qp: this.qpNum, words: packRecvWqes(encoded) });
    }
  }

  /** Destroys the queue pair (`ibv_destroy_qp`); outstanding work is discarded without completions. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#ctx.qps.delete(this.qpNum);
    this.sendCq._use(this.qpNum, false);
    this.recvCq._use(this.qpNum, false);
    this.pd._forget(this);
    if (!this.#ctx.closed) this.#ctx.post({ t: 'qp-destroy', qp: this.qpNum });
  }

  /**
   * @internal a completion of this QP was polled: its slot, and on the send queue every earlier
   * unsignaled request's slot, is free again
   */
  _retire(isRecv: boolean, queueIndex: number): void {
    if (isRecv) this.#rqRetired = Math.max(this.#rqRetired, queueIndex + 1);
    else this.#sqRetired = Math.max(this.#sqRetired, queueIndex + 1);
  }

  #assertUsable(): void {
    this.#ctx.assertOpen();
    if (this.#destroyed) throw new QpStateError(`queue pair ${this.qpNum} was destroyed`);
  }

  #initialAttributes(): Omit<QpAttributes, 'state' | 'capabilities' | 'signalAll'> {
    return {
      access: 0,
      remote: null,
      pathMtu: DEFAULT_PATH_MTU_BYTES,
      minRnrTimerMs: DEFAULT_MIN_RNR_TIMER_MS,
      rqPsn: 0,
      ackTimeoutMs: DEFAULT_ACK_TIMEOUT_MS,
      retryCount: DEFAULT_RETRY_COUNT,
      rnrRetry: DEFAULT_RNR_RETRY,
      sqPsn: 0,
    };
  }
}
