import { crc32c } from '@node-rs/crc32';
import type { WirePageRun } from './messages.js';

// CKPT_END's checksum: CRC32C, in the order sent, over each page message's run bytes (folded in by
// the caller, run by run) followed by
// that message's run placements (first page and page count of each run, two u32 little-endian), and
// at the end over the output batch. The placements are in it because a page at the wrong index is as
// wrong as a page with the wrong bytes, and the output because it is committed with the pages and
// released from the store after a takeover. Placements are folded once per message, not per run: a
// CRC call costs about as much as checksumming 600 bytes, a sixth of a 4 KiB page, and scattered
// checkpoints are mostly single-page runs. The transport's frame checksums cover the wire; this one
// covers a sender that built a wrong message.

let scratch = Buffer.alloc(4096);

/** Folds the placements of one page message's runs into a checkpoint checksum, after their bytes. */
export function checksumPlacements(checksum: number, runs: readonly WirePageRun[]): number {
  const bytes = runs.length * 8;
  if (scratch.length < bytes) scratch = Buffer.alloc(Math.max(bytes, 2 * scratch.length));
  for (let i = 0; i < runs.length; i++) {
    scratch.writeUInt32LE(runs[i]!.firstPage, 8 * i);
    scratch.writeUInt32LE(runs[i]!.pageCount, 8 * i + 4);
  }
  return crc32c(scratch.subarray(0, bytes), checksum);
}

/** Folds the checkpoint's output batch into its checksum (after every page message). */
export function checksumOutput(checksum: number, batch: readonly Uint8Array[]): number {
  let folded = checksum;
  for (const part of batch) folded = crc32c(part, folded);
  return folded >>> 0;
}
