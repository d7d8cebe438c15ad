import { RUN_DESCRIPTOR_WORDS, STAGING_SLAB_COUNT } from './constants.js';
import { OutOfBoundsError, SlabBusyError } from './errors.js';
import type { CaptureKernel, KernelName } from './kernel.js';
import type { MemoryLayout } from './layout.js';

/** One run of adjacent dirty pages, copied to `slabOffset` in the capture's data. */
export interface PageRun {
  /** Index of the first page of the run in guest memory. */
  readonly pageIndex: number;
  /** Number of adjacent pages in the run, at least 1. */
  readonly pageCount: number;
  /** Byte offset of the run's first page in `Capture.data`. */
  readonly slabOffset: number;
}

/**
 * The pages one capture took, gathered into a staging slab. Nothing is copied out of the slab: `runs`
 * and `data` are views into the shared memory, valid until `release()`, after which a later capture
 * overwrites them. Release once the checkpoint has been shipped (or dropped).
 */
export interface Capture {
  /** 1 for the first capture of a memory, then 2, 3, ... */
  readonly sequence: number;
  /** Which staging slab holds the data (0 or 1). */
  readonly slab: number;
  /** The kernel that gathered the pages. */
  readonly kernel: KernelName;
  readonly pageSizeBytes: number;
  /** Number of runs, `runs.length / 3`. */
  readonly runCount: number;
  /** Number of pages gathered. */
  readonly pageCount: number;
  /** Bytes gathered: `pageCount * pageSizeBytes`, the length of `data`. */
  readonly byteLength: number;
  /**
   * False when the slab filled up before every dirty page was gathered. The pages left out are still
   * dirty: capture again (after releasing this one, or into the other slab) to take them.
   */
  readonly complete: boolean;
  /**
   * The run table: `runCount` descriptors of three u32, `[pageIndex, pageCount, slabOffset]`, in page
   * order. A view into shared memory (no copy).
   */
  readonly runs: Uint32Array;
  /** The gathered pages, run after run. A view of the staging slab (no copy). */
  readonly data: Uint8Array;
  /** Time the swap and gather took, in milliseconds (`process.hrtime`). */
  readonly durationMs: number;
  /**
   * Pages a helper thread copied while this thread copied the rest (`captureThreads: 2`, large
   * captures only); 0 when this thread copied them all.
   */
  readonly helperPages: number;
  /** Whether `release()` was called. */
  readonly released: boolean;
  /** The run at `index` as an object. */
  run(index: number): PageRun;
  /** The runs as objects, in page order. */
  [Symbol.iterator](): Iterator<PageRun>;
  /** Hands the slab back for a later capture. Idempotent. */
  release(): void;
}

/**
 * Swaps the dirty log and gathers into a free staging slab. Two slabs, so capture n+1 can happen
 * while checkpoint n is still being shipped from the other. A capture never starts without a free
 * slab: the bitmap is left untouched and `SlabBusyError` is thrown.
 */
export class Capturer {
  readonly #kernel: CaptureKernel;
  readonly #layout: MemoryLayout;
  readonly #scan: boolean;
  readonly #words: Uint32Array;
  readonly #buffer: SharedArrayBuffer;
  readonly #busy: boolean[] = new Array<boolean>(STAGING_SLAB_COUNT).fill(false);
  #sequence = 0;
  #next = 0;

  constructor(buffer: SharedArrayBuffer, layout: MemoryLayout, kernel: CaptureKernel, scan: boolean) {
    this.#buffer = buffer;
    this.#layout = layout;
    this.#kernel = kernel;
    this.#scan = scan;
    this.#words = new Uint32Array(buffer, layout.resultOffset, 3);
  }

  get kernel(): KernelName {
    return this.#kernel.name;
  }

  /** Captures not yet released. */
  get inFlight(): number {
    return this.#busy.filter(Boolean).length;
  }

  capture(): Capture {
    let slab = -1;
    // Alternate slabs, so consecutive captures never reuse the slab whose data was just shipped.
    for (let i = 0; i < STAGING_SLAB_COUNT; i++) {
      const candidate = (this.#next + i) % STAGING_SLAB_COUNT;
      if (!this.#busy[candidate]) {
        slab = candidate;
        break;
      }
    }
    if (slab === -1) throw new SlabBusyError();
    const started = process.hrtime.bigint();
    const runCount = this.#scan ? this.#kernel.scanGather(slab) : this.#kernel.gather(slab);
    const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
    const pageCount = this.#words[0]!;
    const byteLength = pageCount * this.#layout.pageSizeBytes;
    const complete = this.#words[2] === 1;
    this.#busy[slab] = true;
    this.#next = (slab + 1) % STAGING_SLAB_COUNT;
    this.#sequence++;
    return new SlabCapture(
      {
        sequence: this.#sequence,
        slab,
        kernel: this.#kernel.name,
        pageSizeBytes: this.#layout.pageSizeBytes,
        runCount,
        pageCount,
        byteLength,
        complete,
        runs: new Uint32Array(
          this.#buffer,
          this.#layout.runTableOffsets[slab]!,
          runCount * RUN_DESCRIPTOR_WORDS,
        ),
        data: new Uint8Array(this.#buffer, this.#layout.slabOffsets[slab]!, byteLength),
        durationMs,
        helperPages: this.#kernel.helperPages ?? 0,
      },
      () => {
        this.#busy[slab] = false;
      },
    );
  }
}

type CaptureFields = Omit<Capture, 'released' | 'run' | 'release' | typeof Symbol.iterator>;

class SlabCapture implements Capture {
  readonly sequence: number;
  readonly slab: number;
  readonly kernel: KernelName;
  readonly pageSizeBytes: number;
  readonly runCount: number;
  readonly pageCount: number;
  readonly byteLength: number;
  readonly complete: boolean;
  readonly runs: Uint32Array;
  readonly data: Uint8Array;
  readonly durationMs: number;
  readonly helperPages: number;
  #released = false;
  readonly #onRelease: () => void;

  constructor(fields: CaptureFields, onRelease: () => void) {
    this.sequence = fields.sequence;
    this.slab = fields.slab;
    this.kernel = fields.kernel;
    this.pageSizeBytes = fields.pageSizeBytes;
    this.runCount = fields.runCount;
    this.pageCount = fields.pageCount;
    this.byteLength = fields.byteLength;
    this.complete = fields.complete;
    this.runs = fields.runs;
    this.data = fields.data;
    this.durationMs = fields.durationMs;
    this.helperPages = fields.helperPages;
    this.#onRelease = onRelease;
  }

  get released(): boolean {
    return this.#released;
  }

  run(index: number): PageRun {
    if (!Number.isInteger(index) || index < 0 || index >= this.runCount) {
      throw new OutOfBoundsError(`run index ${index} is outside 0..${this.runCount - 1}`);
    }
    const at = index * RUN_DESCRIPTOR_WORDS;
    return { pageIndex: this.runs[at]!, pageCount: this.runs[at + 1]!, slabOffset: this.runs[at + 2]! };
  }

  *[Symbol.iterator](): Iterator<PageRun> {
    for (let i = 0; i < this.runCount; i++) yield this.run(i);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#onRelease();
  }
}
