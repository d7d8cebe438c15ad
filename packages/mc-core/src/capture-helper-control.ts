// The words a capturing thread and its helper thread share (an Int32Array over a SharedArrayBuffer).
// A capture is a job. The capturing thread first closes the claim word for the new job's seq
// (CLAIM = seq << 16 | CLOSED), then writes the job's fields, then opens it (CLAIM = seq << 16, next
// chunk 0) and bumps WAKE. Both threads claim chunks by a compare-and-swap on CLAIM that also
// checks the seq, so a helper still hunting in an old job fails its claim as soon as the new one is
// closed, before any field changes. The fields of job seq stay put until every chunk claimed in it
// is DONE, so the helper reads them after its claim.

/** Job seq (high 16 bits, 1..0x7fff) and the next unclaimed chunk (low 16 bits). */
export const CLAIM = 0;
/** Bumped to wake the helper for a new job, or to stop it. */
export const WAKE = 1;
/** Chunks of the current job the helper finished (or failed). */
export const DONE = 2;
/** Chunks in the current job. */
export const COUNT = 3;
/** The job's slab offset, run table offset and run count. */
export const SLAB_OFFSET = 4;
export const RUN_TABLE = 5;
export const RUNS = 6;
/** Pages the helper copied in the current job. */
export const HELPER_PAGES = 7;
/** 0, or 1 + the chunk the helper failed to copy (it copies nothing after that). */
export const FAILED = 8;
/** 1 once the helper should exit. */
export const STOP = 9;
/** 1 once the helper thread runs its loop. */
export const READY = 10;
export const CONTROL_WORDS = 11;

/** The low 16 bits of a job that is being written: beyond every chunk, so nothing can be claimed. */
export const CLOSED = 0xffff;
/** Most chunks a job may have: below CLOSED. */
export const MAX_CHUNKS = CLOSED - 1;
/** Job sequence numbers wrap within the high bits of a positive int32. */
export const MAX_SEQ = 0x7fff;

/** Everything the helper thread gets in `workerData`. */
export interface CaptureHelperBoot {
  readonly module: object;
  readonly memory: object;
  readonly control: SharedArrayBuffer;
  readonly starts: SharedArrayBuffer;
  readonly pageShift: number;
  readonly longRunPages: number;
}

/** Claims the next chunk of job `seq`: its index, or -1 when the job is done or superseded. */
export function claimChunk(control: Int32Array, seq: number): number {
  for (;;) {
    const claim = Atomics.load(control, CLAIM);
    if (claim >>> 16 !== seq) return -1;
    const next = claim & 0xffff;
    if (next === CLOSED || next >= Atomics.load(control, COUNT)) return -1;
    if (Atomics.compareExchange(control, CLAIM, claim, claim + 1) === claim) return next;
  }
}

/** The job's target, read after a successful claim. */
export function jobTarget(control: Int32Array): { slabOffset: number; runTable: number; runs: number } {
  return {
    slabOffset: Atomics.load(control, SLAB_OFFSET) >>> 0,
    runTable: Atomics.load(control, RUN_TABLE) >>> 0,
    runs: Atomics.load(control, RUNS),
  };
}
