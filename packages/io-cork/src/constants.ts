/** Defaults and format constants. Units are in the names; sizes are bytes unless they say otherwise. */

/** Default identity of the protected workload stamped on every item (receivers dedup per source). */
export const DEFAULT_SOURCE = 'workload';

/** Longest source name, in UTF-8 bytes: it travels in every batch header and every item frame. */
export const MAX_SOURCE_BYTES = 255;

/** Longest destination name, in UTF-8 bytes. */
export const MAX_DESTINATION_BYTES = 1024;

/** Default soft bound on corked plus undelivered bytes: above it `append` returns false. */
export const DEFAULT_HIGH_WATER_BYTES = 16 * 1024 * 1024;

/** Default soft bound on corked plus undelivered items: above it `append` returns false. */
export const DEFAULT_HIGH_WATER_ITEMS = 65_536;

/** Default hard cap on corked plus undelivered bytes: an append that would pass it throws. */
export const DEFAULT_MAX_HELD_BYTES = 64 * 1024 * 1024;

/** Default hard cap on corked plus undelivered items: an append that would pass it throws. */
export const DEFAULT_MAX_HELD_ITEMS = 262_144;

/** Default largest single item, in bytes (on append and when decoding). */
export const DEFAULT_MAX_ITEM_BYTES = 16 * 1024 * 1024;

/**
 * Upper limit for `maxHeldBytes`. A batch's records must fit the format's u32 length fields with room
 * for the 8-byte record headers of `MAX_HELD_ITEMS_LIMIT` items.
 */
export const MAX_HELD_BYTES_LIMIT = 1024 * 1024 * 1024;

/** Upper limit for `maxHeldItems` (8 bytes of record header each must fit next to the data). */
export const MAX_HELD_ITEMS_LIMIT = 64 * 1024 * 1024;

/** Default largest serialized batch the decoder accepts, in bytes. */
export const DEFAULT_MAX_BATCH_BYTES = 2 * MAX_HELD_BYTES_LIMIT;

/** Smallest first arena chunk of a new epoch, in bytes; its size follows the previous epoch's output. */
export const MIN_ARENA_BYTES = 4096;

/**
 * Size of the arena chunks an epoch's records are appended to, in bytes (an item larger than this
 * gets a chunk of its own): an epoch grows by chunks instead of regrowing and copying one arena.
 */
export const ARENA_CHUNK_BYTES = 64 * 1024;

/** Serialized batch: magic `MCCB` (microcheckpoint cork batch), read as a little-endian u32. */
export const BATCH_MAGIC = 0x4243434d;

/** Serialized batch format version written by this package; decoding any other version is rejected. */
export const BATCH_VERSION = 1;

/** Fixed part of a serialized batch header, in bytes. */
export const BATCH_HEADER_BYTES = 64;

/** Per item in a batch: u32 destination id + u32 data length. */
export const RECORD_HEADER_BYTES = 8;

/** Exported queue state: magic `MCCS` (microcheckpoint cork state), little-endian u32. */
export const STATE_MAGIC = 0x5343434d;

/** Exported queue state format version. */
export const STATE_VERSION = 1;

/** Fixed part of an exported state header, in bytes. */
export const STATE_HEADER_BYTES = 56;

/** Item frame for receivers: magic bytes `M` `I`. */
export const FRAME_MAGIC_0 = 0x4d;
export const FRAME_MAGIC_1 = 0x49;

/** Item frame format version. */
export const FRAME_VERSION = 1;

/** Fixed part of an item frame header, in bytes (the source name follows it). */
export const FRAME_HEADER_BYTES = 36;

/**
 * Items up to this size are framed into one buffer with their header (one copy, one write); larger
 * ones are written as header + original view so that big outputs are not copied again.
 */
export const FRAME_COALESCE_MAX_BYTES = 1024;

/**
 * Default bytes a stream or socket sink lets its stream buffer before its destination waits for
 * 'drain'. A release hands over a whole epoch at once; stopping at the stream's own high-water mark
 * (16 KiB for a socket) would turn one vectored write into a drain round trip every 16 KiB.
 */
export const DEFAULT_SINK_MAX_BUFFERED_BYTES = 1024 * 1024;

/** Default for stream and socket sinks: prefix every item with a frame receivers can dedup. */
export const DEFAULT_SINK_FRAMING = 'framed';
