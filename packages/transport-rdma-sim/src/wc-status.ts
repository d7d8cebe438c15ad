/**
 * Work completion statuses (`enum ibv_wc_status`) that the simulator produces. The numbers are the C
 * values; the public API spells them as strings.
 */
export type WcStatus =
  | 'SUCCESS'
  | 'LOC_LEN_ERR'
  | 'LOC_PROT_ERR'
  | 'WR_FLUSH_ERR'
  | 'REM_INV_REQ_ERR'
  | 'REM_ACCESS_ERR'
  | 'REM_OP_ERR'
  | 'RETRY_EXC_ERR'
  | 'RNR_RETRY_EXC_ERR';

/** The statuses, spelled like `IBV_WC_*` without the prefix. */
export const WcStatus = {
  SUCCESS: 'SUCCESS',
  LOC_LEN_ERR: 'LOC_LEN_ERR',
  LOC_PROT_ERR: 'LOC_PROT_ERR',
  WR_FLUSH_ERR: 'WR_FLUSH_ERR',
  REM_INV_REQ_ERR: 'REM_INV_REQ_ERR',
  REM_ACCESS_ERR: 'REM_ACCESS_ERR',
  REM_OP_ERR: 'REM_OP_ERR',
  RETRY_EXC_ERR: 'RETRY_EXC_ERR',
  RNR_RETRY_EXC_ERR: 'RNR_RETRY_EXC_ERR',
} as const satisfies Record<WcStatus, WcStatus>;

/** `IBV_WC_*` numbers. */
export const WC_STATUS_NUMBER: Readonly<Record<WcStatus, number>> = {
  SUCCESS: 0,
  LOC_LEN_ERR: 1,
  LOC_PROT_ERR: 4,
  WR_FLUSH_ERR: 5,
  REM_INV_REQ_ERR: 9,
  REM_ACCESS_ERR: 10,
  REM_OP_ERR: 11,
  RETRY_EXC_ERR: 12,
  RNR_RETRY_EXC_ERR: 13,
};

const STATUS_BY_NUMBER = new Map<number, WcStatus>(
  Object.entries(WC_STATUS_NUMBER).map(([name, n]) => [n, name as WcStatus]),
);

/** The status for a C value; throws on a value the simulator never writes. */
export function wcStatusFromNumber(n: number): WcStatus {
  const status = STATUS_BY_NUMBER.get(n);
  if (status === undefined) throw new RangeError(`unknown work completion status ${n}`);
  return status;
}
