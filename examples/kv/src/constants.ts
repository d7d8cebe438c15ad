/** Default guest memory of a KV service created without one: 64 MiB. */
export const DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024;
/** Default number of hash slots: a power of two; the table holds up to 3/4 of it in keys. */
export const DEFAULT_SLOT_COUNT = 65_536;
/** Keys stop being inserted when live keys plus tombstones would pass this fraction of the slots. */
export const MAX_LOAD_FACTOR = 0.75;
/** Default largest bulk string (key or value) a client may send: 16 MiB. */
export const DEFAULT_MAX_BULK_BYTES = 16 * 1024 * 1024;
/** Default largest number of arguments in one command. */
export const DEFAULT_MAX_ARGS = 65_536;
/** Default longest inline (telnet-style) command line: 64 KiB, as Redis. */
export const DEFAULT_MAX_INLINE_BYTES = 64 * 1024;
/** Bytes queued in a client's socket before the server stops reading from that client. */
export const SOCKET_HIGH_WATER_MARK_BYTES = 1024 * 1024;

/** "MCKV", little endian: the first word of a table in guest memory. */
export const TABLE_MAGIC = 0x564b434d;
/** Layout version of the table in guest memory. */
export const TABLE_VERSION = 1;
/** Bytes of the table header (fields and free-list heads), before the slots. */
export const TABLE_HEADER_BYTES = 256;
/** A slot: key hash u32, record reference u32 (0 empty, 1 deleted, else the record's offset). */
export const SLOT_BYTES = 8;
/** A record: key length u32, value length u32, size class u32, then key and value bytes. */
export const RECORD_HEADER_BYTES = 12;
/** Smallest heap block: 32 bytes; size class k holds blocks of 32 << k bytes. */
export const MIN_BLOCK_BYTES = 32;
/** Size classes, 32 B to 2 GiB. */
export const SIZE_CLASSES = 27;
