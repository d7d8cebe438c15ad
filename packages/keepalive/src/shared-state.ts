import { ARRIVAL_RING_SLOTS } from './constants.js';
import type { HeartbeatArrival } from './failure-detector.js';
import type { Heartbeat } from './heartbeat-codec.js';
import { roleCode, roleFromCode } from './heartbeat-codec.js';

/**
 * Counters the heartbeat worker keeps in shared memory. `received` counts accepted heartbeats; the
 * others count datagrams that were dropped, by reason.
 */
export const WORKER_COUNTERS = [
  'sent',
  'sendErrors',
  'received',
  'badSize',
  'badMagic',
  'badVersion',
  'badChecksum',
  'badField',
  'replayed',
  'unknownSource',
  'receiverStalls',
  'forged',
  'unauthenticated',
  'stale',
] as const;

export type WorkerCounter = (typeof WORKER_COUNTERS)[number];

// Slots of the BigInt64 region beyond the counters.
const PROGRESS = WORKER_COUNTERS.length;
const EPOCH = PROGRESS + 1;
const WORKER_TICK_US = EPOCH + 1;
const LAST_STALL_US = WORKER_TICK_US + 1;
const BIG_SLOTS = LAST_STALL_US + 1;

// Slots of the Int32 region.
const WRITE_INDEX = 0;
const ROLE = 1;
const INT_SLOTS = 2;

// Fields of one arrival in the ring; every value fits a double exactly.
const FIELDS = 9;
const INT_BYTES = INT_SLOTS * 4;
const BIG_OFFSET = 8;
const RING_OFFSET = BIG_OFFSET + BIG_SLOTS * 8;
const TOTAL_BYTES = RING_OFFSET + ARRIVAL_RING_SLOTS * FIELDS * 8;

/**
 * Memory shared by the main thread and the heartbeat worker, so that neither waits for the other's
 * event loop. The worker stamps every accepted heartbeat on arrival and appends it to a ring; the main
 * thread drains the ring when it evaluates. Because arrival times are taken on the worker, a main thread
 * that was blocked for 100 ms still sees that heartbeats kept coming during the block, instead of finding
 * 100 ms of apparent silence and then a burst. The main thread in turn bumps its progress counter here,
 * which the worker puts in every outgoing heartbeat.
 *
 * The ring is single-producer single-consumer: the worker writes a slot, then publishes it by storing
 * the write index with `Atomics.store`; the reader loads the index with `Atomics.load` first, which orders
 * the slot's plain reads after the writes.
 */
export class SharedHeartbeatState {
  readonly buffer: SharedArrayBuffer;
  readonly #ints: Int32Array;
  readonly #bigs: BigInt64Array;
  readonly #ring: Float64Array;
  #readIndex = 0;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(TOTAL_BYTES)) {
    if (buffer.byteLength !== TOTAL_BYTES) {
      throw new RangeError(`shared heartbeat state must be ${TOTAL_BYTES} bytes, got ${buffer.byteLength}`);
    }
    this.buffer = buffer;
    this.#ints = new Int32Array(buffer, 0, INT_BYTES / 4);
    this.#bigs = new BigInt64Array(buffer, BIG_OFFSET, BIG_SLOTS);
    this.#ring = new Float64Array(buffer, RING_OFFSET, ARRIVAL_RING_SLOTS * FIELDS);
  }

  // ---- worker side ----

  /** Appends an accepted heartbeat stamped with its arrival time. */
  pushArrival(heartbeat: Heartbeat, atMs: number): void {
    const index = Atomics.load(this.#ints, WRITE_INDEX);
    const base = ((index >>> 0) % ARRIVAL_RING_SLOTS) * FIELDS;
    const r = this.#ring;
    r[base] = atMs;
    r[base + 1] = heartbeat.sequence;
    r[base + 2] = heartbeat.incarnation;
    r[base + 3] = heartbeat.progress;
    r[base + 4] = heartbeat.senderTimeMs;
    r[base + 5] = heartbeat.intervalMs;
    r[base + 6] = heartbeat.epoch;
    r[base + 7] = roleCode(heartbeat.role);
    r[base + 8] = heartbeat.goodbye ? 1 : 0;
    Atomics.store(this.#ints, WRITE_INDEX, (index + 1) | 0);
  }

  count(counter: WorkerCounter, by = 1): void {
    Atomics.add(this.#bigs, WORKER_COUNTERS.indexOf(counter), BigInt(by));
  }

  /** The worker ran at `atMs`: it is receiving, so silence is the peer's. */
  markWorkerTick(atMs: number): void {
    Atomics.store(this.#bigs, WORKER_TICK_US, BigInt(Math.round(atMs * 1_000)));
  }

  /** The worker itself was stalled for `stalledMs` (its timer fired that late). */
  reportWorkerStall(stalledMs: number): void {
    Atomics.store(this.#bigs, LAST_STALL_US, BigInt(Math.round(stalledMs * 1_000)));
    Atomics.add(this.#bigs, WORKER_COUNTERS.indexOf('receiverStalls'), 1n);
  }

  // ---- main side ----

  /**
   * Calls `onArrival` for every heartbeat appended since the last drain, oldest first. If the worker
   * lapped the ring (the main thread was blocked for about ARRIVAL_RING_SLOTS intervals) the oldest are
   * skipped; the return value says how many.
   */
  drain(onArrival: (arrival: HeartbeatArrival) => void): number {
    const write = Atomics.load(this.#ints, WRITE_INDEX);
    let pending = (write - this.#readIndex) >>> 0;
    let skipped = 0;
    if (pending > ARRIVAL_RING_SLOTS) {
      skipped = pending - ARRIVAL_RING_SLOTS;
      this.#readIndex = (this.#readIndex + skipped) | 0;
      pending = ARRIVAL_RING_SLOTS;
    }
    for (let i = 0; i < pending; i++) {
      const base = ((this.#readIndex >>> 0) % ARRIVAL_RING_SLOTS) * FIELDS;
      const r = this.#ring;
      const arrival: HeartbeatArrival = {
        atMs: r[base]!,
        sequence: r[base + 1]!,
        incarnation: r[base + 2]!,
        progress: r[base + 3]!,
        senderTimeMs: r[base + 4]!,
        intervalMs: r[base + 5]!,
        epoch: r[base + 6]!,
        role: roleFromCode(r[base + 7]!) ?? 'primary',
        goodbye: r[base + 8] === 1,
      };
      this.#readIndex = (this.#readIndex + 1) | 0;
      // The slot may have been (or be being) overwritten while it was read if the worker lapped us.
      if ((Atomics.load(this.#ints, WRITE_INDEX) - this.#readIndex) >>> 0 >= ARRIVAL_RING_SLOTS - 1) {
        skipped++;
        continue;
      }
      onArrival(arrival);
    }
    return skipped;
  }

  read(counter: WorkerCounter): number {
    return Number(Atomics.load(this.#bigs, WORKER_COUNTERS.indexOf(counter)));
  }

  /** The main loop ticked once more. */
  bumpProgress(): void {
    Atomics.add(this.#bigs, PROGRESS, 1n);
  }

  get progress(): number {
    return Number(Atomics.load(this.#bigs, PROGRESS));
  }

  get epoch(): number {
    return Number(Atomics.load(this.#bigs, EPOCH));
  }

  set epoch(value: number) {
    Atomics.store(this.#bigs, EPOCH, BigInt(value));
  }

  get roleCode(): number {
    return Atomics.load(this.#ints, ROLE);
  }

  set roleCode(value: number) {
    Atomics.store(this.#ints, ROLE, value);
  }

  /** When the worker last ran, monotonic milliseconds (0 before its first tick). */
  get workerTickMs(): number {
    return Number(Atomics.load(this.#bigs, WORKER_TICK_US)) / 1_000;
  }

  /** Length of the worker's last stall, milliseconds. */
  get lastWorkerStallMs(): number {
    return Number(Atomics.load(this.#bigs, LAST_STALL_US)) / 1_000;
  }
}
