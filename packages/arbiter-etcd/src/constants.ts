/** etcd client URL used when `hosts` is not given. */
export const DEFAULT_HOSTS = 'http://127.0.0.1:2379';

/** Key prefix used when `prefix` is not given; every key this arbiter writes lives below it. */
export const DEFAULT_PREFIX = 'microcheckpoint/arbiter';

/** Deadline of each etcd request, in milliseconds. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 2000;

/** Subtracted from every grant's validity, in milliseconds. */
export const DEFAULT_DRIFT_MARGIN_MS = 100;

/** Largest `ttlMs` accepted, in milliseconds (about 24.8 days, the largest Node timer). */
export const MAX_TTL_MS = 2 ** 31 - 1;

/** Largest node name, in UTF-8 bytes. */
export const MAX_NODE_BYTES = 255;

/** etcd leases are granted in whole seconds. */
export const LEASE_GRANULARITY_MS = 1000;

/**
 * Generations are written as fixed-width decimal so that etcd's byte-wise ordering of keys follows
 * numeric order: 16 digits hold every safe integer (2^53 - 1 has 16 digits).
 */
export const GENERATION_DIGITS = 16;

/**
 * How often one acquire re-reads and retries when a concurrent acquire changed the state between its
 * read and its transaction. Each retry re-decides from fresh state, so one retry almost always ends it.
 */
export const ACQUIRE_MAX_ATTEMPTS = 4;

/**
 * Pause between keepalive attempts when several members are listed and one failed, in milliseconds.
 * etcd3 sends each keepalive stream to a random member; a member that is down refuses at once.
 */
export const KEEPALIVE_RETRY_PAUSE_MS = 10;
