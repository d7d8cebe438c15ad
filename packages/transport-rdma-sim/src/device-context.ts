import type { Worker } from 'node:worker_threads';
import type { CompletionQueue } from './completion-queue.js';
import { ADDRESS_SPACE_BASE, ADDRESS_SPACE_GAP_BYTES, DEVICE_MAX_MR } from './constants.js';
import { DeviceClosedError, RegistrationError } from './errors.js';
import type { MemoryRegion } from './memory-region.js';
import type { NicCommand, NicPerformance } from './nic/commands.js';
import type { QueuePair } from './queue-pair.js';

/**
 * The state one device's verbs objects share on the application thread: the NIC thread to post
 * commands to, the numbering of resources, and the synthetic virtual address space registered
 * memory lives in. Not part of the public API.
 */
export class DeviceContext {
  readonly address: string;
  readonly performance: NicPerformance | null;
  readonly counters: Float64Array;
  readonly qps = new Map<number, QueuePair>();
  readonly cqs = new Map<number, CompletionQueue>();
  readonly mrs = new Map<number, MemoryRegion>();
  #worker: Worker | null;
  #closedReason: Error | null = null;
  #nextPd = 1;
  #nextCq = 1;
  #nextQp: number;
  #nextMrIndex = 1;
  readonly #freeMrIndexes: number[] = [];
  readonly #bases = new WeakMap<SharedArrayBuffer, number>();
  #nextBase = ADDRESS_SPACE_BASE;

  constructor(worker: Worker, address: string, performance: NicPerformance | null, counters: Float64Array) {
    this.#worker = worker;
    this.address = address;
    this.performance = performance;
    this.counters = counters;
    // Queue pair numbers are 24 bits; starting each device somewhere else makes a QPN used on the
    // wrong device fail loudly instead of hitting a QP that happens to share the number.
    this.#nextQp = 0x100 + Math.floor(Math.random() * 0xf000) * 16;
  }

  get closed(): boolean {
    return this.#closedReason !== null;
  }

  /** Throws DeviceClosedError once the device is closed or its NIC died. */
  assertOpen(): void {
    if (this.#closedReason)
      throw new DeviceClosedError(this.#closedReason.message, { cause: this.#closedReason });
  }

  /** Posts a command to the NIC thread. */
  post(command: NicCommand): void {
    this.assertOpen();
    this.#worker!.postMessage(command);
  }

  /** Marks the context closed; every later verb throws DeviceClosedError. */
  markClosed(reason: Error): void {
    if (this.#closedReason) return;
    this.#closedReason = reason;
    this.#worker = null;
  }

  allocPdHandle(): number {
    return this.#nextPd++;
  }

  allocCqHandle(): number {
    return this.#nextCq++;
  }

  allocQpNum(): number {
    const num = this.#nextQp;
    this.#nextQp = (this.#nextQp + 1) & 0xff_ffff;
    return num;
  }

  allocMrIndex(): number {
    const reused = this.#freeMrIndexes.pop();
    if (reused !== undefined) return reused;
    if (this.#nextMrIndex > DEVICE_MAX_MR)
      throw new RegistrationError(`device holds ${DEVICE_MAX_MR} memory regions already`);
    return this.#nextMrIndex++;
  }

  freeMrIndex(index: number): void {
    this.#freeMrIndexes.push(index);
  }

  /**
   * The virtual address of the first byte of `view`. Every SharedArrayBuffer gets its own range of
   * a synthetic address space, so two registrations of the same memory share addresses (as two
   * `ibv_reg_mr` calls on one pointer do) and distinct buffers never overlap.
   */
  addressOf(view: Uint8Array): number {
    const buffer = view.buffer as SharedArrayBuffer;
    let base = this.#bases.get(buffer);
    if (base === undefined) {
      base = this.#nextBase;
      const span = Math.ceil((buffer.byteLength + 1) / ADDRESS_SPACE_GAP_BYTES) + 1;
      this.#nextBase += span * ADDRESS_SPACE_GAP_BYTES;
      this.#bases.set(buffer, base);
    }
    return base + view.byteOffset;
  }

  /** A registered region of this device covering [addr, addr + length), if any. */
  findRegion(addr: number, length: number): MemoryRegion | undefined {
    for (const mr of this.mrs.values()) {
      if (addr >= mr.addr && addr + length <= mr.addr + mr.length) return mr;
    }
    return undefined;
  }
}
