import type { CompletionQueue } from './completion-queue.js';
import { DEFAULT_SIGNAL_INTERVAL_WR, MAX_MESSAGE_BYTES } from './constants.js';
import {
  CheckpointRangeError,
  CompletionError,
  DeviceClosedError,
  InvalidOptionError,
  UnregisteredMemoryError,
} from './errors.js';
import type { MemoryRegion, RemoteRegion } from './memory-region.js';
import { estimateTransferNs, type PerformanceModel, validatePerformanceModel } from './performance-model.js';
import { QueuePair } from './queue-pair.js';
import { integerOption, isUint32, isUnsignedSafeInteger, optionsObject } from './validate.js';
import type { SendWorkRequest } from './work-request.js';

/** One run of pages of a checkpoint. */
export interface PageRun {
  /** Where the run goes: byte offset inside the remote staging region. */
  offset: number;
  /** The bytes: a view inside one of the shipper's `regions` (sent from there, never copied). */
  bytes: Uint8Array;
}

/** Options of {@link createCheckpointShipper}. */
export interface CheckpointShipperOptions {
  /** A connected queue pair in RTS, used by this shipper alone. Required. */
  qp: QueuePair;
  /**
   * Completion queue of the queue pair's sends, polled by this shipper alone.
   * @default qp.sendCq
   */
  cq?: CompletionQueue;
  /** The secondary's registered staging region (its `remote()`), REMOTE_WRITE. Required. */
  staging: RemoteRegion;
  /** Local registered regions the page runs live in (the primary's staging slab). Required. */
  regions: readonly MemoryRegion[];
  /**
   * Ask for a completion at least every this many writes, so that unsignaled writes, which keep
   * their send queue slots, cannot fill the queue for good. At most the queue's `maxSendWr`.
   * @default 32
   */
  signalInterval?: number;
  /**
   * Largest single RDMA WRITE, in bytes; longer runs are split.
   * @default 1073741824 (1 GiB, the port's max message size)
   */
  maxWriteBytes?: number;
  /**
   * Hardware to price each checkpoint on (`ShipResult.modeledNs`).
   * @default undefined (no estimate)
   */
  model?: PerformanceModel;
}

/** What shipping one checkpoint did. */
export interface ShipResult {
  epoch: number;
  /** RDMA WRITEs posted, the commit marker not included. */
  writes: number;
  /** Payload bytes written. */
  bytes: number;
  /** Wall time from the first post to the marker's completion, in milliseconds. */
  elapsedMs: number;
  /** What the same transfer would take on `model`, in nanoseconds; null without a model. */
  modeledNs: number | null;
}

interface Located {
  mr: MemoryRegion;
  addr: number;
}

/**
 * Ships checkpoints the way QEMU's RDMA micro-checkpointing did: every page run is a one-sided RDMA
 * WRITE into the secondary's registered staging region, then a zero-length RDMA_WRITE_WITH_IMM with
 * imm = epoch on the same queue pair is the commit marker. On a reliable-connected QP messages
 * execute in order, so the receive completion of the marker on the secondary proves every write
 * before it is visible there; the marker's own completion here proves the secondary's NIC has it.
 */
export class CheckpointShipper {
  readonly #qp: QueuePair;
  readonly #cq: CompletionQueue;
  readonly #staging: RemoteRegion;
  readonly #regions: readonly MemoryRegion[];
  readonly #signalInterval: number;
  readonly #maxWriteBytes: number;
  readonly #model: PerformanceModel | null;
  #nextWrId = 1;
  #posted = 0;
  #busy = false;

  /** @internal use `createCheckpointShipper()` */
  constructor(options: CheckpointShipperOptions) {
    const o = optionsObject('options', options);
    if (!(o.qp instanceof QueuePair)) throw new InvalidOptionError('qp', 'must be a QueuePair');
    this.#qp = o.qp;
    this.#cq = o.cq ?? o.qp.sendCq;
    if (this.#cq !== o.qp.sendCq)
      throw new InvalidOptionError('cq', "must be the queue pair's send completion queue");
    const staging = optionsObject('staging', o.staging);
    if (!isUnsignedSafeInteger(staging.addr))
      throw new InvalidOptionError('staging.addr', 'must be an unsigned integer');
    if (!isUnsignedSafeInteger(staging.length))
      throw new InvalidOptionError('staging.length', 'must be an unsigned integer');
    if (!isUint32(staging.rkey)) throw new InvalidOptionError('staging.rkey', 'must be a uint32');
    this.#staging = { addr: staging.addr, length: staging.length, rkey: staging.rkey };
    if (!Array.isArray(o.regions) || o.regions.length === 0) {
      throw new InvalidOptionError('regions', 'must be a non-empty array of MemoryRegion');
    }
    this.#regions = [...o.regions];
    this.#signalInterval = integerOption(
      'signalInterval',
      o.signalInterval,
      Math.min(DEFAULT_SIGNAL_INTERVAL_WR, this.#qp.capabilities.maxSendWr),
      1,
      this.#qp.capabilities.maxSendWr,
    );
    this.#maxWriteBytes = integerOption(
      'maxWriteBytes',
      o.maxWriteBytes,
      MAX_MESSAGE_BYTES,
      1,
      MAX_MESSAGE_BYTES,
    );
    this.#model = o.model === undefined ? null : validatePerformanceModel(o.model, 'model');
  }

  /**
   * Ships one checkpoint: writes every run, then the commit marker. Resolves once the marker has
   * completed; nothing of a later checkpoint may be shipped before (one checkpoint in flight).
   * Validates every run before posting anything.
   * @param epoch the checkpoint's epoch, a uint32 (it travels as the immediate)
   * @throws CheckpointRangeError for an epoch that is not a uint32 or a run outside the staging region
   * @throws UnregisteredMemoryError for a run outside every local region
   * @throws CompletionError when a write or the marker completes with an error (the QP is then in ERR)
   * @throws DeviceClosedError when the device closes before the marker completed
   */
  async ship(epoch: number, runs: readonly PageRun[]): Promise<ShipResult> {
    if (this.#busy) throw new CheckpointRangeError('a checkpoint is already being shipped');
    if (!isUint32(epoch)) throw new CheckpointRangeError(`epoch ${String(epoch)} is not a uint32`);
    if (!Array.isArray(runs)) throw new CheckpointRangeError('runs must be an array');
    const writes: SendWorkRequest[] = [];
    const sizes: number[] = [];
    let bytes = 0;
    for (const [i, run] of runs.entries()) {
      const { offset, bytes: data } = run ?? ({} as PageRun);
      if (!(data instanceof Uint8Array))
        throw new CheckpointRangeError(`run ${i}: bytes must be a Uint8Array`);
      if (!isUnsignedSafeInteger(offset) || offset + data.byteLength > this.#staging.length) {
        throw new CheckpointRangeError(
          `run ${i}: ${data.byteLength} bytes at offset ${String(offset)} do not fit the staging region of ${this.#staging.length} bytes`,
        );
      }
      if (data.byteLength === 0) continue;
      const located = this.#locate(data, i);
      for (let done = 0; done < data.byteLength; done += this.#maxWriteBytes) {
        const length = Math.min(this.#maxWriteBytes, data.byteLength - done);
        writes.push({
          wrId: 0,
          opcode: 'RDMA_WRITE',
          sgList: [{ addr: located.addr + done, length, lkey: located.mr.lkey }],
          remoteAddr: this.#staging.addr + offset + done,
          rkey: this.#staging.rkey,
        });
        sizes.push(length);
        bytes += length;
      }
    }
    writes.push({
      wrId: 0,
      opcode: 'RDMA_WRITE_WITH_IMM',
      sgList: [],
      remoteAddr: this.#staging.addr,
      rkey: this.#staging.rkey,
      imm: epoch,
    });
    sizes.push(0);

    this.#busy = true;
    const started = performance.now();
    try {
      const markerWrId = await this.#post(writes);
      await this.#awaitCompletion(markerWrId);
    } finally {
      this.#busy = false;
    }
    return {
      epoch,
      writes: writes.length - 1,
      bytes,
      elapsedMs: performance.now() - started,
      modeledNs: this.#model ? estimateTransferNs(this.#model, sizes) : null,
    };
  }

  #locate(data: Uint8Array, run: number): Located {
    for (const mr of this.#regions) {
      const start = data.byteOffset - mr.buffer.byteOffset;
      if (
        mr.buffer.buffer === data.buffer &&
        start >= 0 &&
        start + data.byteLength <= mr.length &&
        mr.registered
      ) {
        return { mr, addr: mr.addr + start };
      }
    }
    throw new UnregisteredMemoryError(
      `run ${run}: its bytes lie in none of the shipper's registered regions`,
    );
  }

  /** Posts every request, waiting for send queue slots as needed; returns the last one's wrId. */
  async #post(requests: SendWorkRequest[]): Promise<number> {
    const capacity = this.#qp.capabilities.maxSendWr;
    let next = 0;
    let last = 0;
    while (next < requests.length) {
      const free = capacity - this.#qp.sendQueueOutstanding;
      if (free === 0) {
        await this.#reap();
        continue;
      }
      const batch = requests.slice(next, next + free).map((wr, i) => {
        this.#posted++;
        const isLast = next + i === requests.length - 1;
        last = this.#nextWrId++;
        return { ...wr, wrId: last, signaled: isLast || this.#posted % this.#signalInterval === 0 };
      });
      this.#qp.postSend(batch);
      next += batch.length;
    }
    return last;
  }

  /** Waits for and takes completions; throws on the first failed one. Returns the wrIds that succeeded. */
  async #reap(): Promise<number[]> {
    let completions = this.#cq.poll(64);
    while (completions.length === 0) {
      if (!(await this.#cq.wait()))
        throw new DeviceClosedError('device closed while a checkpoint was being shipped');
      completions = this.#cq.poll(64);
    }
    const failed = completions.find((wc) => wc.status !== 'SUCCESS');
    if (failed) {
      // Take the flushed rest too, so the queue is empty for whoever resets the queue pair.
      while (this.#cq.poll(64).length > 0) {}
      throw new CompletionError(failed.status, failed.wrId, 'checkpoint write failed');
    }
    return completions.map((wc) => wc.wrId);
  }

  async #awaitCompletion(wrId: number): Promise<void> {
    for (;;) {
      const done = await this.#reap();
      if (done.includes(wrId)) return;
    }
  }
}

/**
 * Creates a checkpoint shipper on a connected queue pair.
 * @throws InvalidOptionError naming a bad option
 */
export function createCheckpointShipper(options: CheckpointShipperOptions): CheckpointShipper {
  return new CheckpointShipper(options);
}
