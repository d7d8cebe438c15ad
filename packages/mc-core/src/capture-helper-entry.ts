// The capture helper thread: sleeps until a capture is published, claims chunks of it alongside the
// capturing thread, copies them with its own instance of the WebAssembly kernel over the same shared
// memory, and sleeps again. Built to dist/capture-helper-entry.js.
import { workerData } from 'node:worker_threads';
import { type CopyRunsFn, copyChunk, type RunCopier } from './capture-chunks.js';
import {
  type CaptureHelperBoot,
  CLAIM,
  COUNT,
  claimChunk,
  DONE,
  FAILED,
  HELPER_PAGES,
  jobTarget,
  READY,
  STOP,
  WAKE,
} from './capture-helper-control.js';
import { type WasmMemory, type WasmModule, wasm } from './wasm-api.js';

const boot = workerData as CaptureHelperBoot;
const memory = boot.memory as WasmMemory;
const control = new Int32Array(boot.control);
const starts = new Int32Array(boot.starts);
const instance = new wasm.Instance(boot.module as WasmModule, { env: { memory } });
const copier: RunCopier = {
  copyRuns: instance.exports.copyRuns as CopyRunsFn,
  words: new Uint32Array(memory.buffer),
  bytes: new Uint8Array(memory.buffer),
  pageShift: boot.pageShift,
  longRunPages: boot.longRunPages,
};

/** Helps with the published job until it has no chunk left. False once a copy failed. */
function help(): boolean {
  const seq = Atomics.load(control, CLAIM) >>> 16;
  for (let chunk = claimChunk(control, seq); chunk >= 0; chunk = claimChunk(control, seq)) {
    let copied = true;
    try {
      const pages = copyChunk(copier, jobTarget(control), starts, Atomics.load(control, COUNT), chunk);
      Atomics.add(control, HELPER_PAGES, pages);
    } catch {
      // The capturing thread copies this chunk itself and stops using this helper.
      Atomics.store(control, FAILED, chunk + 1);
      copied = false;
    }
    Atomics.add(control, DONE, 1);
    Atomics.notify(control, DONE);
    if (!copied) return false;
  }
  return true;
}

let seen = Atomics.load(control, WAKE);
Atomics.store(control, READY, 1);
for (;;) {
  Atomics.wait(control, WAKE, seen);
  seen = Atomics.load(control, WAKE);
  if (Atomics.load(control, STOP) === 1 || !help()) break;
}
