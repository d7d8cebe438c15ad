import { Buffer } from 'node:buffer';

// The minimal WebAssembly API used here (@types/node 20 declares none, and the DOM lib is not ours).
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => WasmInstance;
}

export const WASM_PAGE_BYTES = 65_536;

/** Instantiates an embedded module; null when this runtime cannot (no WebAssembly, or no SIMD). */
export function instantiate(base64: string): WasmInstance | null {
  try {
    const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    return new wasm.Instance(new wasm.Module(Buffer.from(base64, 'base64')), {});
  } catch {
    return null;
  }
}

/** Grows `memory` so that it holds at least `bytes`; returns a view of the whole memory. */
export function ensureMemory(memory: WasmMemory, bytes: number): Uint8Array {
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / WASM_PAGE_BYTES));
  return new Uint8Array(memory.buffer);
}
