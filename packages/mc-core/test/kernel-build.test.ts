import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script without type declarations
import { compileKernel, kernelModuleSource } from '../scripts/build-kernels.mjs';
import { KERNEL_WASM_BASE64 } from '../src/kernel-wasm-bytes.js';

describe('the shipped WebAssembly kernel', () => {
  it('is the compilation of the AssemblyScript source (the committed artifacts are not stale)', async () => {
    const bytes = (await compileKernel()) as Uint8Array;
    const embedded = Buffer.from(KERNEL_WASM_BASE64, 'base64');
    expect(embedded.equals(Buffer.from(bytes))).toBe(true);
    const shipped = readFileSync(new URL('../src/kernels/gather.wasm', import.meta.url));
    expect(shipped.equals(Buffer.from(bytes))).toBe(true);
    const source = readFileSync(new URL('../src/kernel-wasm-bytes.ts', import.meta.url), 'utf8');
    expect(source).toBe(kernelModuleSource(bytes));
  });

  it('imports one shared memory, exports the two kernels and carries no data segment', () => {
    const wasm = (globalThis as unknown as { WebAssembly: typeof WebAssemblyApi }).WebAssembly;
    const module = new wasm.Module(Buffer.from(KERNEL_WASM_BASE64, 'base64'));
    expect(wasm.Module.imports(module)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    expect(
      wasm.Module.exports(module)
        .map((e) => e.name)
        .sort(),
    ).toEqual(['collect', 'copyRuns', 'scanGather']);
    // Instantiating against a memory full of data must not change a byte of it.
    const memory = new wasm.Memory({ initial: 2, maximum: 2, shared: true });
    const bytes = new Uint8Array(memory.buffer);
    bytes.fill(0xa5);
    new wasm.Instance(module, { env: { memory } });
    expect(bytes.every((b) => b === 0xa5)).toBe(true);
  });
});

// The WebAssembly global is not in the project's lib; this is the part the test uses.
declare const WebAssemblyApi: {
  Module: {
    new (bytes: Uint8Array): object;
    imports(module: object): Array<{ module: string; name: string; kind: string }>;
    exports(module: object): Array<{ name: string; kind: string }>;
  };
  Memory: new (descriptor: {
    initial: number;
    maximum: number;
    shared: boolean;
  }) => { buffer: SharedArrayBuffer };
  Instance: new (module: object, imports: object) => object;
};
