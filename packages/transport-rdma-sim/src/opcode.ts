/**
 * Work request opcodes (`enum ibv_wr_opcode`) and work completion opcodes (`enum ibv_wc_opcode`).
 * The public API spells them as strings; the numbers are the C values, used inside the simulator.
 */

/** Opcode of a send work request. */
export type Opcode = 'RDMA_WRITE' | 'RDMA_WRITE_WITH_IMM' | 'SEND' | 'SEND_WITH_IMM' | 'RDMA_READ';

/** The opcodes, spelled like `IBV_WR_*` without the prefix. */
export const Opcode = {
  RDMA_WRITE: 'RDMA_WRITE',
  RDMA_WRITE_WITH_IMM: 'RDMA_WRITE_WITH_IMM',
  SEND: 'SEND',
  SEND_WITH_IMM: 'SEND_WITH_IMM',
  RDMA_READ: 'RDMA_READ',
} as const satisfies Record<Opcode, Opcode>;

/** `IBV_WR_*` numbers. */
export const OPCODE_NUMBER: Readonly<Record<Opcode, number>> = {
  RDMA_WRITE: 0,
  RDMA_WRITE_WITH_IMM: 1,
  SEND: 2,
  SEND_WITH_IMM: 3,
  RDMA_READ: 4,
};

/** Opcode of a work completion. */
export type WcOpcode = 'SEND' | 'RDMA_WRITE' | 'RDMA_READ' | 'RECV' | 'RECV_RDMA_WITH_IMM';

/** The completion opcodes, spelled like `IBV_WC_*` without the prefix. */
export const WcOpcode = {
  SEND: 'SEND',
  RDMA_WRITE: 'RDMA_WRITE',
  RDMA_READ: 'RDMA_READ',
  RECV: 'RECV',
  RECV_RDMA_WITH_IMM: 'RECV_RDMA_WITH_IMM',
} as const satisfies Record<WcOpcode, WcOpcode>;

/** `IBV_WC_*` numbers. */
export const WC_OPCODE_NUMBER: Readonly<Record<WcOpcode, number>> = {
  SEND: 0,
  RDMA_WRITE: 1,
  RDMA_READ: 2,
  RECV: 128,
  RECV_RDMA_WITH_IMM: 129,
};

const WC_OPCODE_BY_NUMBER = new Map<number, WcOpcode>(
  Object.entries(WC_OPCODE_NUMBER).map(([name, n]) => [n, name as WcOpcode]),
);

/** The completion opcode for a C value; throws on a value the simulator never writes. */
export function wcOpcodeFromNumber(n: number): WcOpcode {
  const opcode = WC_OPCODE_BY_NUMBER.get(n);
  if (opcode === undefined) throw new RangeError(`unknown work completion opcode ${n}`);
  return opcode;
}

/** The completion opcode a send work request of `opcode` reports on the requester. */
export function sendCompletionOpcode(opcodeNumber: number): number {
  switch (opcodeNumber) {
    case OPCODE_NUMBER.RDMA_WRITE:
    case OPCODE_NUMBER.RDMA_WRITE_WITH_IMM:
      return WC_OPCODE_NUMBER.RDMA_WRITE;
    case OPCODE_NUMBER.RDMA_READ:
      return WC_OPCODE_NUMBER.RDMA_READ;
    default:
      return WC_OPCODE_NUMBER.SEND;
  }
}
