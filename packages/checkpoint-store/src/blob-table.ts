/**
 * The table of stored records ("blobs"): one row per distinct page content, shared by every page
 * (committed or staged) that holds it, refcounted, and chained by content hash for deduplication.
 * Columns are typed arrays so that a million pages cost a few dozen bytes each and no objects.
 */

/** Where a blob's record lives. */
export const TIER_FREE = 0;
export const TIER_RAM = 1;
export const TIER_DISK = 2;

const NONE = -1;

export class BlobTable {
  capacity = 0;
  /** Stored codec id (raw, lz4, zstd). */
  codec = new Uint8Array(0);
  tier = new Uint8Array(0);
  /** Payload bytes (the record is a header plus the payload). */
  length = new Int32Array(0);
  refs = new Int32Array(0);
  /** RAM slab or disk segment holding the record. */
  home = new Int32Array(0);
  /** Offset of the record in its slab or segment. */
  offset = new Int32Array(0);
  hashLo = new Uint32Array(0);
  hashHi = new Uint32Array(0);
  /**
   * 1 while the record awaits background work: a raw page not yet compressed, or (under `tiered`) an
   * LZ4 page that LZ4 shrank poorly and zstd may shrink further. Only RAM records are pending.
   */
  pending = new Uint8Array(0);
  /** Next blob in the same hash bucket, or in the free list. */
  private next = new Int32Array(0);
  private buckets = new Int32Array(0);
  private freeHead = NONE;
  /** Blobs in use. */
  live = 0;

  constructor(
    initialCapacity: number,
    private readonly maxCapacity: number,
  ) {
    this.resize(Math.max(16, Math.min(initialCapacity, maxCapacity)));
  }

  /** Bytes held by the table's typed arrays. */
  get byteLength(): number {
    return (
      this.codec.byteLength +
      this.tier.byteLength +
      this.length.byteLength +
      this.refs.byteLength +
      this.home.byteLength +
      this.offset.byteLength +
      this.hashLo.byteLength +
      this.hashHi.byteLength +
      this.pending.byteLength +
      this.next.byteLength +
      this.buckets.byteLength
    );
  }

  /** Takes a free row; the caller fills every column. */
  allocate(): number {
    if (this.freeHead === NONE) this.resize(Math.min(this.capacity * 2, this.maxCapacity));
    const id = this.freeHead;
    if (id === NONE) throw new Error('blob table is full: more blobs than pages plus staged pages');
    this.freeHead = this.next[id]!;
    this.next[id] = NONE;
    this.live++;
    return id;
  }

  /** Returns a row (already unlinked from its hash chain) to the free list. */
  release(id: number): void {
    this.tier[id] = TIER_FREE;
    this.refs[id] = 0;
    this.pending[id] = 0;
    this.next[id] = this.freeHead;
    this.freeHead = id;
    this.live--;
  }

  /** First blob whose hash falls in the bucket of `hashLo`, or -1. */
  firstInBucket(hashLo: number): number {
    return this.buckets[hashLo & (this.buckets.length - 1)]!;
  }

  /** Next blob in the same bucket, or -1. */
  nextInBucket(id: number): number {
    return this.next[id]!;
  }

  link(id: number): void {
    const b = this.hashLo[id]! & (this.buckets.length - 1);
    this.next[id] = this.buckets[b]!;
    this.buckets[b] = id;
  }

  unlink(id: number): void {
    const b = this.hashLo[id]! & (this.buckets.length - 1);
    let cur = this.buckets[b]!;
    if (cur === id) {
      this.buckets[b] = this.next[id]!;
      this.next[id] = NONE;
      return;
    }
    while (cur !== NONE) {
      const nxt = this.next[cur]!;
      if (nxt === id) {
        this.next[cur] = this.next[id]!;
        this.next[id] = NONE;
        return;
      }
      cur = nxt;
    }
  }

  private resize(capacity: number): void {
    const old = this.capacity;
    if (capacity <= old) return;
    const grow = <T extends Uint8Array | Int32Array | Uint32Array>(a: T, make: (n: number) => T): T => {
      const b = make(capacity);
      b.set(a);
      return b;
    };
    this.codec = grow(this.codec, (n) => new Uint8Array(n));
    this.tier = grow(this.tier, (n) => new Uint8Array(n));
    this.length = grow(this.length, (n) => new Int32Array(n));
    this.refs = grow(this.refs, (n) => new Int32Array(n));
    this.home = grow(this.home, (n) => new Int32Array(n));
    this.offset = grow(this.offset, (n) => new Int32Array(n));
    this.hashLo = grow(this.hashLo, (n) => new Uint32Array(n));
    this.hashHi = grow(this.hashHi, (n) => new Uint32Array(n));
    this.pending = grow(this.pending, (n) => new Uint8Array(n));
    this.next = grow(this.next, (n) => new Int32Array(n));
    this.capacity = capacity;
    // Free rows, lowest first.
    for (let id = capacity - 1; id >= old; id--) {
      this.next[id] = this.freeHead;
      this.freeHead = id;
    }
    // Rehash: one bucket per row (rounded up to a power of two) keeps chains short.
    let size = 16;
    while (size < capacity) size *= 2;
    if (size !== this.buckets.length) {
      this.buckets = new Int32Array(size).fill(NONE);
      for (let id = 0; id < old; id++) {
        if (this.tier[id] !== TIER_FREE) this.link(id);
      }
    }
  }
}
