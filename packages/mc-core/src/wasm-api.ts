/**
 * The slice of the WebAssembly JavaScript API this package uses, typed here because the project's
 * `lib` (ES2023, no DOM) does not declare the `WebAssembly` global that Node provides. Structural:
 * a real `WebAssembly.Memory` satisfies `WasmMemory`.
 */

/** A WebAssembly memory; guest memory is always a shared one, so `buffer` is a SharedArrayBuffer. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(deltaPages: number): number;
}

/** A compiled WebAssembly module. */
export type WasmModule = object;

interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (
    module: WasmModule,
    imports: Record<string, Record<string, unknown>>,
  ) => { readonly exports: Record<string, unknown> };
}

/** Node's `WebAssembly` global. */
export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Whether `value` is a WebAssembly memory (of this thread's realm). */
export function isWasmMemory(value: unknown): value is WasmMemory {
  return value instanceof wasm.Memory;
}
