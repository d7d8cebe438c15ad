/**
 * The memory layout of a completion queue, shared by the application thread (which polls it) and
 * the NIC thread (which writes it), as a real CQ is a ring in host memory the HCA DMA-writes into.
 * `poll()` therefore needs no message, no event loop turn and no lock: it reads shared memory.
 *
 * Layout: a 16-byte header of four int32 (producer index, consumer index, overrun flag, closed flag),
 * then `capacity` entries of ten float64 each. Indexes count up and wrap at 2^32; the capacity is a
 * power of two so that wrapping keeps slots continuous.
 */

/** Int32 index of the producer index (written by the NIC). */
export const CQ_PRODUCER = 0;
/** Int32 index of the consumer index (written by the application). */
export const CQ_CONSUMER = 1;
/** Int32 index of the overrun flag (set by the NIC when it had to drop a completion). */
export const CQ_OVERRUN = 2;
/** Int32 index of the closed flag (set when the device closes, so waiters stop waiting). */
export const CQ_CLOSED = 3;
/** Bytes before the first entry. */
export const CQ_HEADER_BYTES = 16;
/** Float64 fields per entry. */
export const CQE_FIELDS = 10;

/** Field offsets inside one entry. */
export const CQE = {
  WR_ID: 0,
  WQE_INDEX: 1,
  QP_NUM: 2,
  STATUS: 3,
  OPCODE: 4,
  BYTE_LEN: 5,
  IMM: 6,
  FLAGS: 7,
  SRC_QP: 8,
} as const;

/** Entry flag: the completion carries immediate data. */
export const CQE_FLAG_IMM = 1;
/** Entry flag: the completion belongs to the receive queue. */
export const CQE_FLAG_RECV = 2;

/** One completion as the NIC writes it. */
export interface CqeRecord {
  wrId: number;
  /** Position of the work request in its queue, counted since the queue pair was created or reset. */
  wqeIndex: number;
  qpNum: number;
  status: number;
  opcode: number;
  byteLen: number;
  imm: number;
  flags: number;
  srcQp: number;
}

/** Rounds a requested capacity up to the ring size actually allocated. */
export function cqRingCapacity(requested: number): number {
  let capacity = 1;
  while (capacity < requested) capacity *= 2;
  return capacity;
}

/** Allocates the shared memory of a completion queue of `capacity` entries (a power of two). */
export function allocateCqRing(capacity: number): SharedArrayBuffer {
  return new SharedArrayBuffer(CQ_HEADER_BYTES + capacity * CQE_FIELDS * 8);
}

/** The NIC's side of a completion queue. */
export class CqRingWriter {
  readonly #header: Int32Array;
  readonly #entries: Float64Array;
  readonly #mask: number;

  constructor(sab: SharedArrayBuffer, capacity: number) {
    this.#header = new Int32Array(sab, 0, 4);
    this.#entries = new Float64Array(sab, CQ_HEADER_BYTES, capacity * CQE_FIELDS);
    this.#mask = capacity - 1;
  }

  /** True once a completion had to be dropped. */
  get overrun(): boolean {
    return Atomics.load(this.#header, CQ_OVERRUN) !== 0;
  }

  /**
   * Appends one completion and wakes waiters. Returns false, and marks the queue overrun, when the
   * application has not polled enough entries to make room: the completion is lost, as on hardware.
   */
  push(record: CqeRecord): boolean {
    const producer = Atomics.load(this.#header, CQ_PRODUCER);
    const consumer = Atomics.load(this.#header, CQ_CONSUMER);
    if (((producer - consumer) | 0) > this.#mask || this.overrun) {
      Atomics.store(this.#header, CQ_OVERRUN, 1);
      Atomics.notify(this.#header, CQ_PRODUCER);
      return false;
    }
    const base = (producer & this.#mask) * CQE_FIELDS;
    const e = this.#entries;
    e[base + CQE.WR_ID] = record.wrId;
    e[base + CQE.WQE_INDEX] = record.wqeIndex;
    e[base + CQE.QP_NUM] = record.qpNum;
    e[base + CQE.STATUS] = record.status;
    e[base + CQE.OPCODE] = record.opcode;
    e[base + CQE.BYTE_LEN] = record.byteLen;
    e[base + CQE.IMM] = record.imm;
    e[base + CQE.FLAGS] = record.flags;
    e[base + CQE.SRC_QP] = record.srcQp;
    // The store publishes the entry: a poller that sees the new producer index sees every field.
    Atomics.store(this.#header, CQ_PRODUCER, (producer + 1) | 0);
    Atomics.notify(this.#header, CQ_PRODUCER);
    return true;
  }
}
