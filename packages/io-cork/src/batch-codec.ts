import type { Batch } from './batch.js';
import {
  BATCH_HEADER_BYTES,
  BATCH_MAGIC,
  BATCH_VERSION,
  DEFAULT_MAX_BATCH_BYTES,
  DEFAULT_MAX_ITEM_BYTES,
  MAX_DESTINATION_BYTES,
  MAX_SOURCE_BYTES,
  RECORD_HEADER_BYTES,
} from './constants.js';
import { crc32 } from './crc32.js';
import {
  BatchChecksumError,
  BatchFormatError,
  BatchMagicError,
  BatchTooLargeError,
  BatchTruncatedError,
  BatchVersionError,
  InvalidArgumentError,
  InvalidOptionError,
  ItemTooLargeError,
} from './errors.js';
import { readU64, writeU64 } from './uint64.js';

/*
 * Serialized batch, version 1 (all integers little-endian; u64 fields hold safe integers):
 *   0 u32 magic 'MCCB'    16 u64 epoch             48 u32 item count
 *   4 u16 version (1)     24 u64 generation        52 u32 records length
 *   6 u16 flags (0)       32 u64 first seq         56 u32 destination count
 *   8 u32 total length    40 u64 releasedThrough+1 60 u16 source length
 *  12 u32 crc32 of bytes [16, total)               62 u16 reserved (0)
 *  64 source (UTF-8)
 *     destination table: per destination u32 id, u16 name length, name (UTF-8)
 *     records: per item u32 destination id, u32 data length, data
 * `releasedThrough + 1` is 0 when the sender had released nothing yet.
 */

const WHAT = 'cork batch';
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Options of {@link decodeBatch}. */
export interface DecodeBatchOptions {
  /**
   * Largest serialized batch accepted, in bytes; checked against the header before anything else.
   * @default 2147483648 (2 GiB)
   */
  maxBatchBytes?: number;
  /**
   * Largest single item accepted, in bytes.
   * @default 16777216 (16 MiB)
   */
  maxItemBytes?: number;
}

/** One item of a decoded batch (`data` is a view into the serialized bytes). */
export interface DecodedItem {
  readonly seq: number;
  readonly destination: string;
  readonly data: Uint8Array;
}

/**
 * A validated serialized batch. Holds views into the bytes it was decoded from, never copies: do not
 * modify or reuse those bytes while the batch (or a queue that ingested it) is alive.
 */
export class DecodedBatch {
  readonly source: string;
  readonly epoch: number;
  readonly generation: number;
  readonly firstSeq: number;
  readonly itemCount: number;
  /** Sum of item data lengths. */
  readonly bytes: number;
  /** Highest epoch the sender had released when it serialized the batch; -1 for none. */
  readonly releasedThrough: number;
  /** Destination id (as used in the records) to name. */
  readonly destinations: ReadonlyMap<number, string>;
  /** The records section (a view). */
  readonly records: Uint8Array;
  /** The whole serialized batch (the view that was decoded). */
  readonly serialized: Uint8Array;

  /** @internal Built by {@link decodeBatch} only. */
  constructor(fields: {
    source: string;
    epoch: number;
    generation: number;
    firstSeq: number;
    itemCount: number;
    bytes: number;
    releasedThrough: number;
    destinations: Map<number, string>;
    records: Uint8Array;
    serialized: Uint8Array;
  }) {
    this.source = fields.source;
    this.epoch = fields.epoch;
    this.generation = fields.generation;
    this.firstSeq = fields.firstSeq;
    this.itemCount = fields.itemCount;
    this.bytes = fields.bytes;
    this.releasedThrough = fields.releasedThrough;
    this.destinations = fields.destinations;
    this.records = fields.records;
    this.serialized = fields.serialized;
  }

  /** The seq the next epoch's first item gets. */
  get nextSeq(): number {
    return this.firstSeq + this.itemCount;
  }

  /** The items in seq order, as views. */
  *items(): IterableIterator<DecodedItem> {
    const records = this.records;
    const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
    let offset = 0;
    for (let i = 0; i < this.itemCount; i++) {
      const id = view.getUint32(offset, true);
      const length = view.getUint32(offset + 4, true);
      const start = offset + RECORD_HEADER_BYTES;
      offset = start + length;
      yield {
        seq: this.firstSeq + i,
        destination: this.destinations.get(id)!,
        data: records.subarray(start, offset),
      };
    }
  }
}

/**
 * Serializes a sealed batch: measures, allocates once, writes in place, then checksums.
 * @internal Used by the queue; the public entry point is `CorkQueue.serialize`.
 */
export function encodeBatch(batch: Batch, sourceBytes: Uint8Array, releasedThrough: number): Uint8Array {
  let tableBytes = 0;
  for (const destination of batch.destinations.values()) tableBytes += 6 + destination.nameBytes.length;
  const total = BATCH_HEADER_BYTES + sourceBytes.length + tableBytes + batch.recordsLength;
  if (total > 0xffffffff) throw new BatchTooLargeError(WHAT, total, 0xffffffff);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, BATCH_MAGIC, true);
  view.setUint16(4, BATCH_VERSION, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, total, true);
  writeU64(view, 16, batch.epoch);
  writeU64(view, 24, batch.generation);
  writeU64(view, 32, batch.firstSeq);
  writeU64(view, 40, releasedThrough + 1);
  view.setUint32(48, batch.count, true);
  view.setUint32(52, batch.recordsLength, true);
  view.setUint32(56, batch.destinations.size, true);
  view.setUint16(60, sourceBytes.length, true);
  view.setUint16(62, 0, true);
  let offset = BATCH_HEADER_BYTES;
  out.set(sourceBytes, offset);
  offset += sourceBytes.length;
  for (const [id, destination] of batch.destinations) {
    view.setUint32(offset, id, true);
    view.setUint16(offset + 4, destination.nameBytes.length, true);
    out.set(destination.nameBytes, offset + 6);
    offset += 6 + destination.nameBytes.length;
  }
  batch.copyRecords(out, offset);
  view.setUint32(12, crc32(out.subarray(16)), true);
  return out;
}

/** Checks decoder options; shared with the queue, which passes its own limits. */
export function resolveDecodeOptions(options: DecodeBatchOptions): Required<DecodeBatchOptions> {
  const maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
  const maxItemBytes = options.maxItemBytes ?? DEFAULT_MAX_ITEM_BYTES;
  if (!Number.isSafeInteger(maxBatchBytes) || maxBatchBytes < BATCH_HEADER_BYTES) {
    throw new InvalidOptionError(
      'maxBatchBytes',
      `must be an integer >= ${BATCH_HEADER_BYTES}, got ${maxBatchBytes}`,
    );
  }
  if (!Number.isSafeInteger(maxItemBytes) || maxItemBytes < 0 || maxItemBytes > 0xffffffff) {
    throw new InvalidOptionError(
      'maxItemBytes',
      `must be an integer from 0 to 4294967295, got ${maxItemBytes}`,
    );
  }
  return { maxBatchBytes, maxItemBytes };
}

/**
 * Validates and decodes a serialized batch without copying it. Every field is checked: magic,
 * version, length (truncated, oversized or trailing bytes), checksum, then the contents (safe
 * integers, counters, destination table, every record's bounds). Throws the matching typed error;
 * a batch that decodes is one a queue can ingest as it is.
 */
export function decodeBatch(bytes: Uint8Array, options: DecodeBatchOptions = {}): DecodedBatch {
  const { maxBatchBytes, maxItemBytes } = resolveDecodeOptions(options);
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('decodeBatch needs a Uint8Array');
  if (bytes.length < 16) throw new BatchTruncatedError(WHAT, bytes.length, BATCH_HEADER_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  if (magic !== BATCH_MAGIC) throw new BatchMagicError(WHAT, magic, BATCH_MAGIC);
  const version = view.getUint16(4, true);
  if (version !== BATCH_VERSION) throw new BatchVersionError(WHAT, version, BATCH_VERSION);
  if (view.getUint16(6, true) !== 0) throw new BatchFormatError(`${WHAT}: flags must be 0`);
  const total = view.getUint32(8, true);
  if (total < BATCH_HEADER_BYTES)
    throw new BatchFormatError(`${WHAT}: total length ${total} is below the header`);
  if (total > maxBatchBytes) throw new BatchTooLargeError(WHAT, total, maxBatchBytes);
  if (bytes.length < total) throw new BatchTruncatedError(WHAT, bytes.length, total);
  if (bytes.length > total) {
    throw new BatchFormatError(`${WHAT}: ${bytes.length - total} bytes past the announced length ${total}`);
  }
  const expected = view.getUint32(12, true);
  const actual = crc32(bytes.subarray(16));
  if (actual !== expected) throw new BatchChecksumError(WHAT, expected, actual);

  const epoch = readU64(view, 16);
  const generation = readU64(view, 24);
  const firstSeq = readU64(view, 32);
  const releasedPlusOne = readU64(view, 40);
  if (epoch < 0 || generation < 0 || firstSeq < 0 || releasedPlusOne < 0) {
    throw new BatchFormatError(`${WHAT}: epoch, generation, seq or releasedThrough is not a safe integer`);
  }
  const releasedThrough = releasedPlusOne - 1;
  if (releasedThrough >= epoch) {
    throw new BatchFormatError(`${WHAT}: releasedThrough ${releasedThrough} is not before epoch ${epoch}`);
  }
  const itemCount = view.getUint32(48, true);
  const recordsLength = view.getUint32(52, true);
  const destinationCount = view.getUint32(56, true);
  const sourceLength = view.getUint16(60, true);
  if (view.getUint16(62, true) !== 0) throw new BatchFormatError(`${WHAT}: reserved header bits are set`);
  if (!Number.isSafeInteger(firstSeq + itemCount)) {
    throw new BatchFormatError(`${WHAT}: seq range ${firstSeq} + ${itemCount} is not a safe integer`);
  }
  if (itemCount * RECORD_HEADER_BYTES > recordsLength) {
    throw new BatchFormatError(`${WHAT}: ${itemCount} items cannot fit ${recordsLength} record bytes`);
  }
  if (sourceLength === 0 || sourceLength > MAX_SOURCE_BYTES) {
    throw new BatchFormatError(`${WHAT}: source length ${sourceLength} is outside 1..${MAX_SOURCE_BYTES}`);
  }
  let offset = BATCH_HEADER_BYTES;
  if (offset + sourceLength > total) throw new BatchFormatError(`${WHAT}: source runs past the end`);
  const source = decodeText(bytes.subarray(offset, offset + sourceLength), 'source');
  offset += sourceLength;

  const recordsStart = total - recordsLength;
  if (recordsStart < offset)
    throw new BatchFormatError(`${WHAT}: records length ${recordsLength} overlaps the header`);
  const destinations = new Map<number, string>();
  for (let i = 0; i < destinationCount; i++) {
    if (offset + 6 > recordsStart)
      throw new BatchFormatError(`${WHAT}: destination table runs into the records`);
    const id = view.getUint32(offset, true);
    const length = view.getUint16(offset + 4, true);
    if (length === 0 || length > MAX_DESTINATION_BYTES) {
      throw new BatchFormatError(
        `${WHAT}: destination name length ${length} is outside 1..${MAX_DESTINATION_BYTES}`,
      );
    }
    if (offset + 6 + length > recordsStart)
      throw new BatchFormatError(`${WHAT}: destination name runs into the records`);
    if (destinations.has(id)) throw new BatchFormatError(`${WHAT}: destination id ${id} appears twice`);
    destinations.set(id, decodeText(bytes.subarray(offset + 6, offset + 6 + length), 'destination'));
    offset += 6 + length;
  }
  if (offset !== recordsStart) {
    throw new BatchFormatError(
      `${WHAT}: ${recordsStart - offset} unaccounted bytes between table and records`,
    );
  }

  const records = bytes.subarray(recordsStart, total);
  const recordsView = new DataView(records.buffer, records.byteOffset, records.byteLength);
  let position = 0;
  let payload = 0;
  for (let i = 0; i < itemCount; i++) {
    if (position + RECORD_HEADER_BYTES > recordsLength) {
      throw new BatchFormatError(`${WHAT}: record ${i} header runs past the records`);
    }
    const id = recordsView.getUint32(position, true);
    const length = recordsView.getUint32(position + 4, true);
    if (!destinations.has(id))
      throw new BatchFormatError(`${WHAT}: record ${i} names unknown destination id ${id}`);
    if (length > maxItemBytes) throw new ItemTooLargeError(length, maxItemBytes);
    position += RECORD_HEADER_BYTES + length;
    if (position > recordsLength)
      throw new BatchFormatError(`${WHAT}: record ${i} data runs past the records`);
    payload += length;
  }
  if (position !== recordsLength) {
    throw new BatchFormatError(`${WHAT}: ${recordsLength - position} record bytes after the last item`);
  }
  const decoded = new DecodedBatch({
    source,
    epoch,
    generation,
    firstSeq,
    itemCount,
    bytes: payload,
    releasedThrough,
    destinations,
    records,
    serialized: bytes,
  });
  validated.add(decoded);
  return decoded;
}

function decodeText(bytes: Uint8Array, what: string): string {
  try {
    return decoder.decode(bytes);
  } catch (error) {
    throw new BatchFormatError(`${WHAT}: ${what} is not valid UTF-8`, { cause: error });
  }
}

const validated = new WeakSet<DecodedBatch>();

/** Whether `batch` came out of {@link decodeBatch} (a hand-built object is never ingested). */
export function isDecodedBatch(batch: unknown): batch is DecodedBatch {
  return typeof batch === 'object' && batch !== null && validated.has(batch as DecodedBatch);
}
