import { availableParallelism } from 'node:os';
import { type Capture, Capturer } from './capture.js';
import {
  DEFAULT_GUEST_MEMORY_BYTES,
  DEFAULT_PAGE_SIZE_BYTES,
  MAX_PAGE_SIZE_BYTES,
  MIN_PAGE_SIZE_BYTES,
  RUN_DESCRIPTOR_WORDS,
  WASM_PAGE_BYTES,
} from './constants.js';
import { countDirtyPages, isPageMarked, markPages } from './dirty-log.js';
import {
  InvalidArgumentError,
  InvalidOptionError,
  KernelUnavailableError,
  MemoryAllocationError,
  OutOfBoundsError,
} from './errors.js';
import type { CaptureKernel, KernelName } from './kernel.js';
import { createJsKernel } from './kernel-js.js';
import { createWasmKernel } from './kernel-wasm.js';
import { computeLayout, type MemoryLayout } from './layout.js';
import { isWasmMemory, type WasmMemory, wasm } from './wasm-api.js';

/**
 * How pages become dirty.
 * - `'bitmap'`: writers report what they wrote: through `write()`/`markDirty()`, or by setting bits in
 *   `dirtyBitmap` themselves with `Atomics.or` (worker threads, WebAssembly instances).
 * - `'scan'`: as `'bitmap'`, and in addition every capture compares each page with a shadow copy of
 *   the last capture, so writers that report nothing (opaque code writing into `bytes`) are caught.
 *   Costs a second copy of guest memory and a full compare per capture.
 */
export type DirtyTracking = 'bitmap' | 'scan';

/** Which capture kernel to use: `'auto'` takes WebAssembly when it instantiates, else JavaScript. */
export type KernelChoice = 'auto' | KernelName;

/** Options of `createGuestMemory()`. */
export interface GuestMemoryOptions {
  /**
   * Size of guest memory in bytes: a whole number of pages and of 64 KiB. Guest memory, its dirty
   * bitmap, both staging slabs and (in scan mode) the shadow share one WebAssembly memory of at most
   * 4 GiB.
   * @default 67108864 (64 MiB)
   */
  sizeBytes?: number;
  /**
   * Page size in bytes: the unit of dirty tracking and of capture. A power of two from 256 B to 16 MiB.
   * @default 4096
   */
  pageSizeBytes?: number;
  /**
   * How pages become dirty: `'bitmap'` (writers report) or `'scan'` (also compare with a shadow copy).
   * @default 'bitmap'
   */
  tracking?: DirtyTracking;
  /**
   * Size of each of the two staging slabs in bytes, a whole number of pages. Smaller slabs save memory;
   * a capture with more dirty bytes than a slab holds returns `complete: false` and leaves the rest dirty.
   * @default sizeBytes (a capture always completes)
   */
  slabBytes?: number;
  /**
   * Capture kernel: `'wasm'` (throws `MC_ERR_KERNEL_UNAVAILABLE` if it cannot be instantiated), `'js'`,
   * or `'auto'`.
   * @default 'auto'
   */
  kernel?: KernelChoice;
  /**
   * Threads that copy a large capture (at least 8 MiB), WebAssembly kernel only. With 2, a helper
   * thread, started at the first large capture, claims chunks of each large capture while the
   * capturing thread copies the rest: scattered pages are bound by memory latency, and a second
   * thread keeps twice as many misses in flight, using the core the paused guest is not using.
   * Smaller captures, scan mode and the JavaScript kernel always copy on the capturing thread.
   * @default 2 when the machine has at least two cores (`os.availableParallelism()`), else 1
   */
  captureThreads?: 1 | 2;
}

/**
 * What a worker thread needs to attach to a guest memory: structured-cloneable, post it in
 * `workerData` or a message and call `attachGuestMemory()` on the other side.
 */
export interface GuestMemoryHandle {
  readonly memory: WasmMemory;
  readonly layout: MemoryLayout;
  readonly tracking: DirtyTracking;
}

/** Guest memory as every thread sees it: read, write, and report writes. */
export interface GuestMemoryView {
  /** The shared WebAssembly memory. Guest pages are its first `sizeBytes` bytes. */
  readonly memory: WasmMemory;
  readonly sizeBytes: number;
  readonly pageSizeBytes: number;
  readonly pageCount: number;
  readonly tracking: DirtyTracking;
  /**
   * The guest's pages, a view (no copy). Writing through it directly is not tracked in bitmap mode:
   * call `markDirty()` after writing, or use `write()`.
   */
  readonly bytes: Uint8Array;
  /**
   * The dirty log, one bit per page (bit `p & 31` of word `p >> 5`). Writers that track themselves set
   * bits here with `Atomics.or`, after the bytes are written. A view (no copy).
   */
  readonly dirtyBitmap: Uint32Array;
  /** Byte offset of `dirtyBitmap` in `memory`, for WebAssembly writers that set bits themselves. */
  readonly dirtyBitmapOffset: number;
  /** Copies `length` bytes from `offset` out of guest memory. */
  read(offset: number, length: number): Uint8Array;
  /** Copies `data` into guest memory at `offset`, then marks the pages it touched dirty. */
  write(offset: number, data: Uint8Array): void;
  /** Marks the pages overlapping `[offset, offset + length)` dirty. Call it after writing them. */
  markDirty(offset: number, length: number): void;
  /** Whether page `page` is marked dirty in the log. */
  isDirty(page: number): boolean;
  /**
   * Pages marked dirty in the log: what the next bitmap-mode capture copies, the basis of the
   * policy's predicted checkpoint size. Scan mode finds more (pages that differ from the shadow).
   */
  dirtyPageCount(): number;
  /** A structured-cloneable handle for `attachGuestMemory()` in another thread. */
  handle(): GuestMemoryHandle;
}

/** Guest memory as its owner sees it: everything a view can do, plus capture and restore. */
export interface GuestMemory extends GuestMemoryView {
  /** The kernel in use (`'auto'` resolved). */
  readonly kernel: KernelName;
  /** Size of each staging slab in bytes. */
  readonly slabBytes: number;
  /** Captures taken and not yet released (0, 1 or 2). */
  readonly capturesInFlight: number;
  /**
   * Swaps the dirty log and gathers the dirty pages into a free staging slab, one copy per run of
   * adjacent pages. Call it while the guest is paused: then the capture is a consistent image.
   * Writers that keep writing (and set their bits after writing) lose nothing: what they wrote
   * lands in this capture or the next. Throws `MC_ERR_SLAB_BUSY` (touching nothing) if both slabs
   * hold unreleased captures.
   */
  capture(): Capture;
  /**
   * Writes page runs into guest memory: `runs` holds `[pageIndex, pageCount, offset]` triples (the
   * shape of `Capture.runs`), `data` the bytes they point into (the shape of `Capture.data`). This is
   * how a secondary restores a checkpoint. Every run is checked before anything is written, so bad
   * input changes nothing. Restored pages are a new baseline: not marked dirty, and in scan mode
   * copied into the shadow too. Call it while the guest is paused or not yet started.
   */
  restorePages(runs: Uint32Array, data: Uint8Array): void;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function checkRange(offset: number, length: number, size: number, what: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new InvalidArgumentError(`${what}: offset and length must be non-negative integers`);
  }
  if (offset + length > size) {
    throw new OutOfBoundsError(
      `${what}: [${offset}, ${offset + length}) is outside guest memory of ${size} bytes`,
    );
  }
}

class SharedGuestMemoryView implements GuestMemoryView {
  readonly memory: WasmMemory;
  readonly sizeBytes: number;
  readonly pageSizeBytes: number;
  readonly pageCount: number;
  readonly tracking: DirtyTracking;
  readonly bytes: Uint8Array;
  readonly dirtyBitmap: Uint32Array;
  readonly dirtyBitmapOffset: number;
  protected readonly layout: MemoryLayout;
  protected readonly buffer: SharedArrayBuffer;

  constructor(memory: WasmMemory, layout: MemoryLayout, tracking: DirtyTracking) {
    this.memory = memory;
    this.layout = layout;
    this.tracking = tracking;
    this.buffer = memory.buffer as unknown as SharedArrayBuffer;
    this.sizeBytes = layout.sizeBytes;
    this.pageSizeBytes = layout.pageSizeBytes;
    this.pageCount = layout.pageCount;
    this.bytes = new Uint8Array(this.buffer, 0, layout.sizeBytes);
    this.dirtyBitmap = new Uint32Array(this.buffer, layout.bitmapOffset, layout.bitmapWords);
    this.dirtyBitmapOffset = layout.bitmapOffset;
  }

  read(offset: number, length: number): Uint8Array {
    checkRange(offset, length, this.sizeBytes, 'read');
    return this.bytes.slice(offset, offset + length);
  }

  write(offset: number, data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw new InvalidArgumentError('write: data must be a Uint8Array');
    checkRange(offset, data.length, this.sizeBytes, 'write');
    if (data.length === 0) return;
    this.bytes.set(data, offset);
    // Bits after bytes: a capture that takes the bit then copies the page sees the write.
    markPages(
      this.dirtyBitmap,
      Math.floor(offset / this.pageSizeBytes),
      Math.floor((offset + data.length - 1) / this.pageSizeBytes),
    );
  }

  markDirty(offset: number, length: number): void {
    checkRange(offset, length, this.sizeBytes, 'markDirty');
    if (length === 0) return;
    markPages(
      this.dirtyBitmap,
      Math.floor(offset / this.pageSizeBytes),
      Math.floor((offset + length - 1) / this.pageSizeBytes),
    );
  }

  isDirty(page: number): boolean {
    if (!Number.isSafeInteger(page) || page < 0 || page >= this.pageCount) {
      throw new OutOfBoundsError(`isDirty: page ${page} is outside 0..${this.pageCount - 1}`);
    }
    return isPageMarked(this.dirtyBitmap, page);
  }

  dirtyPageCount(): number {
    return countDirtyPages(this.dirtyBitmap, this.pageCount);
  }

  handle(): GuestMemoryHandle {
    return { memory: this.memory, layout: this.layout, tracking: this.tracking };
  }
}

class OwnedGuestMemory extends SharedGuestMemoryView implements GuestMemory {
  readonly kernel: KernelName;
  readonly slabBytes: number;
  readonly #capturer: Capturer;

  constructor(memory: WasmMemory, layout: MemoryLayout, tracking: DirtyTracking, kernel: CaptureKernel) {
    super(memory, layout, tracking);
    this.kernel = kernel.name;
    this.slabBytes = layout.slabBytes;
    this.#capturer = new Capturer(this.buffer, layout, kernel, tracking === 'scan');
  }

  get capturesInFlight(): number {
    return this.#capturer.inFlight;
  }

  capture(): Capture {
    return this.#capturer.capture();
  }

  restorePages(runs: Uint32Array, data: Uint8Array): void {
    if (!(runs instanceof Uint32Array))
      throw new InvalidArgumentError('restorePages: runs must be a Uint32Array');
    if (!(data instanceof Uint8Array))
      throw new InvalidArgumentError('restorePages: data must be a Uint8Array');
    if (runs.length % RUN_DESCRIPTOR_WORDS !== 0) {
      throw new InvalidArgumentError(
        `restorePages: runs holds ${runs.length} words, not a whole number of runs`,
      );
    }
    const pageSize = this.pageSizeBytes;
    for (let i = 0; i < runs.length; i += RUN_DESCRIPTOR_WORDS) {
      const page = runs[i]!;
      const count = runs[i + 1]!;
      const offset = runs[i + 2]!;
      if (count === 0 || page + count > this.pageCount) {
        throw new OutOfBoundsError(
          `restorePages: run ${i / 3} (pages ${page}+${count}) is outside guest memory`,
        );
      }
      if (offset + count * pageSize > data.length) {
        throw new OutOfBoundsError(
          `restorePages: run ${i / 3} needs bytes [${offset}, ${offset + count * pageSize}) of data holding ${data.length}`,
        );
      }
    }
    const shadow =
      this.layout.shadowOffset >= 0
        ? new Uint8Array(this.buffer, this.layout.shadowOffset, this.sizeBytes)
        : null;
    for (let i = 0; i < runs.length; i += RUN_DESCRIPTOR_WORDS) {
      const at = runs[i]! * pageSize;
      const offset = runs[i + 2]!;
      const source = data.subarray(offset, offset + runs[i + 1]! * pageSize);
      this.bytes.set(source, at);
      shadow?.set(source, at);
    }
  }
}

function pickKernel(
  choice: KernelChoice,
  captureThreads: 1 | 2,
  memory: WasmMemory,
  layout: MemoryLayout,
): CaptureKernel {
  if (choice === 'js') return createJsKernel({ memory, layout });
  try {
    return createWasmKernel({ memory, layout }, { captureThreads });
  } catch (err) {
    if (choice === 'wasm' || !(err instanceof KernelUnavailableError)) throw err;
    return createJsKernel({ memory, layout });
  }
}

/**
 * Creates guest memory: a shared `WebAssembly.Memory` holding the guest's pages, its dirty log and
 * two staging slabs. Worker threads and WebAssembly instances work on it directly.
 */
export function createGuestMemory(options: GuestMemoryOptions = {}): GuestMemory {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('options', 'must be an object');
  }
  const pageSizeBytes = options.pageSizeBytes ?? DEFAULT_PAGE_SIZE_BYTES;
  if (
    !isPowerOfTwo(pageSizeBytes) ||
    pageSizeBytes < MIN_PAGE_SIZE_BYTES ||
    pageSizeBytes > MAX_PAGE_SIZE_BYTES
  ) {
    throw new InvalidOptionError(
      'pageSizeBytes',
      `must be a power of two from ${MIN_PAGE_SIZE_BYTES} to ${MAX_PAGE_SIZE_BYTES}, got ${String(pageSizeBytes)}`,
    );
  }
  const sizeBytes = options.sizeBytes ?? DEFAULT_GUEST_MEMORY_BYTES;
  if (
    !Number.isSafeInteger(sizeBytes) ||
    sizeBytes <= 0 ||
    sizeBytes % pageSizeBytes !== 0 ||
    sizeBytes % WASM_PAGE_BYTES !== 0
  ) {
    throw new InvalidOptionError(
      'sizeBytes',
      `must be a positive multiple of pageSizeBytes (${pageSizeBytes}) and of 65536, got ${String(sizeBytes)}`,
    );
  }
  const tracking = options.tracking ?? 'bitmap';
  if (tracking !== 'bitmap' && tracking !== 'scan') {
    throw new InvalidOptionError('tracking', `must be 'bitmap' or 'scan', got ${String(tracking)}`);
  }
  const slabBytes = options.slabBytes ?? sizeBytes;
  if (!Number.isSafeInteger(slabBytes) || slabBytes < pageSizeBytes || slabBytes % pageSizeBytes !== 0) {
    throw new InvalidOptionError(
      'slabBytes',
      `must be a positive multiple of pageSizeBytes (${pageSizeBytes}), got ${String(slabBytes)}`,
    );
  }
  if (slabBytes > sizeBytes) {
    throw new InvalidOptionError('slabBytes', `must not exceed sizeBytes (${sizeBytes}), got ${slabBytes}`);
  }
  const kernel = options.kernel ?? 'auto';
  if (kernel !== 'auto' && kernel !== 'wasm' && kernel !== 'js') {
    throw new InvalidOptionError('kernel', `must be 'auto', 'wasm' or 'js', got ${String(kernel)}`);
  }
  const captureThreads = options.captureThreads ?? (availableParallelism() >= 2 ? 2 : 1);
  if (captureThreads !== 1 && captureThreads !== 2) {
    throw new InvalidOptionError('captureThreads', `must be 1 or 2, got ${String(captureThreads)}`);
  }
  const layout = computeLayout(sizeBytes, pageSizeBytes, slabBytes, tracking === 'scan');
  if ('tooLargeBytes' in layout) {
    throw new InvalidOptionError(
      'sizeBytes',
      `guest memory, two slabs of slabBytes${tracking === 'scan' ? ', the scan shadow' : ''} and the dirty log need ${layout.tooLargeBytes} bytes; one WebAssembly memory holds at most 4 GiB`,
    );
  }
  const pages = layout.totalBytes / WASM_PAGE_BYTES;
  let memory: WasmMemory;
  try {
    memory = new wasm.Memory({ initial: pages, maximum: pages, shared: true });
  } catch (err) {
    throw new MemoryAllocationError(layout.totalBytes, err);
  }
  return new OwnedGuestMemory(memory, layout, tracking, pickKernel(kernel, captureThreads, memory, layout));
}

/**
 * Attaches to a guest memory created elsewhere (typically in another thread) from its `handle()`.
 * The view reads, writes and reports writes; capture and restore stay with the owner.
 */
export function attachGuestMemory(handle: GuestMemoryHandle): GuestMemoryView {
  if (
    handle === null ||
    typeof handle !== 'object' ||
    !isWasmMemory(handle.memory) ||
    handle.layout === null ||
    typeof handle.layout !== 'object' ||
    (handle.tracking !== 'bitmap' && handle.tracking !== 'scan')
  ) {
    throw new InvalidArgumentError('attachGuestMemory: not a guest memory handle');
  }
  if ((handle.memory.buffer as ArrayBufferLike).byteLength < handle.layout.totalBytes) {
    throw new InvalidArgumentError('attachGuestMemory: the handle layout does not fit its memory');
  }
  return new SharedGuestMemoryView(handle.memory, handle.layout, handle.tracking);
}
