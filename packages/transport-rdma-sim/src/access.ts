/**
 * Memory region and queue pair access flags, with the bit values of `enum ibv_access_flags`, so
 * flags can be combined with `|` exactly as in C.
 */
export const Access = {
  /** The local NIC may write the memory: receive buffers and RDMA READ destinations need it. */
  LOCAL_WRITE: 1,
  /** A remote peer may RDMA WRITE into the memory. Verbs refuses it without LOCAL_WRITE. */
  REMOTE_WRITE: 2,
  /** A remote peer may RDMA READ the memory. */
  REMOTE_READ: 4,
} as const;

/** A combination of {@link Access} bits. */
export type AccessFlags = number;

/** Every access bit this simulator knows; any other bit is refused with EINVAL, as verbs does. */
export const ACCESS_ALL = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;

/** Readable form of access flags, for error messages. */
export function describeAccess(flags: AccessFlags): string {
  const names = Object.entries(Access)
    .filter(([, bit]) => (flags & bit) !== 0)
    .map(([name]) => name);
  return names.length > 0 ? names.join('|') : 'none';
}
