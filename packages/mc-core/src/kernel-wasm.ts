import { type CopyRunsFn, copyChunk, type RunCopier } from './capture-chunks.js';
import { CaptureHelper, HELPER_DEADLINE_MS } from './capture-helper.js';
import { LARGE_CAPTURE_BYTES, LONG_RUN_BYTES } from './constants.js';
import { CaptureHelperStalledError, KernelUnavailableError } from './errors.js';
import type { CaptureKernel, KernelTarget } from './kernel.js';
import { KERNEL_WASM_BASE64 } from './kernel-wasm-bytes.js';
import { type WasmMemory, type WasmModule, wasm } from './wasm-api.js';

type CollectFn = (
  pageCount: number,
  pageShift: number,
  bitmapPtr: number,
  slabPages: number,
  runsPtr: number,
  resultPtr: number,
) => number;

type ScanGatherFn = (
  guestPtr: number,
  pageShift: number,
  pageCount: number,
  bitmapPtr: number,
  shadowPtr: number,
  slabPtr: number,
  slabPages: number,
  runsPtr: number,
  resultPtr: number,
) => number;

/** `maxRunPages` that lets the kernel copy every run. */
const ALL_RUNS = 0xffffffff;
/** One chunk from the first run to the end: a large capture copied by one thread. */
const WHOLE_CAPTURE = new Int32Array(2);

let compiled: WasmModule | Error | undefined;

// Compiled once per process (the module is under 2 KiB, so synchronous compilation costs nothing),
// instantiated once per memory because the memory is the module's import.
function kernelModule(): WasmModule {
  if (compiled === undefined) {
    try {
      compiled = new wasm.Module(Buffer.from(KERNEL_WASM_BASE64, 'base64'));
    } catch (err) {
      compiled = err instanceof Error ? err : new Error(String(err));
    }
  }
  if (compiled instanceof Error) throw new KernelUnavailableError(compiled);
  return compiled;
}

/** The kernel's exports, instantiated over `memory`. Throws `KernelUnavailableError`. */
export function instantiateKernel(memory: WasmMemory): Record<string, unknown> {
  try {
    return new wasm.Instance(kernelModule(), { env: { memory } }).exports;
  } catch (err) {
    if (err instanceof KernelUnavailableError) throw err;
    throw new KernelUnavailableError(err);
  }
}

/** How the WebAssembly kernel may copy. */
export interface WasmKernelOptions {
  /**
   * 2: large captures (at least LARGE_CAPTURE_BYTES) are shared with a helper thread, started at the
   * first one. 1: the capturing thread copies alone.
   */
  readonly captureThreads: 1 | 2;
}

/**
 * The WebAssembly kernel (AssemblyScript, src/kernels/gather.ts): the dirty bits taken and the runs
 * described in WebAssembly, one `memory.copy` per run of adjacent dirty pages, scattered single pages
 * copied four at a time, and SIMD page comparison in scan mode. In a capture larger than the caches,
 * runs of 64 KiB and more are copied with `copyWithin`, which streams faster from DRAM here, and with
 * `captureThreads: 2` a helper thread copies part of it. Throws `KernelUnavailableError` when the
 * engine cannot compile or instantiate it.
 */
export function createWasmKernel(target: KernelTarget, options: WasmKernelOptions): CaptureKernel {
  const { memory, layout } = target;
  const exports = instantiateKernel(memory);
  const collect = exports.collect as CollectFn;
  const copyRuns = exports.copyRuns as CopyRunsFn;
  const scanGather = exports.scanGather as ScanGatherFn;
  const { pageShift, pageCount, bitmapOffset, shadowOffset, slabPages, slabOffsets, runTableOffsets } =
    layout;
  const resultOffset = layout.resultOffset;
  const buffer = memory.buffer as SharedArrayBuffer;
  const words = new Uint32Array(buffer);
  const copier: RunCopier = {
    copyRuns,
    words,
    bytes: new Uint8Array(buffer),
    pageShift,
    longRunPages: Math.max(1, LONG_RUN_BYTES / layout.pageSizeBytes),
  };
  // Only a memory that can hold a large capture ever starts the helper.
  const mayShare = options.captureThreads === 2 && layout.slabBytes >= LARGE_CAPTURE_BYTES;
  let helper: CaptureHelper | undefined;
  let helperPages = 0;
  const kernel: CaptureKernel = {
    name: 'wasm',
    get helperPages() {
      return helperPages;
    },
    gather(slab) {
      if (helper?.stalled) throw new CaptureHelperStalledError(HELPER_DEADLINE_MS);
      helperPages = 0;
      const slabOffset = slabOffsets[slab]!;
      const runTable = runTableOffsets[slab]!;
      const runs = collect(pageCount, pageShift, bitmapOffset, slabPages, runTable, resultOffset);
      if (words[(resultOffset >>> 2) + 1]! < LARGE_CAPTURE_BYTES) {
        copyRuns(0, pageShift, slabOffset, runTable, runs, ALL_RUNS);
        return runs;
      }
      const captureTarget = { slabOffset, runTable, runs };
      if (mayShare && helper === undefined) {
        // Started now, it helps from one of the next captures on; this one is copied alone.
        helper = new CaptureHelper(kernel, kernelModule(), memory, copier, layout.slabBytes);
      }
      if (helper?.usable) {
        helperPages = helper.copy(copier, captureTarget);
      } else {
        copyChunk(copier, captureTarget, WHOLE_CAPTURE, 1, 0);
      }
      return runs;
    },
    scanGather(slab) {
      if (helper?.stalled) throw new CaptureHelperStalledError(HELPER_DEADLINE_MS);
      helperPages = 0;
      return scanGather(
        0,
        pageShift,
        pageCount,
        bitmapOffset,
        shadowOffset,
        slabOffsets[slab]!,
        slabPages,
        runTableOffsets[slab]!,
        resultOffset,
      );
    },
  };
  return kernel;
}
