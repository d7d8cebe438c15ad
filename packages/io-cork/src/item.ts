/**
 * One piece of output as a sink (and, through the item frame, a receiver) sees it.
 *
 * `data` is a view into the batch that carried the item, not a copy: a sink that keeps it past its
 * `write` call keeps the batch's memory alive, and must not modify it.
 */
export interface CorkItem {
  /** The protected workload that produced the item; receivers dedup per source. */
  readonly source: string;
  /**
   * Fencing token of the node that released the item. After a takeover the survivor re-emits old
   * items under its own, higher generation, which is what lets receivers reject a deposed primary.
   */
  readonly generation: number;
  /** The epoch whose checkpoint covers the item. */
  readonly epoch: number;
  /** Position in the workload's output, monotonic for the life of the workload, across failovers. */
  readonly seq: number;
  /** Where the output goes; a sink is attached per destination. */
  readonly destination: string;
  /** The output bytes (a view; see above). */
  readonly data: Uint8Array;
}
