/**
 * @packageDocumentation
 * The micro-checkpointing engine's foundation: guest memory with a dirty log, the hot copy path that
 * gathers dirty pages into staging slabs (a WebAssembly kernel, with a plain JavaScript fallback),
 * and the guests that run a protected workload and pause it at safe points. The engine itself
 * (protocol, primary and secondary, failover) is built on these and is not part of this release.
 *
 * @example
 * ```ts
 * import { createGuestMemory } from '@microcheckpoint/mc-core';
 *
 * const memory = createGuestMemory({ sizeBytes: 16 * 1024 * 1024 });
 * memory.write(8192, new TextEncoder().encode('hello'));
 * const capture = memory.capture(); // pause the guest around this call
 * for (const run of capture) console.log(run.pageIndex, run.pageCount, run.slabOffset);
 * capture.release();
 * ```
 */
export type { Capture, PageRun } from './capture.js';
export {
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_GUEST_MEMORY_BYTES,
  DEFAULT_MAX_QUEUED_REQUESTS,
  DEFAULT_PAGE_SIZE_BYTES,
  DEFAULT_PAUSE_TIMEOUT_MS,
  DEFAULT_QUEUE_HIGH_WATER_MARK,
  DEFAULT_REQUESTS_PER_TURN,
  MAX_PAGE_SIZE_BYTES,
  MIN_PAGE_SIZE_BYTES,
  STAGING_SLAB_COUNT,
} from './constants.js';
export {
  GuestClosedError,
  GuestFailedError,
  GuestQueueFullError,
  GuestStateError,
  InvalidArgumentError,
  InvalidOptionError,
  KernelUnavailableError,
  McCoreError,
  type McCoreErrorCode,
  MemoryAllocationError,
  OutOfBoundsError,
  PauseTimeoutError,
  SlabBusyError,
} from './errors.js';
export {
  attachGuestMemory,
  createGuestMemory,
  type DirtyTracking,
  type GuestMemory,
  type GuestMemoryHandle,
  type GuestMemoryOptions,
  type GuestMemoryView,
  type KernelChoice,
} from './guest-memory.js';
export type { Guest, GuestState, OutputSink, PauseOptions } from './guests/contract.js';
export {
  createInProcessGuest,
  type InProcessGuest,
  type InProcessGuestContext,
  type InProcessGuestOptions,
  type RequestHandler,
} from './guests/in-process.js';
export {
  createWorkerGuest,
  type WorkerGuest,
  type WorkerGuestContext,
  type WorkerGuestOptions,
  type WorkerGuestRun,
} from './guests/worker.js';
export type { KernelName } from './kernel.js';
export type { MemoryLayout } from './layout.js';
export type { WasmMemory } from './wasm-api.js';
