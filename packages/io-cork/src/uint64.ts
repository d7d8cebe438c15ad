/**
 * Unsigned 64-bit fields of the wire formats, held as JavaScript numbers. Epochs, seqs and generations
 * are safe integers here (2^53 items at a million a second last 285 years); a field above that range
 * is a corrupted or foreign value, so readers return `-1` and let the decoder raise its typed error.
 */

const TWO_POW_32 = 0x1_0000_0000;

/** Writes a non-negative safe integer as a little-endian u64 (low word first). */
export function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % TWO_POW_32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_POW_32), true);
}

/** Reads a little-endian u64; returns -1 when it is not a safe integer. */
export function readU64(view: DataView, offset: number): number {
  const low = view.getUint32(offset, true);
  const high = view.getUint32(offset + 4, true);
  if (high > 0x1fffff) return -1;
  return high * TWO_POW_32 + low;
}
