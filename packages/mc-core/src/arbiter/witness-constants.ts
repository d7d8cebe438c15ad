/** Address the witness listens on, and the client connects to, when none is given. */
export const DEFAULT_WITNESS_HOST = '127.0.0.1';

/** Deadline of one witness request (connecting included), in milliseconds. */
export const DEFAULT_WITNESS_REQUEST_TIMEOUT_MS = 1000;

/** Subtracted from every witness grant's validity, in milliseconds. */
export const DEFAULT_WITNESS_DRIFT_MARGIN_MS = 50;

/** Largest `ttlMs` the witness accepts (it travels as a u32; also the largest Node timer), in milliseconds. */
export const MAX_WITNESS_TTL_MS = 2 ** 31 - 1;

/** Largest node name, in UTF-8 bytes (it travels behind a one-byte length). */
export const MAX_WITNESS_NODE_BYTES = 255;

/** Largest witness message payload, in bytes: requests are tiny, and a bigger frame is refused from its header. */
export const MAX_WITNESS_PAYLOAD_BYTES = 4096;

/** Version written into the witness state file. */
export const WITNESS_STATE_VERSION = 1;
