import type { DeviceContext } from './device-context.js';
import { InlineTooLargeError, InvalidWorkRequestError, TooManySgesError } from './errors.js';
import type { EncodedRecvWqe, EncodedSendWqe } from './nic/commands.js';
import { OPCODE_NUMBER, type Opcode } from './opcode.js';
import { isUint32, isUnsignedSafeInteger } from './validate.js';

/** One scatter-gather entry (`ibv_sge`): `length` bytes at virtual address `addr` of the region with `lkey`. */
export interface ScatterGatherElement {
  addr: number;
  length: number;
  lkey: number;
}

/** A send work request (`ibv_send_wr`). */
export interface SendWorkRequest {
  /** Returned in the completion; any unsigned safe integer (verbs: u64). */
  wrId: number;
  opcode: Opcode;
  /**
   * Local memory the message is gathered from (SEND, WRITE) or scattered into (READ).
   * @default []
   */
  sgList?: readonly ScatterGatherElement[];
  /**
   * Whether a successful completion is reported (IBV_SEND_SIGNALED). Errors always are. Ignored
   * when the queue pair was created with `signalAll`.
   * @default false
   */
  signaled?: boolean;
  /**
   * Copy the data into the work request at post time (IBV_SEND_INLINE): the buffer may be reused
   * at once and its lkey is not checked. Not allowed for RDMA_READ.
   * @default false
   */
  inline?: boolean;
  /** Remote virtual address; required for RDMA_WRITE, RDMA_WRITE_WITH_IMM and RDMA_READ. */
  remoteAddr?: number;
  /** Remote key; required for RDMA_WRITE, RDMA_WRITE_WITH_IMM and RDMA_READ. */
  rkey?: number;
  /** 32-bit immediate data; required for SEND_WITH_IMM and RDMA_WRITE_WITH_IMM. */
  imm?: number;
}

/** A receive work request (`ibv_recv_wr`). */
export interface RecvWorkRequest {
  /** Returned in the completion; any unsigned safe integer (verbs: u64). */
  wrId: number;
  /**
   * Where an incoming SEND is scattered. May be empty when only WRITE_WITH_IMM will consume it.
   * @default []
   */
  sgList?: readonly ScatterGatherElement[];
}

function checkSges(index: number, sgList: unknown, max: number): readonly ScatterGatherElement[] {
  if (sgList === undefined) return [];
  if (!Array.isArray(sgList)) throw new InvalidWorkRequestError(index, 'sgList must be an array');
  if (sgList.length > max) throw new TooManySgesError(index, sgList.length, max);
  for (const [i, sge] of (sgList as unknown[]).entries()) {
    const s = sge as Partial<ScatterGatherElement> | null;
    if (s === null || typeof s !== 'object')
      throw new InvalidWorkRequestError(index, `sgList[${i}] must be an object`);
    if (!isUnsignedSafeInteger(s.addr))
      throw new InvalidWorkRequestError(index, `sgList[${i}].addr must be an unsigned integer`);
    if (!isUint32(s.length) || s.length > 2 ** 31) {
      throw new InvalidWorkRequestError(index, `sgList[${i}].length must be an integer in 0..2^31`);
    }
    if (!isUint32(s.lkey)) throw new InvalidWorkRequestError(index, `sgList[${i}].lkey must be a uint32`);
  }
  return sgList as readonly ScatterGatherElement[];
}

function flatten(sges: readonly ScatterGatherElement[]): number[] {
  const flat: number[] = [];
  for (const s of sges) flat.push(s.addr, s.length, s.lkey);
  return flat;
}

/** Limits a send work request is checked against. */
export interface SendLimits {
  maxSge: number;
  maxInlineData: number;
  signalAll: boolean;
}

/**
 * Validates one send work request and encodes it for the NIC, copying inline data now.
 * @throws a PostError subclass naming `index`
 */
export function encodeSendWqe(
  ctx: DeviceContext,
  wr: SendWorkRequest,
  index: number,
  queueIndex: number,
  limits: SendLimits,
): EncodedSendWqe {
  if (wr === null || typeof wr !== 'object') throw new InvalidWorkRequestError(index, 'must be an object');
  if (!isUnsignedSafeInteger(wr.wrId))
    throw new InvalidWorkRequestError(index, 'wrId must be an unsigned safe integer');
  if (typeof wr.opcode !== 'string' || !Object.hasOwn(OPCODE_NUMBER, wr.opcode)) {
    throw new InvalidWorkRequestError(index, `unknown opcode ${String(wr.opcode)}`);
  }
  const op = OPCODE_NUMBER[wr.opcode];
  const sges = checkSges(index, wr.sgList, limits.maxSge);
  const length = sges.reduce((sum, s) => sum + s.length, 0);
  const isRdma =
    wr.opcode === 'RDMA_WRITE' || wr.opcode === 'RDMA_WRITE_WITH_IMM' || wr.opcode === 'RDMA_READ';
  const hasImm = wr.opcode === 'RDMA_WRITE_WITH_IMM' || wr.opcode === 'SEND_WITH_IMM';
  if (isRdma) {
    if (!isUnsignedSafeInteger(wr.remoteAddr))
      throw new InvalidWorkRequestError(index, `${wr.opcode} needs remoteAddr`);
    if (!isUint32(wr.rkey)) throw new InvalidWorkRequestError(index, `${wr.opcode} needs rkey (uint32)`);
  }
  if (hasImm && !isUint32(wr.imm))
    throw new InvalidWorkRequestError(index, `${wr.opcode} needs imm (uint32)`);
  if (wr.signaled !== undefined && typeof wr.signaled !== 'boolean') {
    throw new InvalidWorkRequestError(index, 'signaled must be a boolean');
  }
  if (wr.inline !== undefined && typeof wr.inline !== 'boolean') {
    throw new InvalidWorkRequestError(index, 'inline must be a boolean');
  }
  let inline: Uint8Array | null = null;
  if (wr.inline) {
    if (wr.opcode === 'RDMA_READ') throw new InvalidWorkRequestError(index, 'RDMA_READ cannot be inline');
    if (length > limits.maxInlineData) throw new InlineTooLargeError(index, length, limits.maxInlineData);
    inline = new Uint8Array(length);
    let at = 0;
    for (const s of sges) {
      if (s.length === 0) continue;
      // Verbs reads inline data from any mapped address; the simulator can only reach memory it knows.
      const mr = ctx.findRegion(s.addr, s.length);
      if (!mr) {
        throw new InvalidWorkRequestError(
          index,
          'inline data must lie in memory registered with this device',
        );
      }
      const from = s.addr - mr.addr;
      inline.set(mr.buffer.subarray(from, from + s.length), at);
      at += s.length;
    }
  }
  return {
    index: queueIndex,
    wrId: wr.wrId,
    op,
    signaled: limits.signalAll || wr.signaled === true,
    sges: inline ? [] : flatten(sges),
    inline,
    length,
    remoteAddr: isRdma ? (wr.remoteAddr as number) : 0,
    rkey: isRdma ? (wr.rkey as number) : 0,
    imm: hasImm ? (wr.imm as number) : 0,
  };
}

/**
 * Validates one receive work request and encodes it for the NIC.
 * @throws a PostError subclass naming `index`
 */
export function encodeRecvWqe(
  wr: RecvWorkRequest,
  index: number,
  queueIndex: number,
  maxSge: number,
): EncodedRecvWqe {
  if (wr === null || typeof wr !== 'object') throw new InvalidWorkRequestError(index, 'must be an object');
  if (!isUnsignedSafeInteger(wr.wrId))
    throw new InvalidWorkRequestError(index, 'wrId must be an unsigned safe integer');
  const sges = checkSges(index, wr.sgList, maxSge);
  return { index: queueIndex, wrId: wr.wrId, sges: flatten(sges) };
}
