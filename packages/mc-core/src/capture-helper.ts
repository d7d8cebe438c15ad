import type { Worker } from 'node:worker_threads';
import { type CaptureTarget, copyChunk, planChunks, type RunCopier } from './capture-chunks.js';
import {
  type CaptureHelperBoot,
  CLAIM,
  CLOSED,
  CONTROL_WORDS,
  COUNT,
  claimChunk,
  DONE,
  FAILED,
  HELPER_PAGES,
  MAX_CHUNKS,
  MAX_SEQ,
  READY,
  RUN_TABLE,
  RUNS,
  SLAB_OFFSET,
  STOP,
  WAKE,
} from './capture-helper-control.js';
import { startEntryWorker } from './entry-worker.js';
import { CaptureHelperStalledError } from './errors.js';
import type { WasmMemory, WasmModule } from './wasm-api.js';

/** A capture is cut into chunks of this size for two threads to share: 1 MiB. */
export const CAPTURE_CHUNK_BYTES = 1024 * 1024;
/**
 * How long the capturing thread waits for the helper to finish the chunks it claimed. A chunk is
 * about a tenth of a millisecond of copying; only a thread that is not scheduled at all, or died,
 * misses this.
 */
export const HELPER_DEADLINE_MS = 10_000;

// A helper thread holds the guest memory alive; it is stopped once the memory's kernel is collected.
const stopWhenCollected = new FinalizationRegistry<{ control: Int32Array; worker: Worker }>((held) =>
  stopHelper(held.control, held.worker),
);

function stopHelper(control: Int32Array, worker: Worker): void {
  Atomics.store(control, STOP, 1);
  Atomics.add(control, WAKE, 1);
  Atomics.notify(control, WAKE);
  void worker.terminate();
}

/**
 * A second thread that copies part of every large capture while the capturing thread copies the
 * rest: scattered pages are bound by memory latency, and two threads keep twice as many misses in
 * flight. Work is shared by claiming chunks, so a helper that wakes late (or never) only means the
 * capturing thread copies more itself; it never waits for a chunk the helper has not claimed.
 */
export class CaptureHelper {
  readonly #control: Int32Array;
  readonly #starts: Int32Array;
  readonly #worker: Worker;
  #seq = 0;
  #usable = true;
  #stalled = false;

  /** Starts the thread over `memory`; it copies as `copier` does, and stops once `owner` is collected. */
  constructor(owner: object, module: WasmModule, memory: WasmMemory, copier: RunCopier, slabBytes: number) {
    const { pageShift, longRunPages } = copier;
    const control = new SharedArrayBuffer(4 * CONTROL_WORDS);
    const maxChunks = Math.min(MAX_CHUNKS, Math.floor(slabBytes / CAPTURE_CHUNK_BYTES) + 1);
    const starts = new SharedArrayBuffer(4 * 2 * maxChunks);
    this.#control = new Int32Array(control);
    this.#starts = new Int32Array(starts);
    const boot: CaptureHelperBoot = { module, memory, control, starts, pageShift, longRunPages };
    this.#worker = startEntryWorker(import.meta.url, './capture-helper-entry', { workerData: boot });
    this.#worker.unref();
    // A helper that failed to start or died between captures is simply not used again.
    this.#worker.on('error', () => {
      this.#usable = false;
    });
    this.#worker.on('exit', () => {
      this.#usable = false;
    });
    stopWhenCollected.register(owner, { control: this.#control, worker: this.#worker });
  }

  /** Whether a capture may be shared with the helper: it runs and has never failed a chunk. */
  get usable(): boolean {
    return this.#usable && Atomics.load(this.#control, READY) === 1;
  }

  /** True after a capture the helper did not finish in time: the memory takes no more captures. */
  get stalled(): boolean {
    return this.#stalled;
  }

  /**
   * Copies a capture's runs into its slab, sharing the chunks with the helper thread. Returns the
   * pages the helper copied. Throws `CaptureHelperStalledError` if chunks it claimed are not done
   * within HELPER_DEADLINE_MS.
   */
  copy(copier: RunCopier, target: CaptureTarget): number {
    const control = this.#control;
    this.#seq = (this.#seq % MAX_SEQ) + 1;
    // Closed first: a helper still looking for work in the last capture must fail its claim before
    // any field it would read is rewritten (its compare-and-swap sees the new seq), and one that
    // already reads the new seq finds no chunk until the fields are complete.
    Atomics.store(control, CLAIM, (this.#seq << 16) | CLOSED);
    const count = planChunks(copier, target, CAPTURE_CHUNK_BYTES, this.#starts);
    Atomics.store(control, COUNT, count);
    Atomics.store(control, SLAB_OFFSET, target.slabOffset | 0);
    Atomics.store(control, RUN_TABLE, target.runTable | 0);
    Atomics.store(control, RUNS, target.runs);
    Atomics.store(control, DONE, 0);
    Atomics.store(control, HELPER_PAGES, 0);
    Atomics.store(control, CLAIM, this.#seq << 16);
    Atomics.add(control, WAKE, 1);
    Atomics.notify(control, WAKE);
    let mine = 0;
    for (let chunk = claimChunk(control, this.#seq); chunk >= 0; chunk = claimChunk(control, this.#seq)) {
      copyChunk(copier, target, this.#starts, count, chunk);
      mine++;
    }
    this.#awaitHelper(count - mine);
    const failed = Atomics.load(control, FAILED);
    if (failed !== 0) {
      // The helper threw on that chunk and stopped: copy it here, and capture alone from now on.
      copyChunk(copier, target, this.#starts, count, failed - 1);
      this.#usable = false;
      return 0;
    }
    return Atomics.load(control, HELPER_PAGES);
  }

  #awaitHelper(chunks: number): void {
    const deadline = performance.now() + HELPER_DEADLINE_MS;
    for (
      let done = Atomics.load(this.#control, DONE);
      done < chunks;
      done = Atomics.load(this.#control, DONE)
    ) {
      const left = deadline - performance.now();
      if (left <= 0) {
        this.#stalled = true;
        this.#usable = false;
        stopHelper(this.#control, this.#worker);
        throw new CaptureHelperStalledError(HELPER_DEADLINE_MS);
      }
      Atomics.wait(this.#control, DONE, done, left);
    }
  }
}
