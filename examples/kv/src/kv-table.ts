import type { GuestMemory, GuestMemoryView } from '@microcheckpoint/mc-core';
import {
  DEFAULT_SLOT_COUNT,
  MAX_LOAD_FACTOR,
  MIN_BLOCK_BYTES,
  RECORD_HEADER_BYTES,
  SIZE_CLASSES,
  SLOT_BYTES,
  TABLE_HEADER_BYTES,
  TABLE_MAGIC,
  TABLE_VERSION,
} from './constants.js';
import { InvalidOptionError, KvFormatError, KvFullError } from './errors.js';

// Header fields (u32, little endian, offsets from the table's start).
const H_MAGIC = 0;
const H_VERSION = 4;
const H_SLOT_COUNT = 8;
const H_COUNT = 12;
const H_TOMBSTONES = 16;
const H_HEAP_START = 20;
const H_HEAP_END = 24;
const H_HEAP_TOP = 28;
const H_FREE_LISTS = 32;

const EMPTY = 0;
const DELETED = 1;

/** Where the table lives in guest memory. */
export interface KvTableOptions {
  /**
   * Byte offset of the table in guest memory, a multiple of 8.
   * @default 0
   */
  offset?: number;
  /**
   * Bytes the table may use from `offset`: header, slots and heap.
   * @default the rest of guest memory
   */
  lengthBytes?: number;
  /**
   * Hash slots, a power of two. The table holds up to 3/4 of this many keys. Only for `createKvTable`:
   * an existing table keeps its own.
   * @default 65536
   */
  slotCount?: number;
}

/**
 * A hash table of byte-string keys and values that lives entirely in guest memory: header, slots
 * (open addressing, linear probing) and a heap of records with per-size-class free lists. Nothing is
 * kept in JavaScript objects, so restoring the pages restores the table, and `openKvTable()` on a
 * restored memory finds every key. Every write marks its pages dirty.
 */
export interface KvTable {
  readonly memory: GuestMemoryView;
  /** Live keys. */
  readonly size: number;
  readonly slotCount: number;
  /** The value of `key`, a view of guest memory valid until the next write (no copy); null if absent. */
  get(key: Uint8Array): Uint8Array | null;
  has(key: Uint8Array): boolean;
  /** Sets `key` to `value`. Throws `MC_ERR_KV_FULL` (changing nothing) when there is no room. */
  set(key: Uint8Array, value: Uint8Array): void;
  /** Removes `key`; returns whether it was there. */
  delete(key: Uint8Array): boolean;
  /** Heap bytes not yet handed out (free-list blocks not counted). */
  readonly heapBytesLeft: number;
}

/** FNV-1a: deterministic across processes, which a restored table needs. */
function hashKey(key: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function sizeClass(bytes: number): number {
  let k = 0;
  while (MIN_BLOCK_BYTES << k < bytes) k++;
  return k;
}

function checkRegion(memory: GuestMemoryView, options: KvTableOptions): { offset: number; length: number } {
  const offset = options.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % 8 !== 0 || offset >= memory.sizeBytes) {
    throw new InvalidOptionError(
      'offset',
      `must be a multiple of 8 inside guest memory, got ${String(offset)}`,
    );
  }
  const length = options.lengthBytes ?? memory.sizeBytes - offset;
  if (
    !Number.isSafeInteger(length) ||
    length <= 0 ||
    offset + length > memory.sizeBytes ||
    length > 0xffffffff
  ) {
    throw new InvalidOptionError('lengthBytes', `must fit guest memory after offset, got ${String(length)}`);
  }
  return { offset, length };
}

class GuestKvTable implements KvTable {
  readonly memory: GuestMemoryView;
  readonly slotCount: number;
  readonly #base: number;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #mask: number;
  readonly #slotsAt: number;
  readonly #maxLoad: number;

  constructor(memory: GuestMemoryView, base: number) {
    this.memory = memory;
    this.#base = base;
    this.#bytes = memory.bytes;
    this.#view = new DataView(memory.bytes.buffer, memory.bytes.byteOffset, memory.bytes.byteLength);
    this.slotCount = this.#u32(H_SLOT_COUNT);
    this.#mask = this.slotCount - 1;
    this.#slotsAt = TABLE_HEADER_BYTES;
    this.#maxLoad = Math.floor(this.slotCount * MAX_LOAD_FACTOR);
  }

  get size(): number {
    return this.#u32(H_COUNT);
  }

  get heapBytesLeft(): number {
    return this.#u32(H_HEAP_END) - this.#u32(H_HEAP_TOP);
  }

  // Table-relative u32 access. Writes mark their page dirty after the store.
  #u32(at: number): number {
    return this.#view.getUint32(this.#base + at, true);
  }

  #setU32(at: number, value: number): void {
    this.#view.setUint32(this.#base + at, value, true);
    this.memory.markDirty(this.#base + at, 4);
  }

  #find(key: Uint8Array, hash: number): { slot: number; ref: number; insertAt: number } {
    let slot = hash & this.#mask;
    let insertAt = -1;
    for (let probes = 0; probes < this.slotCount; probes++) {
      const at = this.#slotsAt + slot * SLOT_BYTES;
      const ref = this.#u32(at + 4);
      if (ref === EMPTY) return { slot: -1, ref: 0, insertAt: insertAt === -1 ? slot : insertAt };
      if (ref === DELETED) {
        if (insertAt === -1) insertAt = slot;
      } else if (this.#u32(at) === hash && this.#keyEquals(ref, key)) {
        return { slot, ref, insertAt };
      }
      slot = (slot + 1) & this.#mask;
    }
    return { slot: -1, ref: 0, insertAt };
  }

  #keyEquals(ref: number, key: Uint8Array): boolean {
    if (this.#u32(ref) !== key.length) return false;
    const at = this.#base + ref + RECORD_HEADER_BYTES;
    const stored = this.#bytes.subarray(at, at + key.length);
    for (let i = 0; i < key.length; i++) if (stored[i] !== key[i]) return false;
    return true;
  }

  get(key: Uint8Array): Uint8Array | null {
    const { ref } = this.#find(key, hashKey(key));
    if (ref === 0) return null;
    const at = this.#base + ref + RECORD_HEADER_BYTES + this.#u32(ref);
    return this.#bytes.subarray(at, at + this.#u32(ref + 4));
  }

  has(key: Uint8Array): boolean {
    return this.#find(key, hashKey(key)).ref !== 0;
  }

  set(key: Uint8Array, value: Uint8Array): void {
    const hash = hashKey(key);
    let found = this.#find(key, hash);
    const needed = RECORD_HEADER_BYTES + key.length + value.length;
    if (found.ref !== 0) {
      const klass = this.#u32(found.ref + 8);
      if (needed <= MIN_BLOCK_BYTES << klass) {
        this.#writeValue(found.ref, key.length, value);
        return;
      }
      // Allocate first: if there is no room, the old value stays.
      const ref = this.#allocate(needed);
      this.#writeRecord(ref, key, value);
      this.#setU32(this.#slotsAt + found.slot * SLOT_BYTES + 4, ref);
      this.#release(found.ref);
      return;
    }
    if (this.size + this.#u32(H_TOMBSTONES) + 1 > this.#maxLoad) {
      if (this.#u32(H_TOMBSTONES) === 0 || this.size + 1 > this.#maxLoad) {
        throw new KvFullError(
          `the table holds ${this.size} keys, the most its ${this.slotCount} slots allow`,
        );
      }
      this.#rehash();
      found = this.#find(key, hash);
    }
    const ref = this.#allocate(needed);
    this.#writeRecord(ref, key, value);
    const at = this.#slotsAt + found.insertAt * SLOT_BYTES;
    if (this.#u32(at + 4) === DELETED) this.#setU32(H_TOMBSTONES, this.#u32(H_TOMBSTONES) - 1);
    this.#setU32(at, hash);
    this.#setU32(at + 4, ref);
    this.#setU32(H_COUNT, this.size + 1);
  }

  delete(key: Uint8Array): boolean {
    const { slot, ref } = this.#find(key, hashKey(key));
    if (ref === 0) return false;
    this.#setU32(this.#slotsAt + slot * SLOT_BYTES + 4, DELETED);
    this.#setU32(H_TOMBSTONES, this.#u32(H_TOMBSTONES) + 1);
    this.#setU32(H_COUNT, this.size - 1);
    this.#release(ref);
    return true;
  }

  #writeRecord(ref: number, key: Uint8Array, value: Uint8Array): void {
    const at = this.#base + ref;
    this.#view.setUint32(at, key.length, true);
    this.#bytes.set(key, at + RECORD_HEADER_BYTES);
    this.memory.markDirty(at, RECORD_HEADER_BYTES + key.length);
    this.#writeValue(ref, key.length, value);
  }

  #writeValue(ref: number, keyLength: number, value: Uint8Array): void {
    const at = this.#base + ref;
    this.#view.setUint32(at + 4, value.length, true);
    this.#bytes.set(value, at + RECORD_HEADER_BYTES + keyLength);
    this.memory.markDirty(at + 4, RECORD_HEADER_BYTES - 4 + keyLength + value.length);
  }

  #allocate(bytes: number): number {
    const klass = sizeClass(bytes);
    if (klass >= SIZE_CLASSES)
      throw new KvFullError(`a record of ${bytes} bytes is larger than any heap block`);
    const head = H_FREE_LISTS + klass * 4;
    const free = this.#u32(head);
    if (free !== 0) {
      this.#setU32(head, this.#u32(free));
      return free;
    }
    const block = MIN_BLOCK_BYTES << klass;
    const top = this.#u32(H_HEAP_TOP);
    if (top + block > this.#u32(H_HEAP_END)) {
      throw new KvFullError(`no heap block of ${block} bytes left (${this.heapBytesLeft} bytes unallocated)`);
    }
    this.#setU32(H_HEAP_TOP, top + block);
    this.#setU32(top + 8, klass);
    return top;
  }

  #release(ref: number): void {
    const head = H_FREE_LISTS + this.#u32(ref + 8) * 4;
    this.#setU32(ref, this.#u32(head));
    this.#setU32(head, ref);
  }

  // Drops tombstones by reinserting every live entry into a cleared slot array.
  #rehash(): void {
    const live: Array<[number, number]> = [];
    for (let slot = 0; slot < this.slotCount; slot++) {
      const at = this.#slotsAt + slot * SLOT_BYTES;
      const ref = this.#u32(at + 4);
      if (ref > DELETED) live.push([this.#u32(at), ref]);
    }
    const slotsFrom = this.#base + this.#slotsAt;
    this.#bytes.fill(0, slotsFrom, slotsFrom + this.slotCount * SLOT_BYTES);
    for (const [hash, ref] of live) {
      let slot = hash & this.#mask;
      while (this.#view.getUint32(slotsFrom + slot * SLOT_BYTES + 4, true) !== EMPTY)
        slot = (slot + 1) & this.#mask;
      this.#view.setUint32(slotsFrom + slot * SLOT_BYTES, hash, true);
      this.#view.setUint32(slotsFrom + slot * SLOT_BYTES + 4, ref, true);
    }
    this.memory.markDirty(slotsFrom, this.slotCount * SLOT_BYTES);
    this.#setU32(H_TOMBSTONES, 0);
  }
}

/**
 * Formats an empty table in guest memory (overwriting what the region held) and returns it. Only
 * the header and slots are written; the heap is handed out as keys arrive.
 */
export function createKvTable(memory: GuestMemory | GuestMemoryView, options: KvTableOptions = {}): KvTable {
  const { offset, length } = checkRegion(memory, options);
  const slotCount = options.slotCount ?? DEFAULT_SLOT_COUNT;
  if (!Number.isSafeInteger(slotCount) || slotCount < 8 || (slotCount & (slotCount - 1)) !== 0) {
    throw new InvalidOptionError('slotCount', `must be a power of two >= 8, got ${String(slotCount)}`);
  }
  const heapStart = TABLE_HEADER_BYTES + slotCount * SLOT_BYTES;
  if (heapStart + MIN_BLOCK_BYTES > length) {
    throw new InvalidOptionError('slotCount', `${slotCount} slots leave no heap in ${length} bytes`);
  }
  const bytes = memory.bytes;
  bytes.fill(0, offset, offset + heapStart);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, heapStart);
  view.setUint32(H_VERSION, TABLE_VERSION, true);
  view.setUint32(H_SLOT_COUNT, slotCount, true);
  view.setUint32(H_HEAP_START, heapStart, true);
  view.setUint32(H_HEAP_END, length, true);
  view.setUint32(H_HEAP_TOP, heapStart, true);
  // The magic goes last: a half-formatted region never opens as a table.
  view.setUint32(H_MAGIC, TABLE_MAGIC, true);
  memory.markDirty(offset, heapStart);
  return new GuestKvTable(memory, offset);
}

/**
 * Opens the table already in guest memory (restored from a checkpoint, or written by another
 * thread). Throws `MC_ERR_KV_FORMAT` when the region holds no valid table header.
 */
export function openKvTable(memory: GuestMemory | GuestMemoryView, options: KvTableOptions = {}): KvTable {
  const { offset, length } = checkRegion(memory, options);
  if (length < TABLE_HEADER_BYTES) throw new KvFormatError(`${length} bytes cannot hold a table`);
  const view = new DataView(memory.bytes.buffer, memory.bytes.byteOffset + offset, TABLE_HEADER_BYTES);
  const field = (at: number) => view.getUint32(at, true);
  if (field(H_MAGIC) !== TABLE_MAGIC) throw new KvFormatError(`no table at offset ${offset} (bad magic)`);
  if (field(H_VERSION) !== TABLE_VERSION) {
    throw new KvFormatError(`table layout version ${field(H_VERSION)}, this code reads ${TABLE_VERSION}`);
  }
  const slotCount = field(H_SLOT_COUNT);
  const heapStart = field(H_HEAP_START);
  const heapEnd = field(H_HEAP_END);
  const heapTop = field(H_HEAP_TOP);
  if (
    slotCount < 8 ||
    (slotCount & (slotCount - 1)) !== 0 ||
    heapStart !== TABLE_HEADER_BYTES + slotCount * SLOT_BYTES ||
    heapEnd > length ||
    heapTop < heapStart ||
    heapTop > heapEnd ||
    field(H_COUNT) + field(H_TOMBSTONES) > slotCount
  ) {
    throw new KvFormatError(`the table header at offset ${offset} is inconsistent`);
  }
  return new GuestKvTable(memory, offset);
}
