import { RUN_DESCRIPTOR_WORDS } from './constants.js';

// A large capture is copied in chunks of about CAPTURE_CHUNK_BYTES, so that two threads can share it:
// each claims the next chunk until none is left. Chunks end at run boundaries, except inside a long
// run (at least `longRunPages`), which may be split anywhere so that one huge run (a fully dirty
// memory, the initial sync) is shared too. A short run is never split: the kernel copies those four
// at a time, whole. A chunk is described by where it starts, a cursor (run, first page in that run);
// it ends where the next one starts, the last one at (runs, 0).

/** The WebAssembly kernel's second pass (see src/kernels/gather.ts). */
export type CopyRunsFn = (
  guestPtr: number,
  pageShift: number,
  slabPtr: number,
  runsPtr: number,
  runs: number,
  maxRunPages: number,
) => void;

/** What copying part of a capture needs, built once per thread over the same shared memory. */
export interface RunCopier {
  readonly copyRuns: CopyRunsFn;
  /** The whole shared memory as u32 (the run table lives in it). */
  readonly words: Uint32Array;
  /** The whole shared memory as bytes. */
  readonly bytes: Uint8Array;
  readonly pageShift: number;
  /** Runs at least this many pages long are copied with `copyWithin`, and may be split. */
  readonly longRunPages: number;
}

/** A capture's run table and slab: byte offsets in the shared memory. */
export interface CaptureTarget {
  readonly slabOffset: number;
  readonly runTable: number;
  readonly runs: number;
}

/**
 * Cuts a capture into chunks of at least `chunkBytes` (the last may be shorter) and writes their
 * start cursors into `starts` (two words each). Returns the number of chunks; `starts` must hold
 * two words per chunk, and a capture of B bytes makes at most `floor(B / chunkBytes) + 1`.
 */
export function planChunks(
  copier: RunCopier,
  target: CaptureTarget,
  chunkBytes: number,
  starts: Int32Array,
): number {
  const { words, pageShift, longRunPages } = copier;
  const chunkPages = Math.max(1, chunkBytes >>> pageShift);
  let chunks = 1;
  starts[0] = 0;
  starts[1] = 0;
  let filled = 0;
  for (let run = 0, at = target.runTable >>> 2; run < target.runs; run++, at += RUN_DESCRIPTOR_WORDS) {
    const length = words[at + 1]!;
    let page = 0;
    while (page < length) {
      // A short run goes in whole; a long one only up to the chunk's size.
      const take = length < longRunPages ? length - page : Math.min(length - page, chunkPages - filled);
      filled += take;
      page += take;
      if (filled >= chunkPages) {
        const lastOfAll = run === target.runs - 1 && page === length;
        if (!lastOfAll) {
          const nextRun = page === length ? run + 1 : run;
          starts[2 * chunks] = nextRun;
          starts[2 * chunks + 1] = page === length ? 0 : page;
          chunks++;
        }
        filled = 0;
      }
    }
  }
  return chunks;
}

/**
 * Copies chunk `chunk` of a capture planned by `planChunks` into the slab and returns how many pages
 * it held. The kernel copies the short runs; the long runs (whole or the chunk's part of them) go to
 * `copyWithin`, which streams faster from DRAM.
 */
export function copyChunk(
  copier: RunCopier,
  target: CaptureTarget,
  starts: Int32Array,
  chunks: number,
  chunk: number,
): number {
  const { words, bytes, pageShift, longRunPages } = copier;
  const pageSize = 2 ** pageShift;
  const firstRun = starts[2 * chunk]!;
  const firstPage = starts[2 * chunk + 1]!;
  const last = chunk + 1 === chunks;
  const endRun = last ? target.runs : starts[2 * chunk + 2]!;
  const endPage = last ? 0 : starts[2 * chunk + 3]!;
  // Runs [firstRun, throughRun) are touched; a partial first or last run is a long one, which the
  // kernel skips (maxRunPages = longRunPages - 1).
  const throughRun = endPage > 0 ? endRun + 1 : endRun;
  const table = target.runTable + firstRun * RUN_DESCRIPTOR_WORDS * 4;
  copier.copyRuns(0, pageShift, target.slabOffset, table, throughRun - firstRun, longRunPages - 1);
  let pages = 0;
  for (let run = firstRun, at = table >>> 2; run < throughRun; run++, at += RUN_DESCRIPTOR_WORDS) {
    const length = words[at + 1]!;
    const from = run === firstRun ? firstPage : 0;
    const to = run === endRun ? endPage : length;
    pages += to - from;
    if (length < longRunPages) continue;
    // Multiplications, not shifts: offsets in a memory over 2 GiB do not fit an int32.
    const source = (words[at]! + from) * pageSize;
    const slab = target.slabOffset + words[at + 2]! + from * pageSize;
    bytes.copyWithin(slab, source, source + (to - from) * pageSize);
  }
  return pages;
}
