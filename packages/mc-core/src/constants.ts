/** Default size of guest memory: 64 MiB. */
export const DEFAULT_GUEST_MEMORY_BYTES = 64 * 1024 * 1024;
/** Default page size, the unit of dirty tracking and of capture: 4 KiB, like the MMU's. */
export const DEFAULT_PAGE_SIZE_BYTES = 4096;
/**
 * Smallest page size accepted. The WebAssembly kernel compares and copies pages 64 bytes at a time,
 * and below a few hundred bytes the bitmap and the run table cost more than the pages they describe.
 */
export const MIN_PAGE_SIZE_BYTES = 256;
/** Largest page size accepted: 16 MiB. */
export const MAX_PAGE_SIZE_BYTES = 16 * 1024 * 1024;
/** WebAssembly memories grow and are sized in 64 KiB pages. */
export const WASM_PAGE_BYTES = 65536;
/**
 * A wasm32 memory addresses at most 4 GiB. Guest memory, its bitmap, run tables, the scan shadow and
 * both staging slabs share that one memory, so their sum must fit.
 */
export const MAX_LAYOUT_BYTES = 65536 * WASM_PAGE_BYTES;
/** Regions inside the memory start on this boundary, so copies start cache-line and page aligned. */
export const REGION_ALIGN_BYTES = 4096;
/**
 * Staging slabs: capture n fills one while checkpoint n-1 may still be shipping from the other, so
 * shipping overlaps running. A third capture before the first is released is refused.
 */
export const STAGING_SLAB_COUNT = 2;
/** A run descriptor in the run table: first page, page count, byte offset in the slab (three u32). */
export const RUN_DESCRIPTOR_WORDS = 3;
/**
 * From this many captured bytes on (more than the caches hold), the WebAssembly kernel leaves runs of
 * at least `LONG_RUN_BYTES` to `copyWithin` from JavaScript. Measured on these machines: for copies
 * that stream from DRAM, V8's `copyWithin` on shared memory runs about a quarter faster than wasm
 * `memory.copy`, while on cache-resident data `memory.copy` is the faster one by a third.
 */
export const LARGE_CAPTURE_BYTES = 8 * 1024 * 1024;
/** Runs at least this long go to `copyWithin` in a large capture: 64 KiB. */
export const LONG_RUN_BYTES = 64 * 1024;

/** Default time a guest may take to reach a safe point after `pause()`. */
export const DEFAULT_PAUSE_TIMEOUT_MS = 5_000;
/** Default hard cap on requests queued in an in-process guest (while paused or busy). */
export const DEFAULT_MAX_QUEUED_REQUESTS = 65_536;
/** Default queue depth at which `submit()` starts returning false: wait for `'drain'` then. */
export const DEFAULT_QUEUE_HIGH_WATER_MARK = 4_096;
/**
 * Requests an in-process guest runs back to back before it yields to the event loop, so timers (the
 * epoch timer among them) and sockets are not starved by a long queue.
 */
export const DEFAULT_REQUESTS_PER_TURN = 1_024;
/** Default time a worker guest's `run()` has to return after `close()` before the worker is terminated. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 2_000;

/** Default epoch length: a checkpoint every 20 ms (Remus ran at 25 ms; QEMU MC's default was 100 ms). */
export const DEFAULT_EPOCH_MS = 20;
/**
 * Default idleness before a checkpoint is taken early for waiting output: 1 ms. A request-response
 * client waits a whole epoch for every reply otherwise; checkpointing once the guest ran out of work
 * releases the replies after a checkpoint's round trip instead.
 */
export const DEFAULT_IDLE_CHECKPOINT_MS = 1;
/** Default shortest epoch an idle-output checkpoint may cut: 2 ms, so pauses stay a small share. */
export const DEFAULT_MIN_EPOCH_MS = 2;
/** Default largest page data carried by one CKPT_PAGES or SYNC_PAGES message: 1 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
/** Default most live sync passes before the first checkpoint is taken anyway (with the guest paused). */
export const DEFAULT_MAX_SYNC_PASSES = 8;
/** Default: a live sync pass carrying at most this many pages is the last one before the first checkpoint. */
export const DEFAULT_SYNC_CONVERGE_PAGES = 256;
/** Default checkpoints the secondary lets be in flight (shipped, not yet acknowledged). At most the slabs. */
export const DEFAULT_MAX_IN_FLIGHT = 1;
/** Default time the primary keeps trying to reach its secondary and finish the HELLO exchange. */
export const DEFAULT_ATTACH_TIMEOUT_MS = 10_000;
/** Default lease of an arbitration grant held by a node that acts alone; renewed every third of it. */
export const DEFAULT_ARBITER_TTL_MS = 5_000;
/** Default time `close()` waits for the last checkpoint's ACK and for the peer to end the session. */
export const DEFAULT_ENGINE_CLOSE_TIMEOUT_MS = 2_000;
/**
 * The default policy checkpoints early once the predicted checkpoint reaches this fraction of the
 * secondary's budget (its largest checkpoint), so an epoch never outgrows what the secondary accepts.
 */
export const SHORTEN_EPOCH_FRACTION = 0.5;
/**
 * When no checkpoint can be taken now (the one in flight holds the slot), the default policy pauses
 * the guest once the predicted checkpoint reaches this fraction of the budget. The prediction already
 * includes the expected wait for the ACK plus one policy interval, so the whole budget is the mark:
 * a pause costs the workload its progress, and the engine's budget rule backs a wrong estimate.
 */
export const PAUSE_BUDGET_FRACTION = 1;
/** Auto-converge: the first throttle step, percent of wall time the guest does not run. */
export const THROTTLE_START_PERCENT = 20;
/** Auto-converge: each further step (and each step back when easing), percent. */
export const THROTTLE_STEP_PERCENT = 10;
/** Auto-converge: the throttle never goes above this, percent (the guest always runs a little). */
export const THROTTLE_MAX_PERCENT = 99;
/**
 * Default time each throttle level is held before the default policy steps it again, ms: long enough
 * for the smoothed dirty rate to show what the last step did.
 */
export const DEFAULT_THROTTLE_STEP_MS = 100;
/**
 * The default policy eases the throttle one step only if the guest's estimated unthrottled dirty
 * rate, at the lower throttle, stays under this fraction of the link rate (hysteresis).
 */
export const THROTTLE_EASE_HEADROOM = 0.8;
/**
 * The engine gives the guest a dirty quota of this fraction of the budget, in pages: a guest that
 * reaches it waits at its next safe point (before its next request) until a capture empties the dirty
 * log. The rest of the budget covers what the guest writes between two of its safe points.
 */
export const DIRTY_QUOTA_FRACTION = 0.75;
/**
 * Far under its dirty quota, a guest counts the dirty bitmap at most every this many safe points (or
 * requests), leaving room for 8 pages per call before half the quota; from half on, at every one.
 * Counting costs about 2 µs per 64 MiB of guest memory.
 */
export const DIRTY_QUOTA_CHECK_STRIDE = 16;
/** A worker waiting on its dirty quota looks again this often, ms (a capture also wakes it). */
export const DIRTY_QUOTA_POLL_MS = 1;
/** Guests account their run time in slices of this length, ms, and sleep their share after each. */
export const THROTTLE_SLICE_MS = 2;
/** Default policy checks per epoch: `policyIntervalMs` defaults to `max(1, floor(epochMs / 10))`. */
export const POLICY_CHECKS_PER_EPOCH = 10;
/** Time constant of the smoothed dirty rate, ms (exponentially weighted over running time). */
export const DIRTY_RATE_SMOOTHING_MS = 100;
/** Weight of each new checkpoint in the smoothed link rate (exponential moving average). */
export const LINK_RATE_SMOOTHING = 0.25;
/**
 * Live sync: a pass that carried more than this fraction of the previous pass's pages does not
 * converge, and the engine throttles the guest one step up (auto-converge) instead of giving up.
 */
export const SYNC_NON_CONVERGENCE_RATIO = 0.5;
/** Pause times and checkpoint sizes kept for the status percentiles (the most recent ones). */
export const METRICS_WINDOW = 1024;
/** Default name of the protected workload, stamped on its output (io-cork's `source`). */
export const DEFAULT_WORKLOAD_SOURCE = 'workload';
/** Default receive ring of the RDMA-semantics transport on the secondary: 8 MiB, eight 1 MiB page messages. */
export const DEFAULT_RDMA_RING_BYTES = 8 * 1024 * 1024;
/** Default smallest page message the RDMA-semantics transport places with a one-sided write: one 4 KiB page. */
export const DEFAULT_RDMA_MIN_PLACED_BYTES = 4096;
