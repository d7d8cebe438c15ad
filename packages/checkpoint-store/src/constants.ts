/** Defaults and limits, with their units in their names. */

/** Default page size: the page size of x86-64 and of QEMU's target pages. */
export const DEFAULT_PAGE_SIZE_BYTES = 4096;
/** Smallest page size accepted. */
export const MIN_PAGE_SIZE_BYTES = 512;
/** Largest page size accepted: a stored record must fit several times into one RAM slab. */
export const MAX_PAGE_SIZE_BYTES = 65_536;
/** Default number of pages: 4 MiB of protected memory at the default page size. */
export const DEFAULT_PAGE_COUNT = 1024;
/** Largest page count accepted (the page table is indexed with 32-bit integers). */
export const MAX_PAGE_COUNT = 1 << 24;
/** Default RAM budget: none, nothing is ever offloaded. */
export const DEFAULT_RAM_BUDGET_BYTES = Number.POSITIVE_INFINITY;
/** Default codec policy. */
export const DEFAULT_CODEC_POLICY = 'tiered';
/**
 * Default for deferring compression: pages are committed raw and compressed afterwards, off the
 * commit path (the secondary ACKs only after the commit, so the commit is on the critical path).
 */
export const DEFAULT_DEFER_COMPRESSION = true;
/**
 * Default share of one core that automatic background compression may use, averaged over its
 * slices and the gaps it leaves between them.
 */
export const DEFAULT_BACKGROUND_CPU_SHARE = 0.5;
/**
 * Length of one automatic background slice: the longest the event loop waits for background work
 * (plus at most one page's compression), so a checkpoint arriving meanwhile is delayed that much.
 */
export const BACKGROUND_SLICE_MS = 1;
/** Default time budget of one `maintain()` call. */
export const DEFAULT_MAINTAIN_BUDGET_MS = 5;
/**
 * Under `tiered`, a page whose LZ4 encoding is larger than this fraction of the page is also tried
 * with zstd: text and other byte-oriented data, where zstd's entropy coding saves the most.
 */
export const LZ4_POOR_FRACTION = 0.5;
/**
 * zstd replaces LZ4 only when it saves at least this fraction of the LZ4 encoding: zstd decodes
 * several times slower, and failover decodes every page.
 */
export const ZSTD_MIN_GAIN_FRACTION = 1 / 8;
/** zstd level of the strong tier (QEMU's multifd uses the same). */
export const ZSTD_LEVEL = 1;

/**
 * A compressed page is kept only when it saves at least this fraction of the page: decoding a page
 * that barely shrank costs more at failover than the few bytes it saves.
 */
export const MIN_SAVING_FRACTION = 1 / 32;

/**
 * Stored records live in RAM slabs of this many pages (128 KiB at 4 KiB pages): the unit of RAM
 * allocation, of compaction and of offload.
 */
export const SLAB_PAGES = 32;
/**
 * Most empty slabs kept after a commit for the next checkpoint to fill (2 MiB at 4 KiB pages):
 * allocating a slab on the commit path costs page faults and garbage collection.
 */
export const RESERVE_MAX_SLABS = 16;
/** A record is a 16-byte header followed by the encoded page. */
export const RECORD_HEADER_BYTES = 16;
/** Version byte written into every record header. */
export const RECORD_VERSION = 1;
/** Offload segment files are closed and a new one started past this size. */
export const SEGMENT_MAX_BYTES = 8 * 1024 * 1024;
/** A RAM slab whose dead bytes exceed this fraction of the slab is compacted in place. */
export const SLAB_COMPACT_DEAD_FRACTION = 0.5;
/** Segments are compacted once dead bytes on disk exceed live bytes and this many bytes. */
export const DISK_COMPACT_MIN_DEAD_BYTES = SEGMENT_MAX_BYTES;
/** Prefix of the private folder every store creates inside the offload directory. */
export const OFFLOAD_FOLDER_PREFIX = 'mc-checkpoint-store-';

/** XBZRLE run lengths are limited to 14 bits (at most two ULEB128 bytes), as in QEMU. */
export const XBZRLE_MAX_RUN_BYTES = 16_383;
/**
 * Pages decoded per WebAssembly call when materializing LZ4 pages, as bytes of input and of output
 * (64 pages of 4 KiB): one call and one copy out per batch instead of per page.
 */
export const LZ4_BATCH_BYTES = 256 * 1024;
/** Deltas up to this length decode in JavaScript; longer ones (many runs) in the SIMD kernel. */
export const XBZRLE_JS_DECODE_MAX_DELTA_BYTES = 128;
/** After a commit, RAM slabs are tidied once dead records and unused tails pass this fraction. */
export const TIDY_WASTE_FRACTION = 0.2;
