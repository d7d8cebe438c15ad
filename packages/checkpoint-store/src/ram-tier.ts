/**
 * RAM for stored records: fixed-size slabs, each filled by appending at its tail. A record that dies
 * leaves a hole; holes are reclaimed by compacting a slab in place or by moving its records to other
 * slabs. A slab whose last record dies is rewound and kept empty for the next appends (allocating a
 * fresh 128 KiB slab costs page faults and garbage collection on the commit path); the store drops
 * empty slabs when its waste allowance is exceeded. One allocation per slab keeps the RAM the store
 * reports equal to what the process holds, with no per-page object.
 */
export class RamTier {
  readonly slabs: Array<Uint8Array | null> = [];
  /** Bytes appended to each slab (live and dead). */
  readonly used: number[] = [];
  /** Bytes of live records in each slab. */
  readonly live: number[] = [];
  /** When each slab last became the append target: the smallest is the coldest. */
  readonly stamp: number[] = [];
  /** Records in each slab that await background compression. */
  readonly pending: number[] = [];
  /** Records awaiting background compression, in every slab. */
  pendingTotal = 0;
  /** The slab records are appended to, or -1. */
  head = -1;
  slabCount = 0;
  liveBytes = 0;
  private clock = 0;
  private readonly freeIds: number[] = [];

  constructor(readonly slabBytes: number) {}

  /** Bytes held by slabs. */
  get byteLength(): number {
    return this.slabCount * this.slabBytes;
  }

  /** Whether the head can take `size` more bytes. */
  headFits(size: number): boolean {
    return this.head >= 0 && this.used[this.head]! + size <= this.slabBytes;
  }

  /** Allocates a new empty slab and makes it the head. */
  newSlab(): number {
    const id = this.freeIds.pop() ?? this.slabs.length;
    this.slabs[id] = new Uint8Array(this.slabBytes);
    this.used[id] = 0;
    this.live[id] = 0;
    this.pending[id] = 0;
    this.slabCount++;
    this.makeHead(id);
    return id;
  }

  makeHead(id: number): void {
    this.head = id;
    this.stamp[id] = ++this.clock;
  }

  /**
   * Makes the slab with the largest free tail the head if that tail takes `size` bytes and is worth
   * switching to (at least `minTail`). Returns whether it did.
   */
  switchToRoomiest(size: number, minTail: number, exclude = -1): boolean {
    let best = -1;
    let bestTail = Math.max(size, minTail) - 1;
    for (let id = 0; id < this.slabs.length; id++) {
      if (this.slabs[id] === null || this.slabs[id] === undefined || id === exclude) continue;
      const tail = this.slabBytes - this.used[id]!;
      if (tail > bestTail) {
        best = id;
        bestTail = tail;
      }
    }
    if (best < 0) return false;
    if (best !== this.head) this.makeHead(best);
    return true;
  }

  addLive(id: number, bytes: number): void {
    this.live[id]! += bytes;
    this.liveBytes += bytes;
  }

  /** A record of `bytes` in slab `id` died; an emptied slab is rewound and kept for appends. */
  markDead(id: number, bytes: number): void {
    this.live[id]! -= bytes;
    this.liveBytes -= bytes;
    if (this.live[id] === 0) this.used[id] = 0;
  }

  /** Counts a record of slab `id` in or out of the pending ones. */
  addPending(id: number, delta: number): void {
    this.pending[id]! += delta;
    this.pendingTotal += delta;
  }

  freeSlab(id: number): void {
    this.liveBytes -= this.live[id]!;
    this.pendingTotal -= this.pending[id]!;
    this.slabs[id] = null;
    this.used[id] = 0;
    this.live[id] = 0;
    this.pending[id] = 0;
    this.slabCount--;
    this.freeIds.push(id);
    if (this.head === id) this.head = -1;
  }

  /** The slab with the most dead bytes, or -1. */
  mostDead(): number {
    let best = -1;
    let bestDead = 0;
    for (let id = 0; id < this.slabs.length; id++) {
      if (!this.slabs[id]) continue;
      const dead = this.used[id]! - this.live[id]!;
      if (dead > bestDead) {
        best = id;
        bestDead = dead;
      }
    }
    return best;
  }

  /** The coldest slab, preferring any other than the head; -1 when there is none. */
  coldest(): number {
    let best = -1;
    for (let id = 0; id < this.slabs.length; id++) {
      if (!this.slabs[id] || id === this.head) continue;
      if (best < 0 || this.stamp[id]! < this.stamp[best]!) best = id;
    }
    return best >= 0 ? best : this.head;
  }

  /** The coldest slab holding records that await compression, or -1. */
  coldestPending(): number {
    let best = -1;
    for (let id = 0; id < this.slabs.length; id++) {
      if (!this.slabs[id] || this.pending[id] === 0) continue;
      if (best < 0 || this.stamp[id]! < this.stamp[best]!) best = id;
    }
    return best;
  }

  /**
   * The slab, other than `exclude`, whose free tail takes `size` bytes most tightly among those
   * holding at least `minLive` live bytes, or -1. Moving records into the fullest slabs first is
   * what lets a sparse slab empty instead of records moving from one sparse slab to another.
   */
  bestFit(size: number, exclude: number, minLive: number): number {
    let best = -1;
    let bestTail = Number.POSITIVE_INFINITY;
    for (let id = 0; id < this.slabs.length; id++) {
      if (!this.slabs[id] || id === exclude || this.live[id]! < minLive) continue;
      const tail = this.slabBytes - this.used[id]!;
      if (tail >= size && tail < bestTail) {
        best = id;
        bestTail = tail;
      }
    }
    return best;
  }

  /** Slabs without a live record. */
  emptyCount(): number {
    let n = 0;
    for (let id = 0; id < this.slabs.length; id++) if (this.slabs[id] && this.live[id] === 0) n++;
    return n;
  }

  /** An empty slab other than the head, or -1. */
  emptySlab(): number {
    for (let id = 0; id < this.slabs.length; id++) {
      if (this.slabs[id] && id !== this.head && this.live[id] === 0) return id;
    }
    return -1;
  }

  /** The slab with the fewest live bytes (the head included; empty ones unless `skipEmpty`), or -1. */
  sparsest(skipEmpty = false): number {
    let best = -1;
    for (let id = 0; id < this.slabs.length; id++) {
      if (!this.slabs[id] || (skipEmpty && this.live[id] === 0)) continue;
      if (best < 0 || this.live[id]! < this.live[best]!) best = id;
    }
    return best;
  }

  /** Free tail bytes of every slab but `exclude` holding at least `minLive` live bytes. */
  freeTailBytes(exclude: number, minLive = 0): number {
    let total = 0;
    for (let id = 0; id < this.slabs.length; id++) {
      if (!this.slabs[id] || id === exclude || this.live[id]! < minLive) continue;
      total += this.slabBytes - this.used[id]!;
    }
    return total;
  }

  /** Drops every slab. */
  clear(): void {
    for (let id = 0; id < this.slabs.length; id++) {
      if (this.slabs[id]) this.freeSlab(id);
    }
    this.liveBytes = 0;
    this.pendingTotal = 0;
  }
}
