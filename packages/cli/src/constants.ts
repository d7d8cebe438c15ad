/** Where a node serves `/status` and `/metrics` when `--metrics` gives no host. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';
/** Port of the status endpoint when `--metrics` is not given: 0 picks a free one (printed at start). */
export const DEFAULT_METRICS_PORT = 0;
/** Default guest memory of the KV service, MiB. */
export const DEFAULT_NODE_MEMORY_MIB = 64;
/** Default hash slots of the KV table. */
export const DEFAULT_NODE_SLOTS = 65_536;
/** Default epoch of a primary, ms. */
export const DEFAULT_NODE_EPOCH_MS = 20;
/** Default silent heartbeat intervals (20 ms each) before the peer is convicted. */
export const DEFAULT_DETECT_MULTIPLIER = 5;
/** Default time without main-loop progress after which the peer counts as hung, ms. */
export const DEFAULT_HANG_TIMEOUT_MS = 500;
/** Deadline of one `mcft status` request, ms. */
export const STATUS_REQUEST_TIMEOUT_MS = 3000;

/** `mcft demo` defaults: run length, s. */
export const DEFAULT_DEMO_DURATION_S = 20;
/** `mcft demo` defaults: epoch, ms. */
export const DEFAULT_DEMO_EPOCH_MS = 20;
/** `mcft demo` defaults: guest memory, MiB. */
export const DEFAULT_DEMO_MEMORY_MIB = 32;
/** `mcft demo` defaults: concurrent client connections. */
export const DEFAULT_DEMO_CLIENTS = 8;
/** `mcft demo` defaults: workload mix, percent of each command. */
export const DEFAULT_DEMO_MIX = 'set=50,get=30,incr=20';
/** Keys each demo client owns (and overwrites). */
export const DEMO_KEYS_PER_CLIENT = 512;
/** The fault is injected at this fraction of the run. */
export const DEMO_FAULT_AT_FRACTION = 0.4;
/** A demo client gives up on a request (and its connection) after this long without a reply, ms. */
export const DEMO_REQUEST_TIMEOUT_MS = 1500;
/** How often the live display and the plain progress lines refresh, ms. */
export const DEMO_REFRESH_MS = 250;
/** How often a non-TTY demo prints a progress line, ms. */
export const DEMO_PLAIN_LINE_MS = 2000;
/** How long each demo process has to report ready, ms. */
export const DEMO_START_TIMEOUT_MS = 30_000;
/** How long the demo waits for a takeover after the fault, ms. */
export const DEMO_TAKEOVER_TIMEOUT_MS = 20_000;
