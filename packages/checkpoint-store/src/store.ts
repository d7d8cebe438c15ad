import { performance } from 'node:perf_hooks';
import { xxh64 } from '@node-rs/xxhash';
import { BackgroundScheduler } from './background.js';
import { BlobTable, TIER_DISK, TIER_RAM } from './blob-table.js';
import { PAGE_CODEC_IDS, type PageCodec, type StoredCodec } from './codecs/codec-ids.js';
import { lz4DecompressInto } from './codecs/lz4.js';
import { Lz4BatchDecoder, loadLz4Wasm } from './codecs/lz4-wasm.js';
import { decodeWith } from './codecs/xbzrle.js';
import { isZeroPage, sameBytes } from './codecs/zero-page.js';
import { loadZstd, type ZstdCodec, zstdLoadError } from './codecs/zstd.js';
import {
  BACKGROUND_SLICE_MS,
  DEFAULT_MAINTAIN_BUDGET_MS,
  DISK_COMPACT_MIN_DEAD_BYTES,
  RECORD_HEADER_BYTES,
  RESERVE_MAX_SLABS,
  SLAB_PAGES,
  TIDY_WASTE_FRACTION,
} from './constants.js';
import { DiskTier } from './disk-tier.js';
import {
  CodecUnavailableError,
  CorruptPageError,
  EpochOrderError,
  InvalidArgumentError,
  InvalidOptionError,
  OffloadCorruptError,
  StagingFullError,
  StagingStateError,
  StoreClosedError,
} from './errors.js';
import { type CheckpointStoreOptions, type CodecPolicy, resolveOptions } from './options.js';
import { type EncodeScratch, PageCompressor } from './page-compressor.js';
import { RamTier } from './ram-tier.js';
import { readHeader, writeHeader } from './record.js';
import type { CheckpointStoreStats } from './stats.js';

const HDR = RECORD_HEADER_BYTES;
const ZERO = -1;
const NOT_STAGED = -2;
const RAW = PAGE_CODEC_IDS.raw;
const LZ4 = PAGE_CODEC_IDS.lz4;
const ZSTD = PAGE_CODEC_IDS.zstd;
// lz4-napi's blocks start with the page size as a 32-bit integer.
const LZ4_PREFIX = 4;

/** Places where tests inject failures to prove that no step can leave a mixed image behind. */
export type FaultPoint =
  | 'put:decode'
  | 'put:hash'
  | 'put:dedup'
  | 'put:encode'
  | 'put:store'
  | 'put:stage'
  | 'offload:write'
  | 'compress:encode'
  | 'commit:swap'
  | 'commit:publish';

/** Test hooks (not part of the public surface). */
export interface StoreHooks {
  /** Called at every fault point; a throw there acts as a failure of that step. */
  fault?: (point: FaultPoint) => void;
  /** Replaces xxh64, e.g. to force every page into one hash bucket. */
  hashPage?: (page: Uint8Array) => bigint;
  /** Replaces the zstd codec; `null` acts as if zstd-napi were not installed. */
  zstd?: ZstdCodec | null;
}

/**
 * The secondary's copy of protected memory. Every method is synchronous: a reader can only ever see
 * the image before or after a whole commit.
 */
export interface CheckpointStore {
  readonly pageSize: number;
  readonly pageCount: number;
  /** The last committed epoch, or null before the first commit (every page reads as zeros). */
  readonly committedEpoch: number | null;
  /** The epoch being staged, or null. */
  readonly stagingEpoch: number | null;
  /**
   * Starts staging `epoch`, which must be newer than the committed epoch (epochs may skip numbers:
   * an aborted epoch can be retried or skipped). Throws `StagingStateError` if an epoch is staging.
   */
  begin(epoch: number): void;
  /**
   * Stages one page of the current epoch; the bytes are copied (encoded) before it returns. `codec`
   * says how `data` is encoded: `raw` (one page), `zero` (empty), `xbzrle` (a delta against the
   * page as it currently stands in this checkpoint, i.e. as last staged, else as committed), `lz4`
   * (lz4-napi's size-prefixed block) or `zstd` (a zstd frame). Staging a page again replaces it.
   *
   * Throws `StagingFullError` past `maxCheckpointBytes`, `CorruptPageError` when `data` does not
   * decode to exactly one page, `OffloadIoError` when making room under the RAM budget fails. Any
   * throw leaves the staged pages as they were and the committed image untouched.
   */
  put(pageIndex: number, data: Uint8Array, codec?: PageCodec): void;
  /**
   * Atomically makes the staged pages the committed image of `epoch`. On a throw nothing changed:
   * the epoch is still staged and the image is the previous one.
   */
  commit(epoch: number): void;
  /** Drops the staged epoch; the committed image is untouched. Does nothing if none is staging. */
  abort(): void;
  /**
   * Copies committed page `pageIndex` into `target` (a new page when omitted) and returns it.
   * An offloaded page is read back from its segment (and moved back to RAM when that needs no
   * eviction).
   */
  readPage(pageIndex: number, target?: Uint8Array): Uint8Array;
  /**
   * Writes the whole committed image into the first `pageSize * pageCount` bytes of `target`
   * (what failover runs). Returns the committed epoch it wrote.
   */
  materialize(target: Uint8Array | SharedArrayBuffer): number | null;
  /**
   * Runs background work for about `budgetMs` milliseconds (at least one page, and then at most one
   * page's compression past the budget): compresses pages that were committed raw, coldest slab
   * first, then, once none is pending, tidies RAM slabs. Returns whether work is left. This is how
   * the engine drives the work itself, e.g. `while (store.maintain(2)) await setImmediate()`, and
   * what the automatic slices of `backgroundCpuShare` call. Never does I/O, never changes what a
   * reader sees, and a throw leaves every page as it was.
   */
  maintain(budgetMs?: number): boolean;
  /** Counters and sizes; O(pageCount). */
  stats(): CheckpointStoreStats;
  /**
   * Maintenance: compacts RAM slabs and offload segments so that they hold live records only.
   * Throws `OffloadIoError` if copying a segment fails (the image stays readable).
   */
  compact(): void;
  /**
   * Releases RAM, cancels background work (pending pages are simply dropped), closes and deletes the
   * offload files. Idempotent.
   */
  close(): void;
}

/**
 * Creates the secondary's store of `pageCount` pages. Throws `InvalidOptionError` naming a bad option,
 * `CodecUnavailableError` for `codecPolicy: 'zstd'` without zstd-napi, `OffloadIoError` when a finite
 * budget is given and the offload directory is not writable.
 */
export function createCheckpointStore(options: CheckpointStoreOptions = {}): CheckpointStore {
  return new Store(options, {});
}

/** Creates a store with test hooks (fault injection, hash override, zstd override). */
export function createCheckpointStoreWithHooks(
  options: CheckpointStoreOptions,
  hooks: StoreHooks,
): CheckpointStore & { verifyIntegrity(): void } {
  return new Store(options, hooks);
}

class Store implements CheckpointStore {
  readonly pageSize: number;
  readonly pageCount: number;
  private readonly imageBytes: number;
  private readonly budget: number;
  private readonly maxCheckpointBytes: number;
  private readonly policy: CodecPolicy;
  private readonly deferCompression: boolean;
  private readonly backgroundCpuShare: number;
  private readonly compressor: PageCompressor;
  private readonly zstd: ZstdCodec | null;
  private readonly fault: (point: FaultPoint) => void;
  private readonly hashPage: (page: Uint8Array) => bigint;

  private readonly blobs: BlobTable;
  private readonly ram: RamTier;
  private readonly slabBytes: number;
  private readonly disk: DiskTier | null;
  private readonly background: BackgroundScheduler;
  /** Committed page to blob, or ZERO. */
  private readonly pageBlob: Int32Array;
  /** Staged page to blob, ZERO, or NOT_STAGED. */
  private readonly stagedRef: Int32Array;
  private readonly stagedList: Int32Array;
  private readonly undo: Int32Array;
  private stagedCount = 0;

  // Scratch buffers, each owned by one activity so that nested work never clobbers another's bytes:
  // a put can reclaim RAM (rewriting a slab) while its own page sits in `inputPage` or `putOut`.
  private readonly inputPage: Uint8Array;
  private readonly probePage: Uint8Array;
  private readonly reclaimPage: Uint8Array;
  private readonly diskRecord: Uint8Array;
  private readonly putOut: EncodeScratch;
  private readonly rewriteOut: EncodeScratch;
  private keepSlab: Uint8Array | null = null;
  private evictSlab: Uint8Array | null = null;
  private fixedBytes: number;

  private committed: number | null = null;
  private staging: number | null = null;
  private closed = false;
  /** Whether RAM was tidied to within one slab of waste since the last change. */
  private settled = true;
  /**
   * Empty slabs kept for the next checkpoint: as many as the last one filled (at most
   * RESERVE_MAX_SLABS), so that a steady stream of checkpoints allocates no slab on the commit path.
   * Dropped when background work settles.
   */
  private reserveSlabs = 0;

  private counters = {
    dedupHits: 0,
    hashCollisions: 0,
    evictedRecords: 0,
    promotedRecords: 0,
    recompressedRecords: 0,
    compressedInBackground: 0,
    compressedUnderPressure: 0,
    backgroundMs: 0,
    backgroundErrors: 0,
    slabCompactions: 0,
    segmentCompactions: 0,
    putsByCodec: { zero: 0, raw: 0, lz4: 0, zstd: 0, xbzrle: 0 } as Record<PageCodec, number>,
  };
  private lastBackgroundError: unknown = undefined;

  constructor(options: CheckpointStoreOptions, hooks: StoreHooks) {
    const o = resolveOptions(options);
    this.pageSize = o.pageSize;
    this.pageCount = o.pageCount;
    this.imageBytes = o.pageSize * o.pageCount;
    this.budget = o.ramBudgetBytes;
    this.maxCheckpointBytes = o.maxCheckpointBytes;
    this.policy = o.codecPolicy;
    this.deferCompression = o.deferCompression;
    this.backgroundCpuShare = o.backgroundCpuShare;
    this.zstd = hooks.zstd !== undefined ? hooks.zstd : loadZstd();
    if (this.policy === 'zstd' && this.zstd === null) {
      throw new CodecUnavailableError('zstd', "codecPolicy 'zstd' needs the optional dependency zstd-napi", {
        cause: zstdLoadError(),
      });
    }
    this.compressor = new PageCompressor(this.policy, this.zstd, o.pageSize);
    this.fault = hooks.fault ?? (() => {});
    this.hashPage = hooks.hashPage ?? ((page) => xxh64(page));

    // A slab holds exactly SLAB_PAGES raw records, so that pages committed raw waste no tail.
    this.slabBytes = (o.pageSize + HDR) * SLAB_PAGES;
    this.ram = new RamTier(this.slabBytes);
    const n = o.pageCount;
    const finite = Number.isFinite(this.budget);
    // A finite budget preallocates the largest blob table so that RAM never jumps under it.
    this.blobs = new BlobTable(finite ? 2 * n + 1 : 1024, 2 * n + 1);
    this.pageBlob = new Int32Array(n).fill(ZERO);
    this.stagedRef = new Int32Array(n).fill(NOT_STAGED);
    this.stagedList = new Int32Array(n);
    this.undo = new Int32Array(n);
    const p = o.pageSize;
    this.inputPage = new Uint8Array(p);
    this.probePage = new Uint8Array(p);
    this.reclaimPage = new Uint8Array(p);
    this.diskRecord = new Uint8Array(HDR + p);
    // A deferred put never compresses: only rewrites (background, RAM pressure) need buffers.
    this.putOut = this.deferCompression
      ? { lz4: new Uint8Array(0), zstd: new Uint8Array(0) }
      : this.compressor.newScratch();
    this.rewriteOut = this.compressor.newScratch();
    if (this.compressor.strongTier && this.rewriteOut.zstd.length === 0) {
      this.rewriteOut.zstd = new Uint8Array(this.zstd!.bound(p));
    }
    this.fixedBytes =
      4 * n * 4 +
      this.inputPage.byteLength +
      this.probePage.byteLength +
      this.reclaimPage.byteLength +
      this.diskRecord.byteLength +
      this.putOut.lz4.byteLength +
      this.putOut.zstd.byteLength +
      this.rewriteOut.lz4.byteLength +
      this.rewriteOut.zstd.byteLength;
    if (finite) {
      this.keepSlabBuffer();
      this.evictSlabBuffer();
      const minimum = this.fixedBytes + this.blobs.byteLength + 2 * this.slabBytes;
      if (this.budget < minimum) {
        throw new InvalidOptionError(
          'ramBudgetBytes',
          `must be at least ${minimum} bytes for ${n} pages of ${p} bytes (tables, scratch and two slabs), got ${this.budget}`,
        );
      }
      this.disk = DiskTier.create(o.offloadDirectory, () => this.fault('offload:write'));
    } else {
      this.disk = null;
    }
    this.background = new BackgroundScheduler(
      (budgetMs) => this.backgroundWork(budgetMs),
      this.deferCompression ? this.backgroundCpuShare : 0,
      BACKGROUND_SLICE_MS,
      (err) => {
        this.counters.backgroundErrors++;
        this.lastBackgroundError = err;
      },
    );
  }

  get committedEpoch(): number | null {
    return this.committed;
  }

  get stagingEpoch(): number | null {
    return this.staging;
  }

  begin(epoch: number): void {
    this.assertOpen();
    if (!Number.isSafeInteger(epoch) || epoch < 0) {
      throw new InvalidArgumentError('epoch', `must be a non-negative safe integer, got ${epoch}`);
    }
    if (this.staging !== null) {
      throw new StagingStateError(
        `epoch ${this.staging} is staging: commit or abort it before beginning ${epoch}`,
      );
    }
    if (this.committed !== null && epoch <= this.committed) {
      throw new EpochOrderError(epoch, `an epoch newer than the committed ${this.committed}`);
    }
    this.staging = epoch;
  }

  put(pageIndex: number, data: Uint8Array, codec: PageCodec = 'raw'): void {
    this.assertOpen();
    const epoch = this.staging;
    if (epoch === null) throw new StagingStateError('no epoch is staging: call begin(epoch) first');
    this.checkIndex(pageIndex);
    if (!(data instanceof Uint8Array)) throw new InvalidArgumentError('data', 'must be a Uint8Array');
    if (codec !== 'raw' && !Object.hasOwn(PAGE_CODEC_IDS, codec)) {
      throw new InvalidArgumentError('codec', `unknown codec ${String(codec)}`);
    }
    const already = this.stagedRef[pageIndex] !== NOT_STAGED;
    const stagedBytes = this.stagedCount * this.pageSize;
    if (!already && stagedBytes + this.pageSize > this.maxCheckpointBytes) {
      throw new StagingFullError(epoch, this.maxCheckpointBytes, stagedBytes + this.pageSize);
    }

    this.fault('put:decode');
    const raw = this.decodeInput(pageIndex, data, codec);
    let ref = ZERO;
    let hit = false;
    if (raw !== null && !isZeroPage(raw)) {
      this.fault('put:hash');
      const hash = this.hashPage(raw);
      const lo = Number(hash & 0xffffffffn);
      const hi = Number((hash >> 32n) & 0xffffffffn);
      this.fault('put:dedup');
      const found = this.findDuplicate(raw, lo, hi);
      if (found >= 0) {
        this.blobs.refs[found]!++;
        ref = found;
        hit = true;
      } else {
        ref = this.storeNew(raw, codec, data, lo, hi);
      }
    }
    try {
      this.fault('put:stage');
    } catch (err) {
      if (ref >= 0) this.releaseRef(ref);
      throw err;
    }
    // From here nothing can fail: the page joins the staged epoch.
    this.settled = false;
    if (hit) this.counters.dedupHits++;
    this.counters.putsByCodec[codec]++;
    if (already) {
      const previous = this.stagedRef[pageIndex]!;
      this.stagedRef[pageIndex] = ref;
      if (previous >= 0) this.releaseRef(previous);
    } else {
      this.stagedRef[pageIndex] = ref;
      this.stagedList[this.stagedCount++] = pageIndex;
    }
  }

  commit(epoch: number): void {
    this.assertOpen();
    if (this.staging === null) throw new StagingStateError(`no epoch is staging: cannot commit ${epoch}`);
    if (epoch !== this.staging) throw new EpochOrderError(epoch, `the staged epoch ${this.staging}`);
    const count = this.stagedCount;
    let k = 0;
    try {
      for (; k < count; k++) {
        const page = this.stagedList[k]!;
        this.fault('commit:swap');
        this.undo[k] = this.pageBlob[page]!;
        this.pageBlob[page] = this.stagedRef[page]!;
      }
      this.fault('commit:publish');
    } catch (err) {
      for (let j = k - 1; j >= 0; j--) this.pageBlob[this.stagedList[j]!] = this.undo[j]!;
      throw err;
    }
    // Published: the image is epoch `epoch`. The rest only releases what the old image held.
    this.committed = epoch;
    this.staging = null;
    this.stagedCount = 0;
    this.reserveSlabs = Math.ceil(count / SLAB_PAGES);
    for (let j = 0; j < count; j++) {
      this.stagedRef[this.stagedList[j]!] = NOT_STAGED;
      const old = this.undo[j]!;
      if (old >= 0) this.releaseRef(old);
    }
    this.settled = false;
    this.tidyRam(false);
    this.background.kick();
  }

  abort(): void {
    this.assertOpen();
    if (this.staging === null) return;
    for (let j = 0; j < this.stagedCount; j++) {
      const page = this.stagedList[j]!;
      const ref = this.stagedRef[page]!;
      this.stagedRef[page] = NOT_STAGED;
      if (ref >= 0) this.releaseRef(ref);
    }
    this.stagedCount = 0;
    this.staging = null;
    this.settled = false;
    this.tidyRam(false);
    this.background.kick();
  }

  readPage(pageIndex: number, target?: Uint8Array): Uint8Array {
    this.assertOpen();
    this.checkIndex(pageIndex);
    const out = target ?? new Uint8Array(this.pageSize);
    if (!(out instanceof Uint8Array) || out.length !== this.pageSize) {
      throw new InvalidArgumentError('target', `must be a Uint8Array of ${this.pageSize} bytes`);
    }
    const id = this.pageBlob[pageIndex]!;
    if (id < 0) out.fill(0);
    else this.readBlob(id, out, true);
    return out;
  }

  materialize(target: Uint8Array | SharedArrayBuffer): number | null {
    this.assertOpen();
    const u8 =
      target instanceof SharedArrayBuffer
        ? new Uint8Array(target)
        : target instanceof Uint8Array
          ? target
          : null;
    if (u8 === null || u8.length < this.imageBytes) {
      throw new InvalidArgumentError(
        'target',
        `must be a Uint8Array or SharedArrayBuffer of at least ${this.imageBytes} bytes`,
      );
    }
    const p = this.pageSize;
    const { refs, tier, home, offset, length, codec } = this.blobs;
    const slabs = this.ram.slabs;
    const wasm = loadLz4Wasm();
    // LZ4 pages are decoded a batch per WebAssembly call; raw pages are one copy each.
    const batch = wasm !== null ? new Lz4BatchDecoder(wasm, p, u8) : null;
    const firstPageOf = new Map<number, number>();
    const copies: number[] = [];
    const diskPages: number[] = [];
    let zeroStart = -1;
    for (let page = 0; page < this.pageCount; page++) {
      const id = this.pageBlob[page]!;
      if (id < 0) {
        if (zeroStart < 0) zeroStart = page;
        continue;
      }
      if (zeroStart >= 0) {
        u8.fill(0, zeroStart * p, page * p);
        zeroStart = -1;
      }
      if (refs[id]! > 1) {
        const first = firstPageOf.get(id);
        if (first !== undefined) {
          copies.push(page, first);
          continue;
        }
        firstPageOf.set(id, page);
      }
      if (tier[id] === TIER_DISK) {
        diskPages.push(page);
        continue;
      }
      const slab = slabs[home[id]!]!;
      const at = offset[id]! + HDR;
      const c = codec[id]!;
      if (c === RAW) u8.set(slab.subarray(at, at + p), page * p);
      else if (c === LZ4 && batch !== null) batch.push(slab, at + LZ4_PREFIX, at + length[id]!, page);
      else this.decodePayload(c, slab.subarray(at, at + length[id]!), u8, page * p);
    }
    if (zeroStart >= 0) u8.fill(0, zeroStart * p, this.pageCount * p);
    batch?.flush();
    if (diskPages.length > 0) this.materializeFromDisk(diskPages, u8);
    for (let j = 0; j < copies.length; j += 2) {
      const src = copies[j + 1]! * p;
      u8.copyWithin(copies[j]! * p, src, src + p);
    }
    return this.committed;
  }

  maintain(budgetMs: number = DEFAULT_MAINTAIN_BUDGET_MS): boolean {
    this.assertOpen();
    if (typeof budgetMs !== 'number' || Number.isNaN(budgetMs) || budgetMs < 0) {
      throw new InvalidArgumentError(
        'budgetMs',
        `must be a non-negative number of milliseconds, got ${budgetMs}`,
      );
    }
    return this.backgroundWork(budgetMs);
  }

  stats(): CheckpointStoreStats {
    this.assertOpen();
    const pagesByCodec: Record<StoredCodec, number> = { zero: 0, raw: 0, lz4: 0, zstd: 0 };
    let offloadedPages = 0;
    let sharedPages = 0;
    let pendingPages = 0;
    const { codec, tier, refs, pending } = this.blobs;
    for (let page = 0; page < this.pageCount; page++) {
      const id = this.pageBlob[page]!;
      if (id < 0) {
        pagesByCodec.zero++;
        continue;
      }
      const c = codec[id]!;
      if (c === RAW) pagesByCodec.raw++;
      else if (c === LZ4) pagesByCodec.lz4++;
      else pagesByCodec.zstd++;
      if (tier[id] === TIER_DISK) offloadedPages++;
      if (refs[id]! > 1) sharedPages++;
      if (pending[id] === 1) pendingPages++;
    }
    const ramBytes = this.ramBytes();
    return {
      pageSize: this.pageSize,
      pageCount: this.pageCount,
      logicalBytes: this.imageBytes,
      ramBytes,
      ramBudgetBytes: this.budget,
      ramRatio: ramBytes / this.imageBytes,
      diskBytes: this.disk?.bytes ?? 0,
      diskLiveBytes: this.disk?.liveBytes ?? 0,
      ramRecordBytes: this.ram.liveBytes,
      committedEpoch: this.committed,
      stagingEpoch: this.staging,
      stagedPages: this.stagedCount,
      stagedBytes: this.stagedCount * this.pageSize,
      maxCheckpointBytes: this.maxCheckpointBytes,
      codecPolicy: this.policy,
      strongTier: this.compressor.strongTier,
      deferCompression: this.deferCompression,
      backgroundCpuShare: this.deferCompression ? this.backgroundCpuShare : 0,
      pendingPages,
      pendingRecords: this.ram.pendingTotal,
      pagesByCodec,
      zeroPages: pagesByCodec.zero,
      offloadedPages,
      sharedPages,
      storedRecords: this.blobs.live,
      dedupHits: this.counters.dedupHits,
      hashCollisions: this.counters.hashCollisions,
      evictedRecords: this.counters.evictedRecords,
      promotedRecords: this.counters.promotedRecords,
      recompressedRecords: this.counters.recompressedRecords,
      compressedInBackground: this.counters.compressedInBackground,
      compressedUnderPressure: this.counters.compressedUnderPressure,
      backgroundMs: this.counters.backgroundMs,
      backgroundErrors: this.counters.backgroundErrors,
      lastBackgroundError: this.lastBackgroundError,
      slabCompactions: this.counters.slabCompactions,
      segmentCompactions: this.counters.segmentCompactions,
      putsByCodec: { ...this.counters.putsByCodec },
    };
  }

  compact(): void {
    this.assertOpen();
    this.tidyRam(true);
    if (this.disk !== null) this.compactDisk(true);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.background.stop();
    this.disk?.close();
    this.ram.clear();
    this.keepSlab = null;
    this.evictSlab = null;
  }

  // --- internals -------------------------------------------------------------------------------

  /** Bytes of RAM the store holds in ArrayBuffers: slabs, tables and scratch. */
  private ramBytes(): number {
    return this.ram.byteLength + this.blobs.byteLength + this.fixedBytes;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError();
  }

  private checkIndex(pageIndex: number): void {
    if (!Number.isInteger(pageIndex) || pageIndex < 0 || pageIndex >= this.pageCount) {
      throw new InvalidArgumentError(
        'pageIndex',
        `must be an integer from 0 to ${this.pageCount - 1}, got ${pageIndex}`,
      );
    }
  }

  private keepSlabBuffer(): Uint8Array {
    if (this.keepSlab === null) {
      this.keepSlab = new Uint8Array(this.slabBytes);
      this.fixedBytes += this.slabBytes;
    }
    return this.keepSlab;
  }

  private dropKeepSlab(): void {
    if (this.keepSlab === null) return;
    this.keepSlab = null;
    this.fixedBytes -= this.slabBytes;
  }

  private evictSlabBuffer(): Uint8Array {
    if (this.evictSlab === null) {
      this.evictSlab = new Uint8Array(this.slabBytes);
      this.fixedBytes += this.slabBytes;
    }
    return this.evictSlab;
  }

  /**
   * The background work of one slice: compress pending records, coldest slab first, until the
   * deadline; once none is pending, tidy RAM to within one slab of waste. Returns whether work is
   * left. Compression rewrites a slab in place through the keep buffer (preallocated under a budget,
   * so the budget holds throughout) and never does I/O.
   */
  private backgroundWork(budgetMs: number): boolean {
    if (this.closed) return false;
    const started = performance.now();
    const deadline = started + budgetMs;
    try {
      // At least one step per call, whatever the budget, so that repeated calls always finish.
      let worked = false;
      while (this.ram.pendingTotal > 0 && (!worked || performance.now() < deadline)) {
        const slab = this.ram.coldestPending();
        if (slab < 0) break;
        this.counters.compressedInBackground += this.rewriteSlab(slab, 'compress', deadline);
        worked = true;
      }
      if (this.ram.pendingTotal === 0 && !this.settled && (!worked || performance.now() < deadline)) {
        this.settled = this.tidyRam(true, deadline);
        // Without a budget nothing needs the rewrite buffer until the next checkpoint: give it back.
        if (this.settled && this.disk === null) this.dropKeepSlab();
      }
    } finally {
      this.counters.backgroundMs += performance.now() - started;
    }
    return this.ram.pendingTotal > 0 || !this.settled;
  }

  /** The raw page `data` stands for (a view that stays valid until the next put), or null for zero. */
  private decodeInput(pageIndex: number, data: Uint8Array, codec: PageCodec): Uint8Array | null {
    const p = this.pageSize;
    switch (codec) {
      case 'raw':
        if (data.length !== p) {
          throw new CorruptPageError(pageIndex, codec, `has ${data.length} bytes, a page has ${p}`);
        }
        return data;
      case 'zero':
        if (data.length !== 0) {
          throw new CorruptPageError(pageIndex, codec, `a zero page carries no bytes, got ${data.length}`);
        }
        return null;
      case 'xbzrle': {
        const current =
          this.stagedRef[pageIndex] !== NOT_STAGED ? this.stagedRef[pageIndex]! : this.pageBlob[pageIndex]!;
        if (current < 0) this.inputPage.fill(0);
        else this.readBlob(current, this.inputPage, false);
        try {
          decodeWith('auto', data, this.inputPage, this.inputPage);
        } catch (err) {
          throw new CorruptPageError(pageIndex, codec, 'malformed delta', { cause: err });
        }
        return this.inputPage;
      }
      case 'lz4':
        try {
          lz4DecompressInto(data, this.inputPage);
        } catch (err) {
          throw new CorruptPageError(pageIndex, codec, 'does not decode to one page', { cause: err });
        }
        return this.inputPage;
      case 'zstd': {
        if (this.zstd === null) {
          throw new CodecUnavailableError('zstd', 'received a zstd page but zstd-napi is not installed', {
            cause: zstdLoadError(),
          });
        }
        try {
          this.zstd.decompressInto(data, this.inputPage);
        } catch (err) {
          throw new CorruptPageError(pageIndex, codec, 'does not decode to one page', { cause: err });
        }
        return this.inputPage;
      }
    }
  }

  /** A stored blob with exactly these bytes, confirmed byte for byte, or -1. */
  private findDuplicate(raw: Uint8Array, lo: number, hi: number): number {
    const b = this.blobs;
    const { hashLo, hashHi } = b;
    for (let id = b.firstInBucket(lo); id !== -1; id = b.nextInBucket(id)) {
      if (hashLo[id] !== lo || hashHi[id] !== hi) continue;
      let same: boolean;
      if (b.tier[id] === TIER_RAM && b.codec[id] === RAW) {
        // A raw record compares in place, without a copy.
        const at = b.offset[id]! + HDR;
        same = sameBytes(this.ram.slabs[b.home[id]!]!.subarray(at, at + this.pageSize), raw);
      } else {
        this.readBlob(id, this.probePage, false);
        same = sameBytes(this.probePage, raw);
      }
      if (same) return id;
      this.counters.hashCollisions++;
    }
    return -1;
  }

  /**
   * Stores a page that matched no record. Deferred: a page that arrived compressed the way the
   * policy stores it is kept as it came, anything else is stored raw and left to the background.
   * Otherwise the page is compressed now.
   */
  private storeNew(
    raw: Uint8Array,
    inputCodec: PageCodec,
    input: Uint8Array,
    lo: number,
    hi: number,
  ): number {
    const c = this.compressor;
    const inputId = PAGE_CODEC_IDS[inputCodec];
    if (c.keepsAsItCame(inputId, input.length)) {
      this.fault('put:store');
      return this.storeBlob(inputId, input, lo, hi, inputId === LZ4 && c.lz4MayImprove(input.length));
    }
    if (c.primary === RAW || this.deferCompression) {
      this.fault('put:store');
      return this.storeBlob(RAW, raw, lo, hi, c.primary !== RAW);
    }
    this.fault('put:encode');
    const encoded = c.encode(raw, this.putOut);
    this.fault('put:store');
    return this.storeBlob(encoded.codec, encoded.payload, lo, hi, false);
  }

  private storeBlob(codec: number, payload: Uint8Array, lo: number, hi: number, pending: boolean): number {
    const size = HDR + payload.length;
    const slabId = this.allocateRam(size, true);
    const slab = this.ram.slabs[slabId]!;
    const at = this.ram.used[slabId]!;
    const id = this.blobs.allocate();
    writeHeader(slab, at, codec, id, payload.length, lo);
    slab.set(payload, at + HDR);
    this.ram.used[slabId] = at + size;
    this.ram.addLive(slabId, size);
    const b = this.blobs;
    b.codec[id] = codec;
    b.tier[id] = TIER_RAM;
    b.length[id] = payload.length;
    b.refs[id] = 1;
    b.home[id] = slabId;
    b.offset[id] = at;
    b.hashLo[id] = lo;
    b.hashHi[id] = hi;
    if (pending) {
      b.pending[id] = 1;
      this.ram.addPending(slabId, 1);
    }
    b.link(id);
    return id;
  }

  /**
   * A slab (made the head) whose tail takes `size` bytes. With `mayReclaim`, makes room under the
   * budget by compacting, compressing pending records, recompressing or offloading; otherwise
   * returns -1 when there is no room.
   */
  private allocateRam(size: number, mayReclaim: boolean): number {
    for (let guard = 0; ; guard++) {
      if (this.ram.headFits(size)) return this.ram.head;
      if (this.ram.switchToRoomiest(size, this.slabBytes / 16)) return this.ram.head;
      if (this.ramBytes() + this.slabBytes <= this.budget) return this.ram.newSlab();
      if (!mayReclaim) return -1;
      if (guard > 4 * this.ram.slabCount + 16) {
        throw new Error(`checkpoint store could not make room for ${size} bytes under the RAM budget`);
      }
      this.reclaim(size);
    }
  }

  /**
   * Frees RAM under the budget, cheapest first: compact a slab with holes; compress the pending
   * records of the coldest slab holding some (synchronously: this is the only time compression runs
   * on the commit path when it is deferred); else clean the coldest slab (strong tier, offload).
   */
  private reclaim(size: number): void {
    if (this.disk?.shouldCompact(DISK_COMPACT_MIN_DEAD_BYTES)) this.compactDisk(false);
    const holes = this.ram.mostDead();
    if (holes >= 0 && this.ram.used[holes]! - this.ram.live[holes]! >= Math.max(size, this.slabBytes / 8)) {
      this.rewriteSlab(holes, 'compact');
      return;
    }
    const pendingSlab = this.ram.coldestPending();
    if (pendingSlab >= 0) {
      this.counters.compressedUnderPressure += this.rewriteSlab(pendingSlab, 'compress');
      return;
    }
    const victim = this.ram.coldest();
    if (victim < 0) throw new Error('checkpoint store has no slab to reclaim');
    this.counters.compressedUnderPressure += this.rewriteSlab(victim, 'clean');
  }

  /**
   * Rewrites a slab in place with only its live records.
   * - `compact`: records are copied as they are.
   * - `compress`: pending records are compressed under the policy (until `deadline`, and at least
   *   one), the others copied.
   * - `clean` (RAM pressure): pending records are compressed, and kept when that shrank them; with
   *   the strong tier, LZ4 records are recompressed with zstd when smaller; the rest is offloaded.
   * Everything is rebuilt in the keep buffer first, and the offload write (the only step that can
   * fail for a reason other than a bug) comes before any change: a throw leaves slab and tables as
   * they were. Returns the number of records compressed.
   */
  private rewriteSlab(slabId: number, mode: 'compact' | 'compress' | 'clean', deadline = Infinity): number {
    const src = this.ram.slabs[slabId]!;
    const used = this.ram.used[slabId]!;
    const keep = this.keepSlabBuffer();
    const b = this.blobs;
    const c = this.compressor;
    // Per kept record: blob id, offset in the slab, codec, payload length, 1 if it left the pending set.
    const kept: number[] = [];
    // Per evicted record: blob id, offset in the evict buffer.
    const evicted: number[] = [];
    let w = 0;
    let e = 0;
    let compressed = 0;
    let recompressed = 0;
    let evict: Uint8Array | null = null;
    for (let off = 0; off < used; ) {
      const header = readHeader(src, off);
      if (header === null) throw new Error(`checkpoint store slab ${slabId} is corrupt at ${off}`);
      const size = HDR + header.payloadLength;
      const id = header.blobId;
      const live = b.tier[id] === TIER_RAM && b.home[id] === slabId && b.offset[id] === off;
      if (live) {
        const codec = header.codec;
        const payload = src.subarray(off + HDR, off + size);
        const pending = b.pending[id] === 1;
        let handled = false;
        if (
          pending &&
          (mode === 'clean' || (mode === 'compress' && (compressed === 0 || performance.now() < deadline)))
        ) {
          this.fault('compress:encode');
          let page = payload;
          if (codec !== RAW) {
            lz4DecompressInto(payload, this.reclaimPage);
            page = this.reclaimPage;
          }
          const enc = c.encode(page, this.rewriteOut, codec === LZ4 ? payload : null);
          compressed++;
          if (mode === 'compress' || enc.payload.length < header.payloadLength) {
            writeHeader(keep, w, enc.codec, id, enc.payload.length, header.hashLo);
            keep.set(enc.payload, w + HDR);
            kept.push(id, w, enc.codec, enc.payload.length, 1);
            w += HDR + enc.payload.length;
            handled = true;
          }
        } else if (mode === 'clean' && c.strongTier && codec === LZ4) {
          lz4DecompressInto(payload, this.reclaimPage);
          const n = this.zstd!.compress(this.reclaimPage, this.rewriteOut.zstd);
          if (n < header.payloadLength) {
            writeHeader(keep, w, ZSTD, id, n, header.hashLo);
            keep.set(this.rewriteOut.zstd.subarray(0, n), w + HDR);
            kept.push(id, w, ZSTD, n, pending ? 1 : 0);
            w += HDR + n;
            recompressed++;
            handled = true;
          }
        } else if (mode !== 'clean') {
          keep.set(src.subarray(off, off + size), w);
          kept.push(id, w, codec, header.payloadLength, 0);
          w += size;
          handled = true;
        }
        if (!handled) {
          evict ??= this.evictSlabBuffer();
          evict.set(src.subarray(off, off + size), e);
          evicted.push(id, e);
          e += size;
        }
      }
      off += size;
    }
    if (e > 0) {
      if (this.disk === null) throw new Error('checkpoint store has no offload directory to evict to');
      const where = this.disk.append(evict!.subarray(0, e));
      for (let j = 0; j < evicted.length; j += 2) {
        const id = evicted[j]!;
        b.tier[id] = TIER_DISK;
        b.home[id] = where.segment;
        b.offset[id] = where.offset + evicted[j + 1]!;
        if (b.pending[id] === 1) {
          b.pending[id] = 0;
          this.ram.addPending(slabId, -1);
        }
      }
      this.counters.evictedRecords += evicted.length / 2;
    }
    src.set(keep.subarray(0, w), 0);
    for (let j = 0; j < kept.length; j += 5) {
      const id = kept[j]!;
      b.offset[id] = kept[j + 1]!;
      b.codec[id] = kept[j + 2]!;
      b.length[id] = kept[j + 3]!;
      if (kept[j + 4] === 1 && b.pending[id] === 1) {
        b.pending[id] = 0;
        this.ram.addPending(slabId, -1);
      }
    }
    this.counters.recompressedRecords += recompressed;
    const liveBefore = this.ram.live[slabId]!;
    this.ram.live[slabId] = w;
    this.ram.liveBytes += w - liveBefore;
    this.ram.used[slabId] = w;
    this.counters.slabCompactions++;
    if (mode === 'clean') this.ram.makeHead(slabId);
    return compressed;
  }

  /**
   * Keeps RAM waste (dead records, unused slab tails, empty slabs beyond the reserve) under a
   * fraction of the slabs (one slab and no reserve with `force`) by dropping empty slabs, moving the
   * records of the sparsest slab into the tails of denser ones, or compacting in place. Never does
   * I/O. At least one step runs; returns false when it stopped at `deadline` with waste left.
   */
  private tidyRam(force: boolean, deadline = Infinity): boolean {
    if (force) this.reserveSlabs = 0;
    const ram = this.ram;
    const slab = this.slabBytes;
    const reserve = Math.min(this.reserveSlabs, RESERVE_MAX_SLABS);
    let empties = ram.emptyCount();
    const overAllowance = () => {
      const waste = ram.byteLength - ram.liveBytes - Math.min(empties, reserve) * slab;
      return waste > (force ? slab : Math.max(2 * slab, ram.byteLength * TIDY_WASTE_FRACTION));
    };
    // Empty slabs beyond the reserve go first: dropping one costs nothing.
    while (empties > reserve && overAllowance()) {
      const empty = ram.emptySlab();
      if (empty < 0) break;
      ram.freeSlab(empty);
      empties--;
    }
    // Each step frees a slab, moves bytes from a slab into denser ones, or removes holes, so the
    // loop cannot cycle; the guard only bounds it.
    for (let guard = 0, limit = 4 * ram.slabCount + 4; guard < limit && overAllowance(); guard++) {
      if (guard > 0 && performance.now() >= deadline) return false;
      const sparse = ram.sparsest(empties <= reserve);
      if (sparse < 0) return true;
      const live = ram.live[sparse]!;
      if (live === 0) {
        ram.freeSlab(sparse);
        empties--;
        continue;
      }
      if (ram.freeTailBytes(sparse, live) >= live && this.evacuate(sparse) > 0) continue;
      const holes = ram.mostDead();
      if (holes < 0) return true;
      this.rewriteSlab(holes, 'compact');
    }
    return true;
  }

  /**
   * Moves the live records of a slab into the free tails of slabs at least as full (best fit first);
   * drops it if it empties, else compacts what is left. Returns the bytes moved.
   */
  private evacuate(slabId: number): number {
    const src = this.ram.slabs[slabId]!;
    const used = this.ram.used[slabId]!;
    const minLive = Math.max(1, this.ram.live[slabId]!);
    const b = this.blobs;
    let dest = -1;
    let moved = 0;
    for (let off = 0; off < used; ) {
      const header = readHeader(src, off);
      if (header === null) throw new Error(`checkpoint store slab ${slabId} is corrupt at ${off}`);
      const size = HDR + header.payloadLength;
      const id = header.blobId;
      if (b.tier[id] === TIER_RAM && b.home[id] === slabId && b.offset[id] === off) {
        if (dest < 0 || this.ram.used[dest]! + size > this.slabBytes) {
          dest = this.ram.bestFit(size, slabId, minLive);
          if (dest < 0) break;
        }
        const at = this.ram.used[dest]!;
        this.ram.slabs[dest]!.set(src.subarray(off, off + size), at);
        this.ram.used[dest] = at + size;
        this.ram.addLive(dest, size);
        b.home[id] = dest;
        b.offset[id] = at;
        this.ram.live[slabId]! -= size;
        this.ram.liveBytes -= size;
        moved += size;
        if (b.pending[id] === 1) {
          this.ram.addPending(dest, 1);
          this.ram.addPending(slabId, -1);
        }
      }
      off += size;
    }
    if (this.ram.live[slabId] === 0) this.ram.freeSlab(slabId);
    else if (moved > 0) this.rewriteSlab(slabId, 'compact');
    return moved;
  }

  /**
   * Copies the live records of mostly dead segments (all dead-holding ones with `force`) to the head
   * segment and deletes them. A failed write leaves every record where it was.
   */
  private compactDisk(force: boolean): void {
    const disk = this.disk!;
    const chunk = this.evictSlabBuffer();
    const keep = this.keepSlabBuffer();
    const b = this.blobs;
    if (force) disk.sealHead();
    for (const { segment, dead, size } of disk.deadSegments()) {
      if (!force && dead * 2 < size) continue;
      let pos = 0;
      while (pos < size && disk.liveOf(segment) > 0) {
        const n = Math.min(this.slabBytes, size - pos);
        disk.read(segment, pos, n, chunk);
        let off = 0;
        let w = 0;
        const moved: number[] = [];
        while (off + HDR <= n) {
          const header = readHeader(chunk, off);
          if (header === null)
            throw new OffloadCorruptError(disk.pathOf(segment), pos + off, 'bad record header');
          const rsize = HDR + header.payloadLength;
          if (off + rsize > n) break;
          const id = header.blobId;
          if (b.tier[id] === TIER_DISK && b.home[id] === segment && b.offset[id] === pos + off) {
            keep.set(chunk.subarray(off, off + rsize), w);
            moved.push(id, w, rsize);
            w += rsize;
          }
          off += rsize;
        }
        if (off === 0) throw new OffloadCorruptError(disk.pathOf(segment), pos, 'record larger than a slab');
        if (w > 0) {
          const where = disk.append(keep.subarray(0, w));
          for (let j = 0; j < moved.length; j += 3) {
            const id = moved[j]!;
            b.home[id] = where.segment;
            b.offset[id] = where.offset + moved[j + 1]!;
            disk.markDead(segment, moved[j + 2]!);
          }
        }
        pos += off;
      }
      this.counters.segmentCompactions++;
    }
  }

  private releaseRef(id: number): void {
    const b = this.blobs;
    const left = --b.refs[id]!;
    if (left > 0) return;
    const size = HDR + b.length[id]!;
    if (b.pending[id] === 1) this.ram.addPending(b.home[id]!, -1);
    if (b.tier[id] === TIER_RAM) this.ram.markDead(b.home[id]!, size);
    else if (b.tier[id] === TIER_DISK) this.disk!.markDead(b.home[id]!, size);
    b.unlink(id);
    b.release(id);
  }

  /** Decodes blob `id` into `target` (one page); a disk record is verified against the page hash. */
  private readBlob(id: number, target: Uint8Array, promote: boolean): void {
    const b = this.blobs;
    const len = b.length[id]!;
    if (b.tier[id] === TIER_RAM) {
      const slab = this.ram.slabs[b.home[id]!]!;
      const at = b.offset[id]! + HDR;
      this.decodePayload(b.codec[id]!, slab.subarray(at, at + len), target, 0);
      return;
    }
    const disk = this.disk!;
    const segment = b.home[id]!;
    const pos = b.offset[id]!;
    const record = this.diskRecord;
    disk.read(segment, pos, HDR + len, record);
    this.verifyDiskRecord(id, record, 0, target, 0, disk.pathOf(segment), pos);
    if (promote) {
      const slabId = this.allocateRam(HDR + len, false);
      if (slabId < 0) return;
      const at = this.ram.used[slabId]!;
      this.ram.slabs[slabId]!.set(record.subarray(0, HDR + len), at);
      this.ram.used[slabId] = at + HDR + len;
      this.ram.addLive(slabId, HDR + len);
      b.tier[id] = TIER_RAM;
      b.home[id] = slabId;
      b.offset[id] = at;
      disk.markDead(segment, HDR + len);
      this.counters.promotedRecords++;
    }
  }

  /** Checks a record read from disk and decodes it into `target` at `targetAt`. */
  private verifyDiskRecord(
    id: number,
    buf: Uint8Array,
    at: number,
    target: Uint8Array,
    targetAt: number,
    path: string,
    pos: number,
  ): void {
    const b = this.blobs;
    const len = b.length[id]!;
    const header = readHeader(buf, at);
    if (
      header === null ||
      header.blobId !== id ||
      header.payloadLength !== len ||
      header.codec !== b.codec[id]
    ) {
      throw new OffloadCorruptError(path, pos, 'record header does not match the page it should hold');
    }
    try {
      this.decodePayload(header.codec, buf.subarray(at + HDR, at + HDR + len), target, targetAt);
    } catch (err) {
      throw Object.assign(new OffloadCorruptError(path, pos, 'payload does not decode'), { cause: err });
    }
    const hash = this.hashPage(target.subarray(targetAt, targetAt + this.pageSize));
    if (Number(hash & 0xffffffffn) !== b.hashLo[id] || Number((hash >> 32n) & 0xffffffffn) !== b.hashHi[id]) {
      throw new OffloadCorruptError(path, pos, 'page hash does not match');
    }
  }

  private decodePayload(codec: number, payload: Uint8Array, target: Uint8Array, at: number): void {
    const p = this.pageSize;
    if (codec === RAW) {
      target.set(payload, at);
    } else if (codec === LZ4) {
      lz4DecompressInto(payload, at === 0 && target.length === p ? target : target.subarray(at, at + p));
    } else if (codec === ZSTD) {
      if (this.zstd === null) throw new CodecUnavailableError('zstd', 'a stored page needs zstd-napi');
      this.zstd.decompressInto(
        payload,
        at === 0 && target.length === p ? target : target.subarray(at, at + p),
      );
    } else {
      throw new Error(`checkpoint store holds a record with unknown codec ${codec}`);
    }
  }

  /** Reads offloaded pages in segment order, a slab-sized span per read. */
  private materializeFromDisk(pages: number[], u8: Uint8Array): void {
    const disk = this.disk!;
    const b = this.blobs;
    const p = this.pageSize;
    const ids = pages.map((page) => this.pageBlob[page]!);
    const order = pages.map((_, j) => j);
    order.sort((x, y) => b.home[ids[x]!]! - b.home[ids[y]!]! || b.offset[ids[x]!]! - b.offset[ids[y]!]!);
    const chunk = this.evictSlabBuffer();
    for (let j = 0; j < order.length; ) {
      const first = ids[order[j]!]!;
      const segment = b.home[first]!;
      const start = b.offset[first]!;
      let end = start + HDR + b.length[first]!;
      let k = j + 1;
      while (k < order.length) {
        const id = ids[order[k]!]!;
        const recEnd = b.offset[id]! + HDR + b.length[id]!;
        if (b.home[id] !== segment || recEnd - start > this.slabBytes) break;
        end = Math.max(end, recEnd);
        k++;
      }
      disk.read(segment, start, end - start, chunk);
      for (let q = j; q < k; q++) {
        const page = pages[order[q]!]!;
        const id = ids[order[q]!]!;
        this.verifyDiskRecord(
          id,
          chunk,
          b.offset[id]! - start,
          u8,
          page * p,
          disk.pathOf(segment),
          b.offset[id]!,
        );
      }
      j = k;
    }
  }

  /**
   * Recomputes every refcount and byte count from the tables and throws on any mismatch. Test-only:
   * proves that no failure path leaks or double-frees a record.
   */
  verifyIntegrity(): void {
    const b = this.blobs;
    const expected = new Map<number, number>();
    const add = (id: number) => {
      if (id >= 0) expected.set(id, (expected.get(id) ?? 0) + 1);
    };
    for (let page = 0; page < this.pageCount; page++) add(this.pageBlob[page]!);
    for (let j = 0; j < this.stagedCount; j++) add(this.stagedRef[this.stagedList[j]!]!);
    let liveBlobs = 0;
    const ramLive = new Map<number, number>();
    const ramPending = new Map<number, number>();
    for (let id = 0; id < b.capacity; id++) {
      if (b.tier[id] === 0) continue;
      liveBlobs++;
      if (b.refs[id] !== (expected.get(id) ?? 0)) {
        throw new Error(`blob ${id} has ${b.refs[id]} refs, expected ${expected.get(id) ?? 0}`);
      }
      if (b.pending[id] === 1 && (b.tier[id] !== TIER_RAM || (b.codec[id] !== RAW && b.codec[id] !== LZ4))) {
        throw new Error(`blob ${id} is pending but stored as codec ${b.codec[id]} in tier ${b.tier[id]}`);
      }
      if (b.tier[id] === TIER_RAM) {
        const slab = b.home[id]!;
        ramLive.set(slab, (ramLive.get(slab) ?? 0) + HDR + b.length[id]!);
        if (b.pending[id] === 1) ramPending.set(slab, (ramPending.get(slab) ?? 0) + 1);
        const header = readHeader(this.ram.slabs[slab]!, b.offset[id]!);
        if (header === null || header.blobId !== id) throw new Error(`blob ${id} record header is wrong`);
      }
    }
    if (liveBlobs !== b.live || liveBlobs !== expected.size) {
      throw new Error(`${liveBlobs} blobs in use, table says ${b.live}, pages reference ${expected.size}`);
    }
    let total = 0;
    let pendingTotal = 0;
    for (let slab = 0; slab < this.ram.slabs.length; slab++) {
      if (!this.ram.slabs[slab]) continue;
      const live = ramLive.get(slab) ?? 0;
      if (this.ram.live[slab] !== live)
        throw new Error(`slab ${slab} live ${this.ram.live[slab]}, expected ${live}`);
      const pending = ramPending.get(slab) ?? 0;
      if (this.ram.pending[slab] !== pending)
        throw new Error(`slab ${slab} has ${this.ram.pending[slab]} pending records, expected ${pending}`);
      total += live;
      pendingTotal += pending;
    }
    if (total !== this.ram.liveBytes)
      throw new Error(`RAM live bytes ${this.ram.liveBytes}, expected ${total}`);
    if (pendingTotal !== this.ram.pendingTotal)
      throw new Error(`${this.ram.pendingTotal} pending records counted, expected ${pendingTotal}`);
    if (this.ramBytes() > this.budget) throw new Error(`RAM ${this.ramBytes()} over budget ${this.budget}`);
  }
}
