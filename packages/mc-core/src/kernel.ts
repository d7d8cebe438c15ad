import type { MemoryLayout } from './layout.js';
import type { WasmMemory } from './wasm-api.js';

/** The two implementations of the hot copy path; they produce identical captures. */
export type KernelName = 'wasm' | 'js';

/**
 * One capture kernel bound to one memory. Each call swaps the dirty log and gathers into slab
 * `slab`, writes the run descriptors into that slab's run table and the totals into the result
 * block (pages, bytes, complete), and returns the number of runs.
 */
export interface CaptureKernel {
  readonly name: KernelName;
  /** Bitmap mode: a page is dirty when its bit is set. */
  gather(slab: number): number;
  /** Scan mode: a page is dirty when its bit is set or it differs from the shadow copy. */
  scanGather(slab: number): number;
  /** Pages of the last capture that a helper thread copied (absent: this kernel never shares). */
  readonly helperPages?: number;
}

/** What a kernel factory needs: the memory and where things are in it. */
export interface KernelTarget {
  readonly memory: WasmMemory;
  readonly layout: MemoryLayout;
}
