import { LARGE_CAPTURE_BYTES, LONG_RUN_BYTES } from './constants.js';
import { KernelUnavailableError } from './errors.js';
import type { CaptureKernel, KernelTarget } from './kernel.js';
import { KERNEL_WASM_BASE64 } from './kernel-wasm-bytes.js';
import { type WasmModule, wasm } from './wasm-api.js';

type CollectFn = (
  pageCount: number,
  pageShift: number,
  bitmapPtr: number,
  slabPages: number,
  runsPtr: number,
  resultPtr: number,
) => number;

type CopyRunsFn = (
  guestPtr: number,
  pageShift: number,
  slabPtr: number,
  runsPtr: number,
  runs: number,
  maxRunPages: number,
) => void;

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

/**
 * The WebAssembly kernel (AssemblyScript, src/kernels/gather.ts): the dirty bits taken and the runs
 * described in WebAssembly, one `memory.copy` per run of adjacent dirty pages, scattered single pages
 * copied four at a time, and SIMD page comparison in scan mode. In a capture larger than the caches,
 * runs of 64 KiB and more are copied with `copyWithin`, which streams faster from DRAM here. Throws
 * `KernelUnavailableError` when the engine cannot compile or instantiate it.
 */
export function createWasmKernel(target: KernelTarget): CaptureKernel {
  const { memory, layout } = target;
  let exports: Record<string, unknown>;
  try {
    exports = new wasm.Instance(kernelModule(), { env: { memory } }).exports;
  } catch (err) {
    if (err instanceof KernelUnavailableError) throw err;
    throw new KernelUnavailableError(err);
  }
  const collect = exports.collect as CollectFn;
  const copyRuns = exports.copyRuns as CopyRunsFn;
  const scanGather = exports.scanGather as ScanGatherFn;
  const {
    pageShift,
    pageCount,
    pageSizeBytes,
    bitmapOffset,
    shadowOffset,
    slabPages,
    slabOffsets,
    runTableOffsets,
  } = layout;
  const resultOffset = layout.resultOffset;
  const buffer = memory.buffer as SharedArrayBuffer;
  const all = new Uint8Array(buffer);
  const words = new Uint32Array(buffer);
  const longRunPages = Math.max(1, LONG_RUN_BYTES / pageSizeBytes);
  return {
    name: 'wasm',
    gather(slab) {
      const slabOffset = slabOffsets[slab]!;
      const runTable = runTableOffsets[slab]!;
      const runs = collect(pageCount, pageShift, bitmapOffset, slabPages, runTable, resultOffset);
      if (words[(resultOffset >>> 2) + 1]! < LARGE_CAPTURE_BYTES) {
        copyRuns(0, pageShift, slabOffset, runTable, runs, ALL_RUNS);
        return runs;
      }
      copyRuns(0, pageShift, slabOffset, runTable, runs, longRunPages - 1);
      for (let at = runTable >>> 2, end = at + runs * 3; at < end; at += 3) {
        const length = words[at + 1]!;
        if (length < longRunPages) continue;
        const from = words[at]! * pageSizeBytes;
        all.copyWithin(slabOffset + words[at + 2]!, from, from + length * pageSizeBytes);
      }
      return runs;
    },
    scanGather(slab) {
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
}
