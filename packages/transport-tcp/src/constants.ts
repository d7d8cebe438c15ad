/** First two bytes of every frame: ASCII "MC". */
export const FRAME_MAGIC = 0x4d43;
/** Wire format version; a peer speaking another version is refused. */
export const FRAME_VERSION = 1;
/** Fixed frame header: magic u16, version u8, type u8, flags u16, reserved u16, length u32, crc32c u32. */
export const FRAME_HEADER_BYTES = 16;
/** Largest frame type number: the type is one byte. */
export const MAX_FRAME_TYPE = 0xff;
/** Largest flags value: flags are two bytes. */
export const MAX_FRAME_FLAGS = 0xffff;
/** The length field is 32 bits, so no configuration may allow more than this. */
export const FRAME_LENGTH_LIMIT_BYTES = 0xffff_ffff;

/**
 * Payloads up to this size are copied with their header into one buffer and written once; larger
 * ones go out as a corked vectored write without copying.
 */
export const SMALL_FRAME_BYTES = 8 * 1024;
/** Default largest payload accepted or sent: 64 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;
/** Default bytes queued in the socket before `send()` returns false and the caller waits for 'drain'. */
export const DEFAULT_HIGH_WATER_MARK_BYTES = 4 * 1024 * 1024;
/**
 * Default hard cap on bytes queued for sending. A caller that ignores `send() === false` hits a typed
 * error here instead of growing memory without bound. It must hold at least one maximal frame.
 */
export const DEFAULT_MAX_QUEUED_BYTES = 2 * DEFAULT_MAX_PAYLOAD_BYTES + 2 * DEFAULT_HIGH_WATER_MARK_BYTES;
/**
 * Default bytes of received messages the async iterator buffers before it pauses the socket, so a slow
 * consumer pushes back on the sender instead of filling memory.
 */
export const DEFAULT_READ_BUFFER_BYTES = 8 * 1024 * 1024;
/**
 * TCP keepalive is only a backstop: it notices a dead peer after minutes, not milliseconds (the
 * keepalive package does the fast detection). Default first probe after 10 s of silence.
 */
export const DEFAULT_KEEPALIVE_INITIAL_DELAY_MS = 10_000;
/** Default time allowed for `connect()` to establish the connection. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Default time a client gets to complete the TLS handshake on a server before it is dropped. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
