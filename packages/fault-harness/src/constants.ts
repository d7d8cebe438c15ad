/** Heartbeat interval of the nodes' keepalive (the keepalive package's default). */
export const HEARTBEAT_INTERVAL_MS = 20;
/**
 * Silent heartbeat intervals before a node convicts its peer. Ten rather than the default five:
 * the lab shares two loaded cores with other work, and a live node must not look dead.
 */
export const DETECT_MULTIPLIER = 10;
/** The detection deadline, the baseline of every recovery time. */
export const DETECTION_DEADLINE_MS = HEARTBEAT_INTERVAL_MS * DETECT_MULTIPLIER;
/** A node whose main loop makes no progress this long stops heartbeating (the keepalive hang guard). */
export const HANG_TIMEOUT_MS = 1000;
/** Epoch length of the protected KV service. */
export const EPOCH_MS = 20;
/** Lease asked of the file and witness arbiters by a node acting alone. */
export const LEASE_TTL_MS = 1500;
/** etcd leases are whole seconds, at least two. */
export const ETCD_LEASE_TTL_MS = 2000;
/** Guest memory of each KV node (small: nodes start fast, the table has room for the workload). */
export const NODE_MEMORY_MIB = 16;
/** Hash slots of the KV table. */
export const NODE_SLOT_COUNT = 8192;
/** Prefix of every namespace, link, temp dir and process this harness creates. */
export const LAB_PREFIX = 'mcf';
/** TCP ports inside each test host (every host has its own address, so they never collide). */
export const KV_PORT = 6379;
export const STATUS_PORT = 6380;
export const DATA_PORT = 7000;
export const WITNESS_PORT = 7100;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** Logical clients the workload runs (each with its own connection and register). */
export const DEFAULT_CLIENTS = 4;
/** Shared INCR counters. */
export const COUNTER_COUNT = 3;
/** A request unanswered this long is given up (outcome unknown) and the client looks for the service. */
export const REQUEST_TIMEOUT_MS = 2500;
/** A request unanswered this long makes the client ask both nodes whether a newer one serves. */
export const PROBE_AFTER_MS = 60;
/** Time after the last heal before the clients stop and the final state is read. */
export const SETTLE_MS = 1500;
/** How long a survivor may take to protect itself with the spare (full sync, first checkpoint). */
export const REPROTECT_TIMEOUT_MS = 15_000;
/** Upper bound on how much longer than planned a run's workload may go (the re-protection's wait). */
export const WORKLOAD_SLACK_MS = REPROTECT_TIMEOUT_MS + 5_000;
