/**
 * The dirty log: one bit per page in a `Uint32Array` over shared memory. Writers on any thread set
 * bits with `Atomics.or`; capture takes them with `Atomics.exchange` (one word at a time), so a bit
 * set concurrently with a capture lands either in that capture or in the next, never nowhere.
 *
 * The one rule for writers: set the bit AFTER the bytes are written. A bit set first could be taken
 * by a capture that then copies the page before the write lands, and the write would be lost.
 */

/** Sets the bits of pages `first` to `last` inclusive. */
export function markPages(bitmap: Uint32Array, first: number, last: number): void {
  let word = first >>> 5;
  const lastWord = last >>> 5;
  const firstBit = first & 31;
  const lastBit = last & 31;
  if (word === lastWord) {
    Atomics.or(bitmap, word, maskBetween(firstBit, lastBit));
    return;
  }
  Atomics.or(bitmap, word, maskBetween(firstBit, 31));
  for (word++; word < lastWord; word++) {
    // A word already full needs no read-modify-write: saves the locked instruction on re-dirtying.
    if (bitmap[word] !== 0xffffffff) Atomics.or(bitmap, word, 0xffffffff);
  }
  Atomics.or(bitmap, lastWord, maskBetween(0, lastBit));
}

/** Bits `from` to `to` inclusive, as an unsigned 32-bit mask. */
function maskBetween(from: number, to: number): number {
  const high = to === 31 ? 0xffffffff : ((1 << (to + 1)) - 1) >>> 0;
  return (high & ~((1 << from) - 1)) >>> 0;
}

/**
 * Number of set bits in the log: the pages the next capture will copy (in bitmap mode). A snapshot
 * that writers may overtake at once, so plain reads do (aligned 32-bit elements are tear-free): they
 * run several times faster than `Atomics.load` per word, and the guests count at every safe point
 * while a dirty quota is set.
 */
export function countDirtyPages(bitmap: Uint32Array, pageCount: number): number {
  let count = 0;
  const words = Math.ceil(pageCount / 32);
  const tail = pageCount & 31;
  for (let w = 0; w < words; w++) {
    let v = bitmap[w]!;
    if (v === 0) continue;
    if (w === words - 1 && tail !== 0) v &= (1 << tail) - 1;
    v -= (v >>> 1) & 0x55555555;
    v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
    count += (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  }
  return count;
}

/** Whether page `page` is marked dirty. */
export function isPageMarked(bitmap: Uint32Array, page: number): boolean {
  return ((Atomics.load(bitmap, page >>> 5) >>> (page & 31)) & 1) === 1;
}
