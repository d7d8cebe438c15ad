import { XbzrleDecodeError, type XbzrleMalformedReason } from '../errors.js';
import { XBZRLE_WASM_BASE64 } from '../generated/xbzrle-wasm.js';
import { instantiate, WASM_PAGE_BYTES, type WasmInstance, type WasmMemory } from './wasm-module.js';

interface KernelExports {
  memory: WasmMemory;
  scratchBase(): number;
  encode(o: number, n: number, len: number, out: number, limit: number): number;
  decode(src: number, slen: number, dst: number, dlen: number): number;
  lastErrorOffset(): number;
}

const REASONS: Record<number, XbzrleMalformedReason> = {
  [-1]: 'truncated',
  [-2]: 'length-too-long',
  [-3]: 'zero-length-unchanged-run',
  [-4]: 'zero-length-changed-run',
  [-5]: 'past-end-of-page',
};

/**
 * The WebAssembly SIMD XBZRLE kernel. Pages are copied into its memory (two 4 KiB copies cost less
 * than the byte loop they replace); its layout is four regions of `capacity` bytes: old page, new
 * page, delta output, and a delta input of up to twice the capacity.
 */
export class XbzrleWasmKernel {
  private readonly exports: KernelExports;
  private readonly base: number;
  private capacity = 0;
  private mem: Uint8Array;

  constructor(instance: WasmInstance) {
    this.exports = instance.exports as unknown as KernelExports;
    this.base = this.exports.scratchBase();
    this.mem = new Uint8Array(this.exports.memory.buffer);
  }

  private ensure(length: number): void {
    if (length <= this.capacity) return;
    let capacity = Math.max(4096, this.capacity);
    while (capacity < length) capacity *= 2;
    const needed = this.base + capacity * 5;
    const have = this.exports.memory.buffer.byteLength;
    if (needed > have) this.exports.memory.grow(Math.ceil((needed - have) / WASM_PAGE_BYTES));
    this.mem = new Uint8Array(this.exports.memory.buffer);
    this.capacity = capacity;
  }

  /** Same contract as encodeJs; the delta is written to `out`. */
  encode(o: Uint8Array, n: Uint8Array, out: Uint8Array, limit: number): number {
    const len = n.length;
    this.ensure(len);
    const mem = this.mem;
    const oldAt = this.base;
    const newAt = oldAt + this.capacity;
    const outAt = newAt + this.capacity;
    mem.set(o, oldAt);
    mem.set(n, newAt);
    const d = this.exports.encode(oldAt, newAt, len, outAt, Math.min(limit, this.capacity));
    if (d > 0) out.set(mem.subarray(outAt, outAt + d));
    return d;
  }

  /** Whether a delta of this length fits the kernel's input region for a page of this length. */
  fits(deltaLength: number, pageLength: number): boolean {
    this.ensure(pageLength);
    return deltaLength <= this.capacity * 2;
  }

  /**
   * Validates `delta` and applies it to `oldPage`, writing the new page to `page` (which may be
   * `oldPage`). Throws `XbzrleDecodeError` and leaves `page` untouched on malformed input.
   */
  decode(delta: Uint8Array, oldPage: Uint8Array, page: Uint8Array): void {
    const len = page.length;
    this.ensure(len);
    const mem = this.mem;
    const pageAt = this.base;
    const deltaAt = pageAt + this.capacity * 3;
    mem.set(delta, deltaAt);
    mem.set(oldPage, pageAt);
    const r = this.exports.decode(deltaAt, delta.length, pageAt, len);
    if (r < 0) throw new XbzrleDecodeError(REASONS[r] ?? 'truncated', this.exports.lastErrorOffset());
    page.set(mem.subarray(pageAt, pageAt + len));
  }
}

let kernel: XbzrleWasmKernel | null | undefined;

/** The kernel, instantiated once; null when this runtime lacks WebAssembly SIMD. */
export function loadXbzrleWasm(): XbzrleWasmKernel | null {
  if (kernel !== undefined) return kernel;
  const instance = instantiate(XBZRLE_WASM_BASE64);
  kernel = instance === null ? null : new XbzrleWasmKernel(instance);
  return kernel;
}
