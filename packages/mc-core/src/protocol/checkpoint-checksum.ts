import { crc32c } from '@node-rs/crc32';

// CKPT_END's checksum: CRC32C over every page run of the checkpoint in the order sent, each as its
// placement (first page and page count, two u32 little-endian) followed by its encoded bytes, and
// then over the output batch. The placement is in it because a page at the wrong index is as wrong as
// a page with the wrong bytes, and the output because it is committed with the pages and released
// from the store after a takeover. The transport's frame checksums cover the wire; this one covers a
// sender that built a wrong message.

const placement = Buffer.alloc(8);

/** Folds one page run (its placement and its bytes) into a checkpoint checksum. */
export function checksumRun(
  checksum: number,
  firstPage: number,
  pageCount: number,
  data: Uint8Array,
): number {
  placement.writeUInt32LE(firstPage, 0);
  placement.writeUInt32LE(pageCount, 4);
  return crc32c(data, crc32c(placement, checksum));
}

/** Folds the checkpoint's output batch into its checksum (after every page run). */
export function checksumOutput(checksum: number, batch: readonly Uint8Array[]): number {
  let folded = checksum;
  for (const part of batch) folded = crc32c(part, folded);
  return folded >>> 0;
}
