import type { Fabric } from '../fabric.js';
import type { ResolvedFaultPlan } from '../fault-plan.js';
import type { PerformanceModel } from '../performance-model.js';

/**
 * What the application thread tells its NIC thread: the "verbs commands" that go to the kernel and
 * firmware in real life (registration, queue pair changes) and the doorbells of posted work requests.
 * They travel, in order, over the worker's message port; the NIC drains that port synchronously
 * before it handles anything from the wire, so a peer can never see the effect of a command the
 * application issued before talking to that peer, without the NIC having seen the command too.
 */

/** A send work request as the NIC receives it: validated, numbered, inline data already copied. */
export interface EncodedSendWqe {
  /** Position in the send queue since the queue pair was created or reset. */
  index: number;
  wrId: number;
  /** `IBV_WR_*` number. */
  op: number;
  signaled: boolean;
  /** Flat (addr, length, lkey) triples. */
  sges: number[];
  /** Inline payload copied at post time, or null. */
  inline: Uint8Array | null;
  /** Sum of the scatter-gather lengths (or the inline length). */
  length: number;
  remoteAddr: number;
  rkey: number;
  imm: number;
}

/** A receive work request as the NIC receives it. */
export interface EncodedRecvWqe {
  index: number;
  wrId: number;
  /** Flat (addr, length, lkey) triples. */
  sges: number[];
}

/** Attributes a modify command carries; which ones depends on the target state. */
export interface ModifyCommand {
  t: 'modify';
  qp: number;
  /** `IBV_QPS_*` number of the new state. */
  state: number;
  access?: number;
  remoteAddress?: string;
  remoteQpNum?: number;
  pathMtu?: number;
  minRnrTimerMs?: number;
  rqPsn?: number;
  ackTimeoutMs?: number;
  retryCount?: number;
  rnrRetry?: number;
  sqPsn?: number;
}

/** Every command. */
export type NicCommand =
  | {
      t: 'reg';
      index: number;
      lkey: number;
      rkey: number;
      pd: number;
      access: number;
      addr: number;
      view: Uint8Array;
      /** Shared flag, 1 while registered: deregistration takes effect the moment the verb returns. */
      valid: Int32Array;
    }
  | { t: 'dereg'; index: number }
  | { t: 'cq'; cq: number; ring: SharedArrayBuffer; capacity: number }
  | { t: 'cq-destroy'; cq: number }
  | { t: 'qp'; qp: number; pd: number; sendCq: number; recvCq: number; state: Int32Array }
  | ModifyCommand
  | { t: 'qp-destroy'; qp: number }
  | { t: 'send'; qp: number; words: Float64Array; inline: Uint8Array[] }
  | { t: 'recv'; qp: number; words: Float64Array }
  | { t: 'faults'; plan: ResolvedFaultPlan }
  | { t: 'close' };

/** What the NIC thread tells the application thread. */
export type NicEvent =
  | { t: 'ready'; address: string }
  | { t: 'closed' }
  | { t: 'fatal'; message: string; stack?: string };

/** Performance settings handed to the NIC. */
export interface NicPerformance {
  model: PerformanceModel;
  pace: boolean;
}

/** `workerData` of a NIC thread. */
export interface NicWorkerData {
  fabric: Fabric;
  performance: NicPerformance | null;
  faults: ResolvedFaultPlan;
  counters: SharedArrayBuffer;
  /** Module the TCP fabric imports transport-tcp from (the package name, or its source when run from source). */
  tcpModule: string;
}
