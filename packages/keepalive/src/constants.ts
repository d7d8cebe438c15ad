/**
 * Defaults, with their units in their names. Every option of {@link createFailureDetector} and
 * `createKeepalive` falls back to one of these.
 */

/** How often a heartbeat is sent, and how often the peer is expected to send one. BFD's transmit interval. */
export const HEARTBEAT_INTERVAL_MS = 20;

/**
 * Deadline rule: the peer is convicted after `multiplier x interval` without a sign of life
 * (BFD's detect multiplier). 5 x 20 ms = 100 ms.
 */
export const DETECT_MULTIPLIER = 5;

/** Phi accrual: conviction threshold. Akka's default; phi 8 means odds of about 1 in 10^8 of a false alarm. */
export const PHI_THRESHOLD = 8;

/**
 * Phi accrual: floor of the fitted standard deviation. Loopback heartbeats arrive with a jitter of a
 * fraction of a millisecond; without a floor phi would convict after one slightly late heartbeat.
 */
export const PHI_MIN_STD_DEV_MS = 10;

/** Phi accrual: pause added to the fitted mean, the slack a GC or scheduling hiccup of the sender gets. */
export const PHI_ACCEPTABLE_PAUSE_MS = 40;

/** Phi accrual: how many recent inter-arrival times the distribution is fitted to. */
export const PHI_WINDOW_SIZE = 100;

/**
 * Fraction of the conviction level at which the peer becomes suspect: half the deadline, or half the
 * phi threshold.
 */
export const SUSPECT_FRACTION = 0.5;

/**
 * A peer whose heartbeats keep arriving but whose main-loop progress counter has not moved for this
 * long is convicted as hung. Larger than the detection window because a busy but healthy main loop
 * (a checkpoint capture, a GC) stalls for tens of milliseconds at a time.
 */
export const HANG_TIMEOUT_MS = 500;

/** Flap damping: hold in suspect after the first recent flap; doubles with every further one. */
export const FLAP_HOLD_MS = 100;

/** Flap damping: the hold never grows beyond this. */
export const MAX_FLAP_HOLD_MS = 3_200;

/** Flap damping: a recovery older than this no longer counts as a recent flap. */
export const FLAP_WINDOW_MS = 30_000;

/** A peer never heard from is convicted after this long. */
export const STARTUP_TIMEOUT_MS = 10_000;

/** How often the main thread bumps its progress counter and evaluates the detector. */
export const CHECK_INTERVAL_MS = 5;

/** A heartbeat that arrives more than this many expected intervals after the previous one is late. */
export const LATE_FACTOR = 2;

/**
 * The receiving worker counts as stale (so its silence is not the peer's) when it has not run for this
 * many heartbeat intervals.
 */
export const RECEIVER_STALE_INTERVALS = 3;

/** Heartbeats the worker can hand over before the main thread must drain them (about 20 s at 20 ms). */
export const ARRIVAL_RING_SLOTS = 1_024;

/** Retired sender incarnations remembered so that their old heartbeats count as replays. */
export const RETIRED_INCARNATIONS = 16;

/** How long `close()` waits for the worker to send its goodbye and close its socket before terminating it. */
export const CLOSE_TIMEOUT_MS = 1_000;

/** Address the heartbeat socket binds to; loopback, so nothing is exposed until asked for. */
export const DEFAULT_BIND_ADDRESS = '127.0.0.1';

/**
 * Authenticated heartbeats: sequence numbers remembered below the highest one seen, per sender
 * incarnation. 64 heartbeats is 1.3 s at 20 ms, far more reordering than a network shows; older
 * ones are refused as stale.
 */
export const REPLAY_WINDOW_SIZE = 64;

/** Shortest heartbeat secret accepted: 128 bits. */
export const MIN_HEARTBEAT_SECRET_BYTES = 16;
