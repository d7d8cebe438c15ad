import { Access } from '../access.js';
import {
  DEFAULT_ACK_TIMEOUT_MS,
  DEFAULT_MIN_RNR_TIMER_MS,
  DEFAULT_PATH_MTU_BYTES,
  DEFAULT_RETRY_COUNT,
  DEFAULT_RNR_RETRY,
  MAX_MESSAGE_BYTES,
  NIC_MAX_INFLIGHT_BYTES,
  NIC_MAX_INFLIGHT_MESSAGES,
  PSN_MASK,
  RNR_RETRY_INFINITE,
} from '../constants.js';
import { COUNTER_SLOT } from '../counters.js';
import { CQE_FLAG_IMM, CQE_FLAG_RECV, CqRingWriter } from '../cq-ring.js';
import type { ResolvedFaultPlan } from '../fault-plan.js';
import { OPCODE_NUMBER, sendCompletionOpcode, WC_OPCODE_NUMBER } from '../opcode.js';
import { QP_STATE_NUMBER } from '../qp-state.js';
import { WC_STATUS_NUMBER } from '../wc-status.js';
import type {
  EncodedRecvWqe,
  EncodedSendWqe,
  ModifyCommand,
  NicCommand,
  NicPerformance,
} from './commands.js';
import type { FabricPort, Link, LinkHandler } from './link.js';
import { Pacer } from './pacer.js';
import {
  type InRequest,
  type InResponse,
  type LocalSegment,
  type OutChunk,
  ResponseKind,
  WireOp,
} from './packets.js';
import { Placer } from './placement.js';
import { unpackRecvWqes, unpackSendWqes } from './wqe-codec.js';

const S = QP_STATE_NUMBER;
const W = WC_STATUS_NUMBER;

/** How often the NIC looks for requests that have waited too long for a response, in milliseconds. */
const TIMEOUT_TICK_MS = 10;

interface NicMr {
  index: number;
  lkey: number;
  rkey: number;
  pd: number;
  access: number;
  addr: number;
  length: number;
  view: Uint8Array;
  valid: Int32Array;
  segment: LocalSegment;
}

interface NicCq {
  num: number;
  writer: CqRingWriter;
}

/** Where a send work request is in its life inside the NIC. */
const Stage = { Pending: 0, Sent: 1, Acked: 2, Failed: 3 } as const;
type Stage = (typeof Stage)[keyof typeof Stage];

interface SendEntry {
  wqe: EncodedSendWqe;
  stage: Stage;
  /** Completion status once Failed. */
  status: number;
  psn: number;
  sentAtMs: number;
  rnrNaks: number;
  /** Earliest time the completion may be reported (performance model pacing), or 0. */
  notBeforeMs: number;
  /** RDMA READ: the local buffers the response lands in. */
  targets: Uint8Array[] | null;
}

/** Why a responder refuses a request: the NAK to send, and the status of the receive it consumed, if any. */
interface Nak {
  kind: number;
  recvStatus?: number;
}

/** A range of registered memory a scatter-gather entry resolved to. */
interface Resolved {
  mr: NicMr;
  offset: number;
  length: number;
}

/** The NIC's view of one queue pair: requester and responder state. */
class NicQp {
  readonly num: number;
  readonly pd: number;
  readonly sendCq: NicCq;
  readonly recvCq: NicCq;
  readonly stateWord: Int32Array;
  state: number = S.RESET;
  access = 0;
  remoteAddress = '';
  remoteQpNum = -1;
  pathMtu = DEFAULT_PATH_MTU_BYTES;
  minRnrTimerMs = DEFAULT_MIN_RNR_TIMER_MS;
  ackTimeoutMs = DEFAULT_ACK_TIMEOUT_MS;
  retryCount = DEFAULT_RETRY_COUNT;
  rnrRetry = DEFAULT_RNR_RETRY;
  // Requester.
  nextPsn = 0;
  pending: SendEntry[] = [];
  inflight: SendEntry[] = [];
  inflightBytes = 0;
  /** A failed entry is queued: nothing after it may go on the wire. */
  halted = false;
  rnrResumeAtMs = 0;
  wakeArmed = false;
  lastProgressMs = 0;
  // Responder.
  expectedPsn = 0;
  recv: EncodedRecvWqe[] = [];
  ackDue: Link | null = null;

  constructor(num: number, pd: number, sendCq: NicCq, recvCq: NicCq, stateWord: Int32Array) {
    this.num = num;
    this.pd = pd;
    this.sendCq = sendCq;
    this.recvCq = recvCq;
    this.stateWord = stateWord;
  }
}

/** Signed distance a - b between two 24-bit packet sequence numbers. */
function psnDiff(a: number, b: number): number {
  return ((a - b) << 8) >> 8;
}

function wireOp(opcode: number): number {
  switch (opcode) {
    case OPCODE_NUMBER.RDMA_WRITE:
      return WireOp.WRITE;
    case OPCODE_NUMBER.RDMA_WRITE_WITH_IMM:
      return WireOp.WRITE_IMM;
    case OPCODE_NUMBER.SEND:
      return WireOp.SEND;
    case OPCODE_NUMBER.SEND_WITH_IMM:
      return WireOp.SEND_IMM;
    default:
      return WireOp.READ;
  }
}

/** Completion status a requester reports for a NAK kind. */
function nakStatus(kind: number): number {
  switch (kind) {
    case ResponseKind.NAK_REMOTE_ACCESS:
      return W.REM_ACCESS_ERR;
    case ResponseKind.NAK_INVALID_REQUEST:
      return W.REM_INV_REQ_ERR;
    default:
      return W.REM_OP_ERR;
  }
}

/** Options of a NIC. */
export interface NicOptions {
  faults: ResolvedFaultPlan;
  performance: NicPerformance | null;
  counters: Float64Array;
  /** Takes the next command the application posted, synchronously, or undefined when there is none. */
  pollCommand: () => NicCommand | undefined;
  /** Called once when the application closes the device. */
  onClose: () => void;
}

/**
 * The simulated HCA of one device: it executes the work requests of its queue pairs (requester) and
 * the requests peers send to them (responder), with the semantics of a reliable-connected QP:
 * in-order execution, coalesced ACKs, RNR NAK and retry with go-back-N, NAKs that move both sides to
 * the error state, transport timeouts, and flush of everything outstanding in post order.
 */
export class Nic implements LinkHandler {
  #port: FabricPort | null = null;
  readonly #mrs = new Map<number, NicMr>();
  readonly #cqs = new Map<number, NicCq>();
  readonly #qps = new Map<number, NicQp>();
  readonly #active = new Set<NicQp>();
  readonly #placer: Placer;
  readonly #pacer: Pacer | null;
  readonly #counters: Float64Array;
  readonly #pollCommand: () => NicCommand | undefined;
  readonly #onClose: () => void;
  #segmentIds = 0;
  #pumpScheduled = false;
  #timeoutTimer: ReturnType<typeof setInterval> | null = null;
  #drainTimer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;

  constructor(options: NicOptions) {
    this.#placer = new Placer(options.faults);
    this.#pacer = options.performance ? new Pacer(options.performance.model, options.performance.pace) : null;
    this.#counters = options.counters;
    this.#pollCommand = options.pollCommand;
    this.#onClose = options.onClose;
  }

  /** Connects the NIC to its fabric port (which needs the NIC as its handler first). */
  attach(port: FabricPort): void {
    this.#port = port;
  }

  /** Stops every timer; the NIC does nothing more. */
  shutdown(): void {
    this.#closed = true;
    if (this.#timeoutTimer) clearInterval(this.#timeoutTimer);
    if (this.#drainTimer) clearTimeout(this.#drainTimer);
    this.#timeoutTimer = null;
    this.#drainTimer = null;
  }

  // ---------------------------------------------------------------- commands from the application

  /** Applies every command the application has posted so far, before anything from the wire. */
  drainCommands(): void {
    for (let command = this.#pollCommand(); command !== undefined; command = this.#pollCommand()) {
      this.handleCommand(command);
    }
  }

  handleCommand(command: NicCommand): void {
    if (this.#closed) return;
    switch (command.t) {
      case 'reg': {
        const view = command.view;
        this.#mrs.set(command.index, {
          index: command.index,
          lkey: command.lkey,
          rkey: command.rkey,
          pd: command.pd,
          access: command.access,
          addr: command.addr,
          length: view.byteLength,
          view,
          valid: command.valid,
          segment: {
            id: ++this.#segmentIds,
            buffer: view.buffer as SharedArrayBuffer,
            byteOffset: view.byteOffset,
            byteLength: view.byteLength,
          },
        });
        return;
      }
      case 'dereg': {
        const mr = this.#mrs.get(command.index);
        if (!mr) return;
        this.#mrs.delete(command.index);
        this.#port?.forgetSegment(mr.segment.id);
        return;
      }
      case 'cq':
        this.#cqs.set(command.cq, {
          num: command.cq,
          writer: new CqRingWriter(command.ring, command.capacity),
        });
        return;
      case 'cq-destroy':
        this.#cqs.delete(command.cq);
        return;
      case 'qp': {
        const sendCq = this.#cqs.get(command.sendCq);
        const recvCq = this.#cqs.get(command.recvCq);
        if (!sendCq || !recvCq) return;
        this.#qps.set(command.qp, new NicQp(command.qp, command.pd, sendCq, recvCq, command.state));
        return;
      }
      case 'modify':
        this.#modify(command);
        return;
      case 'qp-destroy': {
        const qp = this.#qps.get(command.qp);
        if (!qp) return;
        this.#qps.delete(command.qp);
        this.#active.delete(qp);
        return;
      }
      case 'send': {
        const qp = this.#qps.get(command.qp);
        if (!qp) return;
        for (const wqe of unpackSendWqes(command)) {
          qp.pending.push({
            wqe,
            stage: Stage.Pending,
            status: W.SUCCESS,
            psn: -1,
            sentAtMs: 0,
            rnrNaks: 0,
            notBeforeMs: 0,
            targets: null,
          });
        }
        this.#active.add(qp);
        this.#schedulePump();
        return;
      }
      case 'recv': {
        const qp = this.#qps.get(command.qp);
        if (!qp) return;
        const wqes = unpackRecvWqes(command.words);
        if (qp.state === S.ERR) {
          for (const wqe of wqes) this.#completeRecv(qp, wqe, W.WR_FLUSH_ERR, WC_OPCODE_NUMBER.RECV, 0, 0, 0);
          return;
        }
        for (const wqe of wqes) qp.recv.push(wqe);
        return;
      }
      case 'faults':
        this.#placer.plan = command.plan;
        return;
      case 'close':
        this.shutdown();
        this.#onClose();
        return;
    }
  }

  #modify(command: ModifyCommand): void {
    const qp = this.#qps.get(command.qp);
    if (!qp) return;
    // From ERR the application can only have asked for RESET (or ERR): anything else was issued before
    // it could see the NIC's move to ERR, and is stale.
    if (qp.state === S.ERR && command.state !== S.RESET && command.state !== S.ERR) return;
    switch (command.state) {
      case S.INIT:
        qp.access = command.access ?? qp.access;
        qp.state = S.INIT;
        return;
      case S.RTR:
        qp.remoteAddress = command.remoteAddress ?? qp.remoteAddress;
        qp.remoteQpNum = command.remoteQpNum ?? qp.remoteQpNum;
        qp.pathMtu = command.pathMtu ?? qp.pathMtu;
        qp.minRnrTimerMs = command.minRnrTimerMs ?? qp.minRnrTimerMs;
        qp.expectedPsn = (command.rqPsn ?? 0) & PSN_MASK;
        qp.state = S.RTR;
        return;
      case S.RTS:
        qp.ackTimeoutMs = command.ackTimeoutMs ?? qp.ackTimeoutMs;
        qp.retryCount = command.retryCount ?? qp.retryCount;
        qp.rnrRetry = command.rnrRetry ?? qp.rnrRetry;
        if (qp.state === S.RTR) qp.nextPsn = (command.sqPsn ?? 0) & PSN_MASK;
        qp.state = S.RTS;
        this.#active.add(qp);
        this.#schedulePump();
        return;
      case S.ERR:
        this.#enterError(qp, undefined, undefined, true);
        return;
      case S.RESET:
        // Verbs discards everything on reset, without completions.
        qp.state = S.RESET;
        qp.pending = [];
        qp.inflight = [];
        qp.inflightBytes = 0;
        qp.recv = [];
        qp.halted = false;
        qp.rnrResumeAtMs = 0;
        qp.ackDue = null;
        qp.access = 0;
        qp.remoteAddress = '';
        qp.remoteQpNum = -1;
        this.#active.delete(qp);
        return;
    }
  }

  // ---------------------------------------------------------------- completions and the error state

  #count(name: keyof typeof COUNTER_SLOT, by = 1): void {
    this.#counters[COUNTER_SLOT[name]]! += by;
  }

  #completeSend(qp: NicQp, entry: SendEntry, status: number): void {
    // Errors always complete; successes only when signaled (unsignaled ones are retired by a later CQE).
    if (status === W.SUCCESS && !entry.wqe.signaled) return;
    const ok = qp.sendCq.writer.push({
      wrId: entry.wqe.wrId,
      wqeIndex: entry.wqe.index,
      qpNum: qp.num,
      status,
      opcode: sendCompletionOpcode(entry.wqe.op),
      byteLen: entry.wqe.length,
      imm: 0,
      flags: 0,
      srcQp: 0,
    });
    if (ok) this.#count('completions');
  }

  #completeRecv(
    qp: NicQp,
    wqe: EncodedRecvWqe,
    status: number,
    opcode: number,
    byteLen: number,
    imm: number,
    flags: number,
  ): void {
    const ok = qp.recvCq.writer.push({
      wrId: wqe.wrId,
      wqeIndex: wqe.index,
      qpNum: qp.num,
      status,
      opcode,
      byteLen,
      imm,
      flags: flags | CQE_FLAG_RECV,
      srcQp: qp.remoteQpNum,
    });
    if (ok) this.#count('completions');
  }

  /**
   * Moves a queue pair to ERR: everything still outstanding completes with WR_FLUSH_ERR in post
   * order (send queue and receive queue), and anything posted later will too. Work the peer already
   * acknowledged did happen and completes successfully first. `failed`, the request whose error
   * caused the transition, completes with its status before the flushes; the state is ERR before
   * any of these completions can be polled.
   */
  #enterError(qp: NicQp, failed?: SendEntry, failedRecvStatus?: number, byApplication = false): void {
    if (qp.state === S.ERR) return;
    const before = qp.state;
    qp.state = S.ERR;
    // The application's word already says ERR when it asked for it. Otherwise move the word only if
    // it still shows the state the NIC was in: if the application changed it meanwhile (a RESET or a
    // reconnection whose command is still queued), its newer state wins.
    if (!byApplication) Atomics.compareExchange(qp.stateWord, 0, before, S.ERR);
    if (failed) this.#completeSend(qp, failed, failed.status);
    if (failedRecvStatus !== undefined) {
      const wqe = qp.recv.shift();
      if (wqe) this.#completeRecv(qp, wqe, failedRecvStatus, WC_OPCODE_NUMBER.RECV, 0, 0, 0);
    }
    for (const entry of qp.inflight) {
      this.#completeSend(qp, entry, entry.stage === Stage.Acked ? W.SUCCESS : W.WR_FLUSH_ERR);
    }
    for (const entry of qp.pending) this.#completeSend(qp, entry, W.WR_FLUSH_ERR);
    for (const wqe of qp.recv) this.#completeRecv(qp, wqe, W.WR_FLUSH_ERR, WC_OPCODE_NUMBER.RECV, 0, 0, 0);
    qp.inflight = [];
    qp.pending = [];
    qp.recv = [];
    qp.inflightBytes = 0;
    qp.halted = false;
    qp.ackDue = null;
    this.#active.delete(qp);
  }

  /** Reports, in order, every leading entry whose fate is known. */
  #drain(qp: NicQp): void {
    const now = performance.now();
    while (qp.inflight.length > 0) {
      const head = qp.inflight[0]!;
      if (head.stage === Stage.Sent || head.stage === Stage.Pending) break;
      if (head.stage === Stage.Acked) {
        if (head.notBeforeMs > now) {
          this.#scheduleDrain(head.notBeforeMs - now);
          break;
        }
        qp.inflight.shift();
        qp.inflightBytes -= head.wqe.length;
        this.#completeSend(qp, head, W.SUCCESS);
        continue;
      }
      qp.inflight.shift();
      qp.inflightBytes -= head.wqe.length;
      this.#enterError(qp, head);
      return;
    }
    if (qp.pending.length > 0) {
      this.#active.add(qp);
      this.#schedulePump();
    }
  }

  #scheduleDrain(delayMs: number): void {
    if (this.#drainTimer || this.#closed) return;
    this.#drainTimer = setTimeout(
      () => {
        this.#drainTimer = null;
        for (const qp of this.#qps.values()) if (qp.inflight.length > 0) this.#drain(qp);
      },
      Math.max(0, Math.floor(delayMs)),
    );
  }

  /** Fails the oldest unanswered request of `qp` with `status` (RETRY_EXC_ERR, RNR_RETRY_EXC_ERR). */
  #failHead(qp: NicQp, status: number): void {
    const head = qp.inflight.find((e) => e.stage === Stage.Sent);
    if (head) {
      head.stage = Stage.Failed;
      head.status = status;
    } else {
      const next = qp.pending.shift();
      if (!next) return;
      next.stage = Stage.Failed;
      next.status = status;
      qp.inflight.push(next);
    }
    qp.halted = true;
    this.#drain(qp);
  }

  // ---------------------------------------------------------------- requester

  #schedulePump(): void {
    if (this.#pumpScheduled || this.#closed) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#closed || !this.#port) return;
    const links = new Set<Link>();
    for (const qp of [...this.#active]) {
      const link = this.#pumpQp(qp);
      if (link) links.add(link);
    }
    for (const link of links) link.flush();
  }

  /** Puts as many pending requests of one QP on the wire as the window allows. */
  #pumpQp(qp: NicQp): Link | null {
    if (qp.state === S.ERR) {
      for (const entry of qp.pending) this.#completeSend(qp, entry, W.WR_FLUSH_ERR);
      qp.pending = [];
      this.#active.delete(qp);
      return null;
    }
    if (qp.pending.length === 0) {
      this.#active.delete(qp);
      return null;
    }
    if (qp.state !== S.RTS || qp.halted) return null;
    const now = performance.now();
    if (qp.rnrResumeAtMs > now) {
      // Timers may fire a little before performance.now() says the delay is over: look again.
      this.#wakeAfter(qp, qp.rnrResumeAtMs - now);
      return null;
    }
    const link = this.#port!.linkTo(qp.remoteAddress);
    if (link.failed) {
      // No NIC answers at that address: what hardware reports after its retries run out.
      this.#failHead(qp, W.RETRY_EXC_ERR);
      return null;
    }
    let sent = false;
    while (qp.pending.length > 0) {
      if (qp.inflight.length >= NIC_MAX_INFLIGHT_MESSAGES || qp.inflightBytes >= NIC_MAX_INFLIGHT_BYTES)
        break;
      if (!link.writable) break;
      const entry = qp.pending.shift()!;
      const chunks = this.#prepare(qp, entry);
      if (chunks === null) {
        entry.stage = Stage.Failed;
        qp.inflight.push(entry);
        qp.halted = true;
        this.#drain(qp);
        break;
      }
      this.#transmit(qp, link, entry, chunks, now);
      sent = true;
    }
    if (qp.pending.length === 0) this.#active.delete(qp);
    return sent ? link : null;
  }

  /** Checks a work request against local memory; returns its payload, or null with `entry.status` set. */
  #prepare(qp: NicQp, entry: SendEntry): OutChunk[] | null {
    const wqe = entry.wqe;
    if (wqe.length > MAX_MESSAGE_BYTES) {
      entry.status = W.LOC_LEN_ERR;
      return null;
    }
    if (wqe.inline) return [{ segment: null, offset: 0, length: wqe.inline.byteLength, bytes: wqe.inline }];
    const isRead = wqe.op === OPCODE_NUMBER.RDMA_READ;
    const resolved = this.#resolveLocal(qp, wqe.sges, isRead);
    if (resolved === null) {
      entry.status = W.LOC_PROT_ERR;
      return null;
    }
    if (isRead) {
      entry.targets = resolved.map((r) => r.mr.view.subarray(r.offset, r.offset + r.length));
      return [];
    }
    return resolved.map((r) => ({ segment: r.mr.segment, offset: r.offset, length: r.length, bytes: null }));
  }

  #transmit(qp: NicQp, link: Link, entry: SendEntry, chunks: OutChunk[], now: number): void {
    const wqe = entry.wqe;
    entry.psn = qp.nextPsn;
    qp.nextPsn = (qp.nextPsn + 1) & PSN_MASK;
    entry.stage = Stage.Sent;
    entry.sentAtMs = now;
    if (qp.inflight.length === 0) qp.lastProgressMs = now;
    qp.inflight.push(entry);
    qp.inflightBytes += wqe.length;
    const isRead = wqe.op === OPCODE_NUMBER.RDMA_READ;
    link.sendRequest({
      dstQp: qp.remoteQpNum,
      srcQp: qp.num,
      psn: entry.psn,
      op: wireOp(wqe.op),
      remoteAddr: wqe.remoteAddr,
      rkey: wqe.rkey,
      length: wqe.length,
      imm: wqe.imm,
      chunks,
    });
    this.#count('requestsSent');
    if (!isRead) this.#count('requestBytesSent', wqe.length);
    if (this.#pacer) {
      entry.notBeforeMs = this.#pacer.schedule(now, isRead ? 0 : wqe.length, isRead ? wqe.length : 0);
      this.#counters[COUNTER_SLOT.modeledWireNs] = this.#pacer.chargedNs;
    }
    this.#armTimeouts();
  }

  #armTimeouts(): void {
    if (this.#timeoutTimer || this.#closed) return;
    this.#timeoutTimer = setInterval(() => this.#checkTimeouts(), TIMEOUT_TICK_MS);
  }

  /**
   * Transport timeout: a request that got no response for ackTimeoutMs x (retryCount + 1) fails with
   * RETRY_EXC_ERR. Over a lossless wire a retransmission could not change the outcome, so the NIC
   * waits the whole retry budget once instead of resending.
   */
  #checkTimeouts(): void {
    const now = performance.now();
    let waiting = false;
    for (const qp of this.#qps.values()) {
      if (qp.state !== S.RTS || qp.inflight.length === 0) continue;
      const head = qp.inflight.find((e) => e.stage === Stage.Sent);
      if (!head) continue;
      waiting = true;
      const since = Math.max(qp.lastProgressMs, head.sentAtMs);
      if (now - since > qp.ackTimeoutMs * (qp.retryCount + 1)) this.#failHead(qp, W.RETRY_EXC_ERR);
    }
    if (!waiting && this.#timeoutTimer) {
      clearInterval(this.#timeoutTimer);
      this.#timeoutTimer = null;
    }
  }

  /** Marks every sent entry up to and including `psn` acknowledged. */
  #ackUpTo(qp: NicQp, psn: number): void {
    for (const entry of qp.inflight) {
      if (entry.stage !== Stage.Sent) continue;
      if (psnDiff(entry.psn, psn) > 0) break;
      // A READ is answered by its response, never by a coalesced ACK; responses arrive in order, so
      // an ACK past an unanswered READ cannot happen on a working wire.
      if (entry.wqe.op === OPCODE_NUMBER.RDMA_READ) break;
      entry.stage = Stage.Acked;
    }
  }

  onResponses(link: Link, responses: readonly InResponse[]): void {
    this.drainCommands();
    const touched = new Set<NicQp>();
    const now = performance.now();
    for (const response of responses) {
      const qp = this.#qps.get(response.dstQp);
      if (!qp || qp.state !== S.RTS) continue;
      if (qp.remoteQpNum !== response.srcQp || qp.remoteAddress !== link.peer) continue;
      qp.lastProgressMs = now;
      touched.add(qp);
      const psn = response.psn;
      if (response.kind === ResponseKind.ACK) {
        this.#ackUpTo(qp, psn);
        continue;
      }
      this.#ackUpTo(qp, (psn - 1) & PSN_MASK);
      const at = qp.inflight.findIndex((e) => e.stage === Stage.Sent && e.psn === psn);
      if (at < 0) continue; // stale: already rewound or failed
      const entry = qp.inflight[at]!;
      switch (response.kind) {
        case ResponseKind.READ_RESPONSE:
          if (entry.targets) {
            this.#placer.place(response.data, entry.targets, response.length, qp.pathMtu);
            this.#count('bytesPlaced', response.length);
          }
          entry.stage = Stage.Acked;
          break;
        case ResponseKind.RNR_NAK:
          this.#onRnrNak(qp, at, response.rnrDelayMs, now);
          break;
        default:
          entry.stage = Stage.Failed;
          entry.status = nakStatus(response.kind);
          qp.halted = true;
      }
    }
    for (const qp of touched) this.#drain(qp);
  }

  /**
   * Receiver not ready: the responder executed nothing from `psn` on. Go back to `psn` and resend
   * it and everything after it once the responder's RNR timer has passed, unless this request has
   * used up its `rnrRetry` budget.
   */
  #onRnrNak(qp: NicQp, at: number, delayMs: number, now: number): void {
    this.#count('rnrNaksReceived');
    const entry = qp.inflight[at]!;
    entry.rnrNaks++;
    if (qp.rnrRetry !== RNR_RETRY_INFINITE && entry.rnrNaks > qp.rnrRetry) {
      entry.stage = Stage.Failed;
      entry.status = W.RNR_RETRY_EXC_ERR;
      qp.halted = true;
      return;
    }
    const rewound = qp.inflight.splice(at);
    for (const e of rewound) {
      qp.inflightBytes -= e.wqe.length;
      e.stage = Stage.Pending;
      e.targets = null;
    }
    qp.pending = rewound.concat(qp.pending);
    qp.nextPsn = entry.psn;
    qp.rnrResumeAtMs = now + delayMs;
    this.#active.add(qp);
    this.#wakeAfter(qp, delayMs);
  }

  /** Pumps again after `delayMs` (at least one timer tick), once per waiting queue pair. */
  #wakeAfter(qp: NicQp, delayMs: number): void {
    if (this.#closed || qp.wakeArmed) return;
    qp.wakeArmed = true;
    setTimeout(
      () => {
        qp.wakeArmed = false;
        this.#schedulePump();
      },
      Math.max(1, Math.ceil(delayMs)),
    );
  }

  onWritable(): void {
    this.#schedulePump();
  }

  /**
   * The link to a peer failed (connection refused or lost). Hardware would only notice after its
   * retries ran out; the outcome is the same, RETRY_EXC_ERR for the oldest outstanding request, so the
   * NIC reports it at once. Queue pairs with nothing outstanding stay in RTS: their next request
   * tries a new link.
   */
  onDown(link: Link): void {
    for (const qp of this.#qps.values()) {
      if (qp.remoteAddress !== link.peer || qp.state !== S.RTS) continue;
      if (qp.inflight.some((e) => e.stage === Stage.Sent) || qp.pending.length > 0) {
        this.#failHead(qp, W.RETRY_EXC_ERR);
      }
    }
    this.#schedulePump();
  }

  // ---------------------------------------------------------------- responder

  onRequests(link: Link, requests: readonly InRequest[]): void {
    this.drainCommands();
    const touched = new Set<NicQp>();
    for (const request of requests) {
      const qp = this.#qps.get(request.dstQp);
      // A QP that is not connected to this sender, or not receiving, drops the packet silently: the
      // requester finds out by timing out, as on a real fabric.
      if (
        !qp ||
        (qp.state !== S.RTR && qp.state !== S.RTS) ||
        qp.remoteQpNum !== request.srcQp ||
        qp.remoteAddress !== link.peer
      ) {
        this.#count('requestsDropped');
        continue;
      }
      const diff = psnDiff(request.psn, qp.expectedPsn);
      if (diff > 0) continue; // out of sequence: what follows a NAK until the requester goes back
      if (diff < 0) {
        qp.ackDue = link; // duplicate: acknowledge again
        touched.add(qp);
        continue;
      }
      this.#execute(qp, link, request);
      if (qp.ackDue) touched.add(qp);
    }
    for (const qp of touched) this.#flushAck(qp);
    link.flush();
  }

  #flushAck(qp: NicQp): void {
    const link = qp.ackDue;
    if (!link) return;
    qp.ackDue = null;
    link.sendResponse({
      dstQp: qp.remoteQpNum,
      srcQp: qp.num,
      psn: (qp.expectedPsn - 1) & PSN_MASK,
      kind: ResponseKind.ACK,
      rnrDelayMs: 0,
      length: 0,
      chunks: [],
    });
  }

  /** Sends a NAK; every NAK but RNR is fatal to the responder's QP too (its head receive fails with `recvStatus`). */
  #nak(qp: NicQp, link: Link, psn: number, kind: number, recvStatus?: number): void {
    this.#flushAck(qp);
    link.sendResponse({
      dstQp: qp.remoteQpNum,
      srcQp: qp.num,
      psn,
      kind,
      rnrDelayMs: kind === ResponseKind.RNR_NAK ? qp.minRnrTimerMs : 0,
      length: 0,
      chunks: [],
    });
    if (kind === ResponseKind.RNR_NAK) this.#count('rnrNaksSent');
    else this.#enterError(qp, undefined, recvStatus);
  }

  /** Executes one in-sequence request, or NAKs it. */
  #execute(qp: NicQp, link: Link, request: InRequest): void {
    const op = request.op;
    let nak: Nak | null;
    if (op === WireOp.WRITE || op === WireOp.WRITE_IMM) nak = this.#executeWrite(qp, request);
    else if (op === WireOp.SEND || op === WireOp.SEND_IMM) nak = this.#executeSend(qp, request);
    else if (op === WireOp.READ) nak = this.#executeRead(qp, link, request);
    else nak = { kind: ResponseKind.NAK_INVALID_REQUEST };
    if (nak) {
      this.#nak(qp, link, request.psn, nak.kind, nak.recvStatus);
      return;
    }
    this.#count('requestsExecuted');
    qp.expectedPsn = (qp.expectedPsn + 1) & PSN_MASK;
    // A READ response acknowledges everything before it; any other request is acknowledged by the
    // coalesced ACK sent after the batch.
    qp.ackDue = op === WireOp.READ ? null : link;
  }

  #executeWrite(qp: NicQp, request: InRequest): Nak | null {
    if ((qp.access & Access.REMOTE_WRITE) === 0) return { kind: ResponseKind.NAK_INVALID_REQUEST };
    // A zero-length WRITE carries no address to check: verbs ignores its rkey.
    let target: Uint8Array | null = null;
    if (request.length > 0) {
      target = this.#resolveRemote(qp, request.remoteAddr, request.rkey, request.length, Access.REMOTE_WRITE);
      if (!target) return { kind: ResponseKind.NAK_REMOTE_ACCESS };
    }
    const withImm = request.op === WireOp.WRITE_IMM;
    // Checked before placing anything: an RNR-NAKed WRITE_WITH_IMM leaves no trace in memory.
    if (withImm && qp.recv.length === 0) return { kind: ResponseKind.RNR_NAK };
    if (target) {
      this.#placer.place(request.data, [target], request.length, qp.pathMtu);
      this.#count('bytesPlaced', request.length);
    }
    if (withImm) {
      const wqe = qp.recv.shift()!;
      this.#completeRecv(
        qp,
        wqe,
        W.SUCCESS,
        WC_OPCODE_NUMBER.RECV_RDMA_WITH_IMM,
        request.length,
        request.imm,
        CQE_FLAG_IMM,
      );
    }
    return null;
  }

  #executeSend(qp: NicQp, request: InRequest): Nak | null {
    const wqe = qp.recv[0];
    if (!wqe) return { kind: ResponseKind.RNR_NAK };
    const resolved = this.#resolveLocal(qp, wqe.sges, true);
    if (!resolved) return { kind: ResponseKind.NAK_REMOTE_OPERATION, recvStatus: W.LOC_PROT_ERR };
    const capacity = resolved.reduce((sum, r) => sum + r.length, 0);
    if (request.length > capacity)
      return { kind: ResponseKind.NAK_INVALID_REQUEST, recvStatus: W.LOC_LEN_ERR };
    const targets = resolved.map((r) => r.mr.view.subarray(r.offset, r.offset + r.length));
    this.#placer.place(request.data, targets, request.length, qp.pathMtu);
    this.#count('bytesPlaced', request.length);
    qp.recv.shift();
    const withImm = request.op === WireOp.SEND_IMM;
    this.#completeRecv(
      qp,
      wqe,
      W.SUCCESS,
      WC_OPCODE_NUMBER.RECV,
      request.length,
      withImm ? request.imm : 0,
      withImm ? CQE_FLAG_IMM : 0,
    );
    return null;
  }

  #executeRead(qp: NicQp, link: Link, request: InRequest): Nak | null {
    if ((qp.access & Access.REMOTE_READ) === 0) return { kind: ResponseKind.NAK_INVALID_REQUEST };
    const chunks: OutChunk[] = [];
    if (request.length > 0) {
      const r = this.#resolveRemoteMr(
        qp,
        request.remoteAddr,
        request.rkey,
        request.length,
        Access.REMOTE_READ,
      );
      if (!r) return { kind: ResponseKind.NAK_REMOTE_ACCESS };
      chunks.push({ segment: r.mr.segment, offset: r.offset, length: request.length, bytes: null });
    }
    this.#flushAck(qp);
    link.sendResponse({
      dstQp: qp.remoteQpNum,
      srcQp: qp.num,
      psn: request.psn,
      kind: ResponseKind.READ_RESPONSE,
      rnrDelayMs: 0,
      length: request.length,
      chunks,
    });
    return null;
  }

  // ---------------------------------------------------------------- memory protection

  #lookup(key: number, field: 'lkey' | 'rkey'): NicMr | null {
    const mr = this.#mrs.get(key >>> 8);
    if (!mr || mr[field] !== key || Atomics.load(mr.valid, 0) !== 1) return null;
    return mr;
  }

  /** Resolves a scatter-gather list; null means a local protection error. */
  #resolveLocal(qp: NicQp, sges: readonly number[], needLocalWrite: boolean): Resolved[] | null {
    const out: Resolved[] = [];
    for (let i = 0; i < sges.length; i += 3) {
      const addr = sges[i]!;
      const length = sges[i + 1]!;
      const lkey = sges[i + 2]!;
      if (length === 0) continue;
      const mr = this.#lookup(lkey, 'lkey');
      if (!mr || mr.pd !== qp.pd) return null;
      if (needLocalWrite && (mr.access & Access.LOCAL_WRITE) === 0) return null;
      if (addr < mr.addr || addr + length > mr.addr + mr.length) return null;
      out.push({ mr, offset: addr - mr.addr, length });
    }
    return out;
  }

  #resolveRemoteMr(qp: NicQp, addr: number, rkey: number, length: number, need: number): Resolved | null {
    const mr = this.#lookup(rkey, 'rkey');
    if (!mr || mr.pd !== qp.pd || (mr.access & need) === 0) return null;
    if (addr < mr.addr || addr + length > mr.addr + mr.length) return null;
    return { mr, offset: addr - mr.addr, length };
  }

  /** The target view of a remote access, or null for a remote access error. */
  #resolveRemote(qp: NicQp, addr: number, rkey: number, length: number, need: number): Uint8Array | null {
    const r = this.#resolveRemoteMr(qp, addr, rkey, length, need);
    return r ? r.mr.view.subarray(r.offset, r.offset + length) : null;
  }
}
