import { LZ4_WASM_BASE64 } from '../generated/lz4-wasm.js';
import { ensureMemory, instantiate, type WasmMemory } from './wasm-module.js';

interface Lz4Exports {
  memory: WasmMemory;
  scratchBase(): number;
  decode(src: number, slen: number, dst: number, dlen: number): number;
}

/** The WebAssembly LZ4 block decoder: the block is copied in, the page copied out. */
export class Lz4WasmDecoder {
  private readonly exports: Lz4Exports;
  private readonly base: number;
  private capacity = 0;
  private mem: Uint8Array = new Uint8Array(0);

  constructor(exports: Lz4Exports) {
    this.exports = exports;
    this.base = exports.scratchBase();
  }

  /** Decodes an LZ4 block into `target`; returns false for a malformed block or a wrong length. */
  decodeInto(block: Uint8Array, target: Uint8Array): boolean {
    const need = Math.max(block.length, target.length);
    if (need > this.capacity) {
      let capacity = Math.max(8192, this.capacity);
      while (capacity < need) capacity *= 2;
      // Slack after each region for the kernel's 8-byte copies.
      this.mem = ensureMemory(this.exports.memory, this.base + 2 * (capacity + 64));
      this.capacity = capacity;
    }
    const mem = this.mem;
    const srcAt = this.base;
    const dstAt = srcAt + this.capacity + 64;
    mem.set(block, srcAt);
    const n = this.exports.decode(srcAt, block.length, dstAt, target.length);
    if (n !== target.length) return false;
    target.set(mem.subarray(dstAt, dstAt + n));
    return true;
  }
}

let decoder: Lz4WasmDecoder | null | undefined;

/** The decoder, instantiated once; null when this runtime lacks WebAssembly. */
export function loadLz4Wasm(): Lz4WasmDecoder | null {
  if (decoder === undefined) {
    const instance = instantiate(LZ4_WASM_BASE64);
    decoder = instance === null ? null : new Lz4WasmDecoder(instance.exports as unknown as Lz4Exports);
  }
  return decoder;
}
