import { EventEmitter } from 'node:events';
import { Batch } from './batch.js';
import { type DecodedBatch, decodeBatch, encodeBatch, isDecodedBatch } from './batch-codec.js';
import { Delivery } from './delivery.js';
import {
  BatchOrderError,
  CommittedOutputError,
  CorkQueueFullError,
  EpochStateError,
  InvalidArgumentError,
  ItemTooLargeError,
  SinkError,
  SourceMismatchError,
  StaleGenerationError,
} from './errors.js';
import type { CorkItem } from './item.js';
import { LatencyHistogram, type LatencySnapshot } from './latency-histogram.js';
import { type CorkQueueOptions, type ResolvedCorkQueueOptions, resolveCorkQueueOptions } from './options.js';
import type { CorkSink, SinkErrorReporter } from './sink.js';
import { decodeState, encodeState } from './state-codec.js';

/** What `seal` and `ingest` report about a batch. */
export interface BatchInfo {
  readonly epoch: number;
  readonly generation: number;
  readonly firstSeq: number;
  /** The seq the first item of the following epoch gets. */
  readonly nextSeq: number;
  readonly items: number;
  /** Sum of item data lengths. */
  readonly bytes: number;
}

/** A point-in-time view of the queue, for dashboards and for the engine's policy. Sizes in bytes. */
export interface CorkMetrics {
  /** Items and bytes in batches not yet released (the open epoch and sealed ones). */
  readonly corkedItems: number;
  readonly corkedBytes: number;
  /** Released items not yet taken by their sink (no sink attached yet, or a sink applying backpressure). */
  readonly pendingItems: number;
  readonly pendingBytes: number;
  /** Corked plus pending: what the high-water marks and hard caps apply to. */
  readonly heldItems: number;
  readonly heldBytes: number;
  /** Batches held, the open one included. */
  readonly batches: number;
  /** Whether `append` is currently returning false. */
  readonly backpressure: boolean;
  readonly openEpoch: number | undefined;
  readonly lastEpoch: number;
  readonly releasedThrough: number;
  readonly nextSeq: number;
  readonly generation: number;
  readonly destinations: number;
  /** Sink writes that returned a promise which has not settled. */
  readonly inFlightWrites: number;
  readonly appendedItems: number;
  readonly appendedBytes: number;
  readonly releasedItems: number;
  readonly releasedBytes: number;
  readonly reemittedItems: number;
  readonly ingestedItems: number;
  readonly discardedItems: number;
  /** Released items discarded with `drop(destination)`. */
  readonly droppedItems: number;
  readonly sinkErrors: number;
  /** Added latency of items appended on this node, from append to release. */
  readonly latency: LatencySnapshot;
}

/** Events of a {@link CorkQueue}. */
export interface CorkQueueEvents {
  /** Held items or bytes fell below the high-water marks after `append` had returned false. */
  drain: [];
  /** A sink failed on one item; the error carries the item. Delivery continues. */
  'sink-error': [error: SinkError];
}

/**
 * The epoch-tagged output queue. Primary side: `open` an epoch, `append` output, `seal` it at
 * capture, `serialize` it into the checkpoint, `release` it on the ACK (or `discard` on abort).
 * Secondary side: `ingest` the batch of every committed checkpoint, then after winning arbitration
 * `setGeneration` and `reemit`. Create one with {@link createCorkQueue}.
 */
export class CorkQueue extends EventEmitter<CorkQueueEvents> {
  readonly #options: ResolvedCorkQueueOptions;
  readonly #delivery: Delivery;
  readonly #latency = new LatencyHistogram();
  /** Held batches in epoch order; the open one, if any, is last. */
  #batches: Batch[] = [];
  #open: Batch | undefined;
  #nextSeq = 0;
  #generation: number;
  #lastEpoch = -1;
  #lastEpochBeforeOpen = -1;
  #releasedThrough = -1;
  #corkedItems = 0;
  #corkedBytes = 0;
  /** Size of the last sealed epoch, to size the next one's arena without regrowing. */
  #sizeHint = { bytes: 0, items: 0 };
  #needDrain = false;
  #busy: string | undefined;
  #idleWaiters: Array<() => void> = [];
  #appendedItems = 0;
  #appendedBytes = 0;
  #releasedItems = 0;
  #releasedBytes = 0;
  #reemittedItems = 0;
  #ingestedItems = 0;
  #discardedItems = 0;
  #droppedItems = 0;
  #sinkErrors = 0;

  readonly #reportError: SinkErrorReporter = (item, error) => {
    this.#sinkErrors++;
    if (this.listenerCount('sink-error') > 0) this.#emitSafely('sink-error', new SinkError(item, error));
  };

  /** @internal Use {@link createCorkQueue}. */
  constructor(options: CorkQueueOptions = {}) {
    super();
    this.#options = resolveCorkQueueOptions(options);
    this.#generation = this.#options.generation;
    this.#delivery = new Delivery({ reportError: this.#reportError, progress: () => this.#progress() });
  }

  get source(): string {
    return this.#options.source;
  }

  /** The seq the next appended item gets. Part of the restorable state. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** The fencing token stamped on items this node releases. */
  get generation(): number {
    return this.#generation;
  }

  /** The epoch appends go to, or undefined between `seal` and the next `open`. */
  get openEpoch(): number | undefined {
    return this.#open?.epoch;
  }

  /** The highest epoch opened, ingested or restored; -1 before the first. */
  get lastEpoch(): number {
    return this.#lastEpoch;
  }

  /** Every epoch up to this one has been released (by this node, or provably by the primary); -1 for none. */
  get releasedThrough(): number {
    return this.#releasedThrough;
  }

  /** Epochs of the batches held, in order (the open one last). */
  get heldEpochs(): number[] {
    return this.#batches.map((batch) => batch.epoch);
  }

  /** Opens epoch `epoch` for appends. It must come after every epoch this queue has seen. */
  open(epoch: number): void {
    this.#checkNotBusy('open');
    checkEpoch(epoch);
    if (this.#open !== undefined) {
      throw new EpochStateError(
        `cannot open epoch ${epoch}: epoch ${this.#open.epoch} is still open; seal it first`,
      );
    }
    if (epoch <= this.#lastEpoch) {
      throw new EpochStateError(
        `cannot open epoch ${epoch}: epochs must increase (last was ${this.#lastEpoch})`,
      );
    }
    const batch = Batch.open(
      epoch,
      this.#generation,
      this.#nextSeq,
      this.#sizeHint,
      this.#options.trackLatency,
    );
    this.#batches.push(batch);
    this.#open = batch;
    this.#lastEpochBeforeOpen = this.#lastEpoch;
    this.#lastEpoch = epoch;
  }

  /**
   * Appends output for `destination` to the open epoch and gives it the next seq. Copies `data`: the
   * caller may reuse its buffer at once. Returns false once held items or bytes reach the high-water
   * marks (the item was still taken): checkpoint sooner or throttle, and wait for `'drain'`. Throws
   * `CorkQueueFullError` (taking nothing) if the item would pass the hard caps.
   */
  append(destination: string, data: Uint8Array): boolean {
    const batch = this.#open;
    if (batch === undefined) throw new EpochStateError('append needs an open epoch (call open first)');
    if (!(data instanceof Uint8Array)) throw new InvalidArgumentError('append data must be a Uint8Array');
    const options = this.#options;
    const length = data.length;
    if (length > options.maxItemBytes) throw new ItemTooLargeError(length, options.maxItemBytes);
    const heldItems = this.#corkedItems + this.#delivery.pendingItems + 1;
    const heldBytes = this.#corkedBytes + this.#delivery.pendingBytes + length;
    if (heldBytes > options.maxHeldBytes || heldItems > options.maxHeldItems) {
      throw new CorkQueueFullError(
        heldBytes - length,
        heldItems - 1,
        length,
        options.maxHeldBytes,
        options.maxHeldItems,
      );
    }
    const target = this.#delivery.intern(destination);
    batch.append(target, data, options.trackLatency ? performance.now() : 0);
    this.#nextSeq++;
    this.#corkedItems++;
    this.#corkedBytes += length;
    this.#appendedItems++;
    this.#appendedBytes += length;
    if (heldBytes < options.highWaterBytes && heldItems < options.highWaterItems) return true;
    this.#needDrain = true;
    return false;
  }

  /** Closes the open epoch `epoch` (at capture time); its batch can now be serialized and released. */
  seal(epoch: number): BatchInfo {
    this.#checkNotBusy('seal');
    const batch = this.#open;
    if (batch === undefined || batch.epoch !== epoch) {
      throw new EpochStateError(
        `cannot seal epoch ${epoch}: ${batch === undefined ? 'no epoch is open' : `epoch ${batch.epoch} is open`}`,
      );
    }
    batch.seal();
    this.#open = undefined;
    this.#sizeHint = { bytes: batch.recordsLength, items: batch.count };
    return infoOf(batch);
  }

  /**
   * The sealed batch of `epoch` as bytes to put in the checkpoint: versioned, length-checked and
   * CRC-32 checksummed; also carries how far this node has released, so the secondary can let go
   * of batches it no longer needs. Allocates one buffer; the batch stays held.
   */
  serialize(epoch: number): Uint8Array {
    checkEpoch(epoch);
    const batch = this.#find(epoch);
    if (batch === undefined) {
      throw new EpochStateError(
        `cannot serialize epoch ${epoch}: not held (released, discarded or never opened)`,
      );
    }
    if (!batch.sealed)
      throw new EpochStateError(`cannot serialize epoch ${epoch}: it is still open; seal it first`);
    return encodeBatch(batch, this.#options.sourceBytes, this.#releasedThrough);
  }

  /**
   * Hands the batch of `epoch` and every earlier held batch to their sinks, in seq order, each item
   * exactly once from this node. Call it on the ACK for `epoch`. Releasing an epoch already released
   * does nothing (a repeated ACK). Returns the number of items released.
   */
  release(epoch: number): number {
    this.#checkNotBusy('release');
    checkEpoch(epoch);
    if (epoch <= this.#releasedThrough) return 0;
    if (this.#open !== undefined && epoch >= this.#open.epoch) {
      throw new EpochStateError(`cannot release epoch ${epoch}: epoch ${this.#open.epoch} is still open`);
    }
    if (epoch > this.#lastEpoch) {
      throw new EpochStateError(`cannot release epoch ${epoch}: the last epoch sealed is ${this.#lastEpoch}`);
    }
    let released = 0;
    this.#busy = 'release';
    try {
      const now = performance.now();
      while (this.#batches.length > 0 && this.#batches[0]!.epoch <= epoch) {
        released += this.#releaseBatch(this.#batches.shift()!, now);
      }
      this.#releasedThrough = epoch;
      this.#delivery.flushTouched();
    } finally {
      this.#busy = undefined;
    }
    this.#releasedItems += released;
    this.#progress();
    return released;
  }

  /**
   * Drops the uncommitted batch of `epoch` and every later one (a later epoch's output depends on
   * state from the discarded one), the open epoch included, and rolls the seq counter back to that
   * batch's first seq: what a checkpoint abort or a rollback to the previous commit means. Refuses
   * (with `CommittedOutputError`, dropping nothing) if any of them was ingested from a committed
   * checkpoint. Returns the number of items dropped.
   */
  discard(epoch: number): number {
    this.#checkNotBusy('discard');
    checkEpoch(epoch);
    if (epoch <= this.#releasedThrough) {
      throw new EpochStateError(`cannot discard epoch ${epoch}: it was already released`);
    }
    const index = this.#batches.findIndex((batch) => batch.epoch === epoch);
    if (index < 0) throw new EpochStateError(`cannot discard epoch ${epoch}: no such batch is held`);
    const doomed = this.#batches.slice(index);
    if (doomed.some((batch) => batch.origin === 'ingested')) {
      throw new CommittedOutputError(
        `cannot discard epoch ${epoch}: it or a later batch came from a committed checkpoint`,
      );
    }
    let dropped = 0;
    for (const batch of doomed) {
      batch.uncork();
      this.#corkedItems -= batch.count;
      this.#corkedBytes -= batch.bytes;
      dropped += batch.count;
    }
    this.#batches.length = index;
    this.#nextSeq = doomed[0]!.firstSeq;
    this.#open = undefined;
    const last = this.#batches[this.#batches.length - 1];
    this.#lastEpoch = Math.max(this.#releasedThrough, last?.epoch ?? -1);
    this.#discardedItems += dropped;
    this.#progress();
    return dropped;
  }

  /**
   * Secondary side: adds the batch of a committed checkpoint (bytes from `serialize`, or a batch
   * already checked with `decodeBatch`). Validates everything before changing anything: format and
   * checksum, source, generation (a deposed primary's batch is a `StaleGenerationError`), epoch
   * after the last one, and first seq equal to the queue's next seq (`BatchOrderError`
   * 'seq-regression' or 'seq-gap'; a queue that has seen nothing accepts any first seq). Keeps
   * views into the bytes, no copy. Batches the sender had already released are let go.
   */
  ingest(serialized: Uint8Array | DecodedBatch): BatchInfo {
    this.#checkNotBusy('ingest');
    const decoded = this.#decode(serialized);
    if (this.#open !== undefined) {
      throw new EpochStateError(`cannot ingest while epoch ${this.#open.epoch} is open on this node`);
    }
    if (decoded.source !== this.#options.source)
      throw new SourceMismatchError(decoded.source, this.#options.source);
    if (decoded.generation < this.#generation) {
      throw new StaleGenerationError(decoded.generation, this.#generation, `batch of epoch ${decoded.epoch}`);
    }
    if (decoded.epoch <= this.#lastEpoch) {
      throw new BatchOrderError(
        'epoch-not-after',
        `batch epoch ${decoded.epoch} is not after the last epoch ${this.#lastEpoch}`,
      );
    }
    const fresh = this.#lastEpoch < 0 && this.#nextSeq === 0;
    if (!fresh && decoded.firstSeq < this.#nextSeq) {
      throw new BatchOrderError(
        'seq-regression',
        `batch of epoch ${decoded.epoch} starts at seq ${decoded.firstSeq}, before the next seq ${this.#nextSeq}`,
      );
    }
    if (!fresh && decoded.firstSeq > this.#nextSeq) {
      throw new BatchOrderError(
        'seq-gap',
        `batch of epoch ${decoded.epoch} starts at seq ${decoded.firstSeq}; seqs ${this.#nextSeq}.. are missing`,
      );
    }
    const batch = this.#adopt(decoded);
    this.#generation = decoded.generation;
    if (decoded.releasedThrough > this.#releasedThrough) this.#prune(decoded.releasedThrough);
    this.#progress();
    return infoOf(batch);
  }

  /**
   * Secondary side: the primary has proven it released everything through `epoch` (for example in a
   * later message than the batch): let those batches go without delivering them. Only ingested
   * batches can be let go this way. Returns the number of items let go.
   */
  markReleased(epoch: number): number {
    this.#checkNotBusy('markReleased');
    checkEpoch(epoch);
    if (epoch <= this.#releasedThrough) return 0;
    if (epoch > this.#lastEpoch || (this.#open !== undefined && epoch >= this.#open.epoch)) {
      throw new EpochStateError(`cannot mark epoch ${epoch} released: it is open or was never ingested`);
    }
    if (this.#batches.some((batch) => batch.epoch <= epoch && batch.origin === 'local')) {
      throw new EpochStateError(`cannot mark epoch ${epoch} released: this node holds its own output for it`);
    }
    const pruned = this.#prune(epoch);
    this.#progress();
    return pruned;
  }

  /** Sets the fencing token stamped on items released from now on (after winning arbitration). */
  setGeneration(generation: number): void {
    if (!Number.isSafeInteger(generation) || generation < 0) {
      throw new InvalidArgumentError(`generation must be a non-negative safe integer, got ${generation}`);
    }
    if (generation < this.#generation) {
      throw new StaleGenerationError(generation, this.#generation, 'setGeneration');
    }
    this.#generation = generation;
  }

  /**
   * After takeover: releases every batch held (none of them can be proven released) with their
   * original epoch and seq, stamped with this node's current generation. Receivers drop the ones
   * they already saw. Returns the number of items re-emitted.
   */
  reemit(): number {
    this.#checkNotBusy('reemit');
    if (this.#open !== undefined) {
      throw new EpochStateError(`cannot re-emit while epoch ${this.#open.epoch} is open`);
    }
    let reemitted = 0;
    this.#busy = 'reemit';
    try {
      const now = performance.now();
      while (this.#batches.length > 0) reemitted += this.#releaseBatch(this.#batches.shift()!, now);
      this.#releasedThrough = this.#lastEpoch;
      this.#delivery.flushTouched();
    } finally {
      this.#busy = undefined;
    }
    this.#reemittedItems += reemitted;
    this.#progress();
    return reemitted;
  }

  /**
   * The restorable state as of the last sealed epoch: the seq counter, generation, epoch counters and
   * every sealed batch not yet released (the open epoch belongs to the next checkpoint and is left
   * out). For seeding a new secondary during re-protection; read it back with `restoreState`.
   */
  exportState(): Uint8Array {
    const sealed = this.#batches.filter((batch) => batch.sealed);
    const open = this.#open;
    return encodeState(
      {
        source: this.#options.source,
        nextSeq: open === undefined ? this.#nextSeq : open.firstSeq,
        generation: this.#generation,
        releasedThrough: this.#releasedThrough,
        lastEpoch: open === undefined ? this.#lastEpoch : this.#lastEpochBeforeOpen,
      },
      this.#options.sourceBytes,
      sealed.map((batch) => encodeBatch(batch, this.#options.sourceBytes, this.#releasedThrough)),
    );
  }

  /**
   * Loads a state from `exportState` into a queue that holds no batches. Validates the whole state
   * first (typed errors; nothing changes on failure). Keeps views into the bytes.
   */
  restoreState(bytes: Uint8Array): void {
    this.#checkNotBusy('restoreState');
    const state = decodeState(bytes, {
      maxBatchBytes: this.#options.maxBatchBytes,
      maxItemBytes: this.#options.maxItemBytes,
    });
    if (state.source !== this.#options.source)
      throw new SourceMismatchError(state.source, this.#options.source);
    if (this.#batches.length > 0)
      throw new EpochStateError('restoreState needs a queue that holds no batches');
    if (state.generation < this.#generation) {
      throw new StaleGenerationError(state.generation, this.#generation, 'restored state');
    }
    if (state.lastEpoch < this.#lastEpoch) {
      throw new BatchOrderError(
        'epoch-not-after',
        `state epoch ${state.lastEpoch} is before this queue's ${this.#lastEpoch}`,
      );
    }
    if (state.nextSeq < this.#nextSeq) {
      throw new BatchOrderError(
        'seq-regression',
        `state next seq ${state.nextSeq} is before this queue's ${this.#nextSeq}`,
      );
    }
    for (const decoded of state.batches) this.#adopt(decoded);
    this.#nextSeq = state.nextSeq;
    this.#generation = state.generation;
    this.#releasedThrough = state.releasedThrough;
    this.#lastEpoch = state.lastEpoch;
  }

  /**
   * Routes `destination` to `sink` (replacing any sink it had). Items already released for it are
   * handed over at once, in order.
   */
  attach(destination: string, sink: CorkSink): void {
    if (typeof sink !== 'object' || sink === null || typeof sink.write !== 'function') {
      throw new InvalidArgumentError('attach needs a sink with a write(item, reportError) method');
    }
    this.#delivery.attach(this.#delivery.intern(destination), sink);
  }

  /** Unroutes `destination`; its released items wait until a sink is attached again. Returns the old sink. */
  detach(destination: string): CorkSink | undefined {
    const target = this.#delivery.find(destination);
    return target === undefined ? undefined : this.#delivery.detach(target);
  }

  /**
   * Gives up on `destination` (a client that will not come back): discards its released items that
   * no sink took yet and detaches its sink. Corked items for it are unaffected. Returns the number
   * of items discarded; they are counted in `droppedItems`.
   */
  drop(destination: string): number {
    const target = this.#delivery.find(destination);
    if (target === undefined) return 0;
    const dropped = this.#delivery.drop(target);
    this.#droppedItems += dropped;
    this.#progress();
    return dropped;
  }

  /**
   * Resolves when every released item has been taken by its sink and no asynchronous write is
   * outstanding, except items waiting for a destination that has no sink attached.
   */
  idle(): Promise<void> {
    if (this.#delivery.idle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  metrics(): CorkMetrics {
    const delivery = this.#delivery;
    const heldItems = this.#corkedItems + delivery.pendingItems;
    const heldBytes = this.#corkedBytes + delivery.pendingBytes;
    return {
      corkedItems: this.#corkedItems,
      corkedBytes: this.#corkedBytes,
      pendingItems: delivery.pendingItems,
      pendingBytes: delivery.pendingBytes,
      heldItems,
      heldBytes,
      batches: this.#batches.length,
      backpressure: heldItems >= this.#options.highWaterItems || heldBytes >= this.#options.highWaterBytes,
      openEpoch: this.#open?.epoch,
      lastEpoch: this.#lastEpoch,
      releasedThrough: this.#releasedThrough,
      nextSeq: this.#nextSeq,
      generation: this.#generation,
      destinations: delivery.destinationCount,
      inFlightWrites: delivery.inFlight,
      appendedItems: this.#appendedItems,
      appendedBytes: this.#appendedBytes,
      releasedItems: this.#releasedItems,
      releasedBytes: this.#releasedBytes,
      reemittedItems: this.#reemittedItems,
      ingestedItems: this.#ingestedItems,
      discardedItems: this.#discardedItems,
      droppedItems: this.#droppedItems,
      sinkErrors: this.#sinkErrors,
      latency: this.#latency.snapshot(),
    };
  }

  /** Hands every item of `batch` to delivery. The batch has already left `#batches`. */
  #releaseBatch(batch: Batch, now: number): number {
    const { firstSeq, epoch, count, destinations } = batch;
    const times = batch.appendTimes;
    const source = this.#options.source;
    const generation = this.#generation;
    const delivery = this.#delivery;
    const latency = this.#latency;
    // Counters first: a sink that appends from inside write() must see the space this frees.
    this.#corkedItems -= count;
    this.#corkedBytes -= batch.bytes;
    this.#releasedBytes += batch.bytes;
    let index = 0;
    for (const chunk of batch.chunks) {
      const { view, used } = chunk;
      const { buffer, byteOffset } = chunk.bytes;
      let offset = 0;
      while (offset < used) {
        const destination = destinations.get(view.getUint32(offset, true))!;
        const length = view.getUint32(offset + 4, true);
        const start = offset + 8;
        offset = start + length;
        destination.corked--;
        if (times !== undefined) latency.recordMs(now - times[index]!);
        const item: CorkItem = {
          source,
          generation,
          epoch,
          seq: firstSeq + index,
          destination: destination.name,
          // The constructor is about twice as fast as subarray(), which looks up a species constructor.
          data: new Uint8Array(buffer, byteOffset + start, length),
        };
        index++;
        delivery.dispatch(destination, item);
      }
    }
    return count;
  }

  /** Turns a decoded batch into a held one; the caller has checked it fits. */
  #adopt(decoded: DecodedBatch): Batch {
    const batch = Batch.ingested(decoded.epoch, decoded.generation, decoded.firstSeq, decoded.records);
    batch.count = decoded.itemCount;
    batch.bytes = decoded.bytes;
    for (const [id, name] of decoded.destinations) batch.destinations.set(id, this.#delivery.intern(name));
    batch.corkAll();
    this.#batches.push(batch);
    this.#lastEpoch = decoded.epoch;
    this.#nextSeq = decoded.nextSeq;
    this.#corkedItems += batch.count;
    this.#corkedBytes += batch.bytes;
    this.#ingestedItems += batch.count;
    return batch;
  }

  /** Lets go of ingested batches through `epoch` without delivering them. */
  #prune(epoch: number): number {
    let pruned = 0;
    while (
      this.#batches.length > 0 &&
      this.#batches[0]!.epoch <= epoch &&
      this.#batches[0]!.origin === 'ingested'
    ) {
      const batch = this.#batches.shift()!;
      batch.uncork();
      this.#corkedItems -= batch.count;
      this.#corkedBytes -= batch.bytes;
      pruned += batch.count;
    }
    this.#releasedThrough = Math.max(this.#releasedThrough, epoch);
    return pruned;
  }

  #decode(serialized: Uint8Array | DecodedBatch): DecodedBatch {
    if (serialized instanceof Uint8Array) {
      return decodeBatch(serialized, {
        maxBatchBytes: this.#options.maxBatchBytes,
        maxItemBytes: this.#options.maxItemBytes,
      });
    }
    if (!isDecodedBatch(serialized)) {
      throw new InvalidArgumentError('ingest needs serialized bytes or a batch returned by decodeBatch');
    }
    return serialized;
  }

  #find(epoch: number): Batch | undefined {
    for (const batch of this.#batches) if (batch.epoch === epoch) return batch;
    return undefined;
  }

  #checkNotBusy(operation: string): void {
    if (this.#busy !== undefined) {
      throw new EpochStateError(`${operation} cannot be called from a sink or listener during ${this.#busy}`);
    }
  }

  /**
   * Events fire in the middle of a release; a listener that throws must not unwind it half way (the
   * batch has already left the queue). Its exception is rethrown on the next tick instead, where it
   * surfaces as Node surfaces any listener error, without touching the queue's state.
   */
  #emitSafely<K extends keyof CorkQueueEvents>(event: K, ...args: CorkQueueEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: CorkQueueEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      process.nextTick(() => {
        throw error;
      });
    }
  }

  /** Emits 'drain' and wakes idle() waiters when their conditions now hold. */
  #progress(): void {
    if (this.#needDrain) {
      const heldItems = this.#corkedItems + this.#delivery.pendingItems;
      const heldBytes = this.#corkedBytes + this.#delivery.pendingBytes;
      if (heldItems < this.#options.highWaterItems && heldBytes < this.#options.highWaterBytes) {
        this.#needDrain = false;
        this.#emitSafely('drain');
      }
    }
    if (this.#idleWaiters.length > 0 && this.#delivery.idle()) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

/** Creates an output cork queue; every option is validated here (`InvalidOptionError` names it). */
export function createCorkQueue(options: CorkQueueOptions = {}): CorkQueue {
  return new CorkQueue(options);
}

function checkEpoch(epoch: number): void {
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new InvalidArgumentError(`epoch must be a non-negative safe integer, got ${epoch}`);
  }
}

function infoOf(batch: Batch): BatchInfo {
  return {
    epoch: batch.epoch,
    generation: batch.generation,
    firstSeq: batch.firstSeq,
    nextSeq: batch.nextSeq,
    items: batch.count,
    bytes: batch.bytes,
  };
}
