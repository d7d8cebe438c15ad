/**
 * Queue pair states of a reliable-connected QP (`enum ibv_qp_state`, without SQD and SQE, which this
 * simulator never enters). The numbers are the C values.
 */
export type QpState = 'RESET' | 'INIT' | 'RTR' | 'RTS' | 'ERR';

/** The states, spelled like `IBV_QPS_*` without the prefix. */
export const QpState = {
  RESET: 'RESET',
  INIT: 'INIT',
  RTR: 'RTR',
  RTS: 'RTS',
  ERR: 'ERR',
} as const satisfies Record<QpState, QpState>;

/** `IBV_QPS_*` numbers. */
export const QP_STATE_NUMBER: Readonly<Record<QpState, number>> = {
  RESET: 0,
  INIT: 1,
  RTR: 2,
  RTS: 3,
  ERR: 6,
};

const STATE_BY_NUMBER = new Map<number, QpState>(
  Object.entries(QP_STATE_NUMBER).map(([name, n]) => [n, name as QpState]),
);

/** The state for a C value. */
export function qpStateFromNumber(n: number): QpState {
  const state = STATE_BY_NUMBER.get(n);
  if (state === undefined) throw new RangeError(`unknown queue pair state ${n}`);
  return state;
}

/**
 * Transitions `ibv_modify_qp` accepts for an RC queue pair, from the current state to the requested
 * one. Any state may go to RESET or ERR.
 */
export function isValidTransition(from: QpState, to: QpState): boolean {
  if (to === 'RESET' || to === 'ERR') return true;
  switch (from) {
    case 'RESET':
      return to === 'INIT';
    case 'INIT':
      return to === 'INIT' || to === 'RTR';
    case 'RTR':
      return to === 'RTS';
    case 'RTS':
      return to === 'RTS';
    default:
      return false;
  }
}
