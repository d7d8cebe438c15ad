import {
  MAX_LAYOUT_BYTES,
  REGION_ALIGN_BYTES,
  RUN_DESCRIPTOR_WORDS,
  STAGING_SLAB_COUNT,
  WASM_PAGE_BYTES,
} from './constants.js';

/**
 * Where everything lives inside the one shared `WebAssembly.Memory`. The guest's pages come first,
 * at offset 0, so a guest sees an ordinary memory; everything after them belongs to the capture
 * machinery. The kernel's `memory.copy` can only move bytes within one memory (multi-memory is not
 * in Node 20's V8), which is why the slabs share the guest's memory instead of having their own.
 * Every field is a byte offset or a count; the object is structured-cloneable for worker threads.
 */
export interface MemoryLayout {
  readonly sizeBytes: number;
  readonly pageSizeBytes: number;
  readonly pageShift: number;
  readonly pageCount: number;
  /** Dirty bitmap: one bit per page, `Uint32Array` words, set with `Atomics.or`. */
  readonly bitmapOffset: number;
  readonly bitmapWords: number;
  /** Three u32 the kernel writes after each call: pages gathered, bytes gathered, complete flag. */
  readonly resultOffset: number;
  /** Scan mode's copy of the guest as last captured; -1 when tracking by bitmap only. */
  readonly shadowOffset: number;
  readonly slabBytes: number;
  readonly slabPages: number;
  readonly slabOffsets: readonly number[];
  /** One run table per slab, `maxRuns` descriptors of three u32 each. */
  readonly runTableOffsets: readonly number[];
  readonly maxRuns: number;
  /** Total bytes, a whole number of 64 KiB WebAssembly pages. */
  readonly totalBytes: number;
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/**
 * Computes the layout. Arguments are validated by the caller; the only check here is that the sum
 * fits a wasm32 memory, reported as a number so the caller can name the option to blame.
 */
export function computeLayout(
  sizeBytes: number,
  pageSizeBytes: number,
  slabBytes: number,
  scan: boolean,
): MemoryLayout | { tooLargeBytes: number } {
  const pageCount = sizeBytes / pageSizeBytes;
  const pageShift = Math.log2(pageSizeBytes);
  const slabPages = slabBytes / pageSizeBytes;
  const align = Math.max(REGION_ALIGN_BYTES, pageSizeBytes);
  const bitmapWords = Math.ceil(pageCount / 32);
  // Alternating dirty and clean pages give the most runs: one per two pages, and never more runs
  // than pages that fit in the slab.
  const maxRuns = Math.min(Math.ceil(pageCount / 2), slabPages);

  let cursor = alignUp(sizeBytes, align);
  const bitmapOffset = cursor;
  cursor += bitmapWords * 4;
  const resultOffset = alignUp(cursor, 64);
  cursor = resultOffset + 64;
  const runTableOffsets: number[] = [];
  for (let i = 0; i < STAGING_SLAB_COUNT; i++) {
    cursor = alignUp(cursor, 64);
    runTableOffsets.push(cursor);
    cursor += maxRuns * RUN_DESCRIPTOR_WORDS * 4;
  }
  let shadowOffset = -1;
  if (scan) {
    cursor = alignUp(cursor, align);
    shadowOffset = cursor;
    cursor += sizeBytes;
  }
  const slabOffsets: number[] = [];
  for (let i = 0; i < STAGING_SLAB_COUNT; i++) {
    cursor = alignUp(cursor, align);
    slabOffsets.push(cursor);
    cursor += slabBytes;
  }
  const totalBytes = alignUp(cursor, WASM_PAGE_BYTES);
  if (totalBytes > MAX_LAYOUT_BYTES) return { tooLargeBytes: totalBytes };
  return {
    sizeBytes,
    pageSizeBytes,
    pageShift,
    pageCount,
    bitmapOffset,
    bitmapWords,
    resultOffset,
    shadowOffset,
    slabBytes,
    slabPages,
    slabOffsets,
    runTableOffsets,
    maxRuns,
    totalBytes,
  };
}
