import { type DecodedBatch, decodeBatch, resolveDecodeOptions } from './batch-codec.js';
import { MAX_SOURCE_BYTES, STATE_HEADER_BYTES, STATE_MAGIC, STATE_VERSION } from './constants.js';
import { crc32 } from './crc32.js';
import {
  BatchChecksumError,
  BatchFormatError,
  BatchMagicError,
  BatchTooLargeError,
  BatchTruncatedError,
  BatchVersionError,
  CorkError,
  InvalidArgumentError,
} from './errors.js';
import { readU64, writeU64 } from './uint64.js';

/*
 * Exported queue state, version 1 (little-endian):
 *   0 u32 magic 'MCCS'   16 u64 next seq            48 u32 batch count
 *   4 u16 version (1)    24 u64 generation          52 u16 source length
 *   6 u16 flags (0)      32 u64 releasedThrough+1   54 u16 reserved (0)
 *   8 u32 total length   40 u64 lastEpoch+1
 *  12 u32 crc32 of bytes [16, total)
 *  56 source (UTF-8), then per held batch: u32 length, serialized batch (each with its own checksum).
 */

const WHAT = 'cork state';

/** The counters and unreleased batches a queue needs to carry on where another left off. */
export interface QueueStateFields {
  readonly source: string;
  readonly nextSeq: number;
  readonly generation: number;
  readonly releasedThrough: number;
  readonly lastEpoch: number;
}

/** A validated exported state. */
export interface DecodedState extends QueueStateFields {
  readonly batches: readonly DecodedBatch[];
}

/** @internal Writes the state header around already serialized batches. */
export function encodeState(
  fields: QueueStateFields,
  sourceBytes: Uint8Array,
  batches: Uint8Array[],
): Uint8Array {
  let total = STATE_HEADER_BYTES + sourceBytes.length;
  for (const batch of batches) total += 4 + batch.length;
  if (total > 0xffffffff) throw new BatchTooLargeError(WHAT, total, 0xffffffff);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, STATE_MAGIC, true);
  view.setUint16(4, STATE_VERSION, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, total, true);
  writeU64(view, 16, fields.nextSeq);
  writeU64(view, 24, fields.generation);
  writeU64(view, 32, fields.releasedThrough + 1);
  writeU64(view, 40, fields.lastEpoch + 1);
  view.setUint32(48, batches.length, true);
  view.setUint16(52, sourceBytes.length, true);
  view.setUint16(54, 0, true);
  out.set(sourceBytes, STATE_HEADER_BYTES);
  let offset = STATE_HEADER_BYTES + sourceBytes.length;
  for (const batch of batches) {
    view.setUint32(offset, batch.length, true);
    out.set(batch, offset + 4);
    offset += 4 + batch.length;
  }
  view.setUint32(12, crc32(out.subarray(16)), true);
  return out;
}

/**
 * Validates an exported state: its own framing and checksum, every batch inside it, and that the
 * batches and counters tell one consistent story (same source, epochs increasing, seqs contiguous
 * and ending at the next seq, nothing released that is still held).
 */
export function decodeState(
  bytes: Uint8Array,
  limits: { maxBatchBytes?: number; maxItemBytes?: number } = {},
): DecodedState {
  const options = resolveDecodeOptions(limits);
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('decodeState needs a Uint8Array');
  if (bytes.length < 16) throw new BatchTruncatedError(WHAT, bytes.length, STATE_HEADER_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  if (magic !== STATE_MAGIC) throw new BatchMagicError(WHAT, magic, STATE_MAGIC);
  const version = view.getUint16(4, true);
  if (version !== STATE_VERSION) throw new BatchVersionError(WHAT, version, STATE_VERSION);
  if (view.getUint16(6, true) !== 0) throw new BatchFormatError(`${WHAT}: flags must be 0`);
  const total = view.getUint32(8, true);
  if (total < STATE_HEADER_BYTES)
    throw new BatchFormatError(`${WHAT}: total length ${total} is below the header`);
  if (bytes.length < total) throw new BatchTruncatedError(WHAT, bytes.length, total);
  if (bytes.length > total) {
    throw new BatchFormatError(`${WHAT}: ${bytes.length - total} bytes past the announced length ${total}`);
  }
  const expected = view.getUint32(12, true);
  const actual = crc32(bytes.subarray(16));
  if (actual !== expected) throw new BatchChecksumError(WHAT, expected, actual);
  const nextSeq = readU64(view, 16);
  const generation = readU64(view, 24);
  const releasedPlusOne = readU64(view, 32);
  const lastEpochPlusOne = readU64(view, 40);
  if (nextSeq < 0 || generation < 0 || releasedPlusOne < 0 || lastEpochPlusOne < 0) {
    throw new BatchFormatError(`${WHAT}: a counter is not a safe integer`);
  }
  const releasedThrough = releasedPlusOne - 1;
  const lastEpoch = lastEpochPlusOne - 1;
  if (lastEpoch < releasedThrough) throw new BatchFormatError(`${WHAT}: lastEpoch is before releasedThrough`);
  const batchCount = view.getUint32(48, true);
  const sourceLength = view.getUint16(52, true);
  if (view.getUint16(54, true) !== 0) throw new BatchFormatError(`${WHAT}: reserved header bits are set`);
  if (sourceLength === 0 || sourceLength > MAX_SOURCE_BYTES) {
    throw new BatchFormatError(`${WHAT}: source length ${sourceLength} is outside 1..${MAX_SOURCE_BYTES}`);
  }
  let offset = STATE_HEADER_BYTES + sourceLength;
  if (offset > total) throw new BatchFormatError(`${WHAT}: source runs past the end`);
  let source: string;
  try {
    source = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(STATE_HEADER_BYTES, offset));
  } catch (error) {
    throw new BatchFormatError(`${WHAT}: source is not valid UTF-8`, { cause: error });
  }
  const batches: DecodedBatch[] = [];
  let previous: DecodedBatch | undefined;
  for (let i = 0; i < batchCount; i++) {
    if (offset + 4 > total) throw new BatchFormatError(`${WHAT}: batch ${i} length runs past the end`);
    const length = view.getUint32(offset, true);
    if (offset + 4 + length > total) throw new BatchFormatError(`${WHAT}: batch ${i} runs past the end`);
    let batch: DecodedBatch;
    try {
      batch = decodeBatch(bytes.subarray(offset + 4, offset + 4 + length), options);
    } catch (error) {
      if (error instanceof CorkError) {
        throw new BatchFormatError(`${WHAT}: batch ${i} is invalid: ${error.message}`, { cause: error });
      }
      throw error;
    }
    offset += 4 + length;
    if (batch.source !== source) throw new BatchFormatError(`${WHAT}: batch ${i} has another source`);
    if (batch.epoch <= releasedThrough) throw new BatchFormatError(`${WHAT}: batch ${i} is already released`);
    if (batch.epoch > lastEpoch) throw new BatchFormatError(`${WHAT}: batch ${i} is after lastEpoch`);
    if (batch.generation > generation)
      throw new BatchFormatError(`${WHAT}: batch ${i} has a later generation`);
    if (previous !== undefined) {
      if (batch.epoch <= previous.epoch)
        throw new BatchFormatError(`${WHAT}: batch ${i} epoch is not increasing`);
      if (batch.firstSeq !== previous.nextSeq)
        throw new BatchFormatError(`${WHAT}: batch ${i} seqs are not contiguous`);
    }
    batches.push(batch);
    previous = batch;
  }
  if (offset !== total) throw new BatchFormatError(`${WHAT}: ${total - offset} bytes after the last batch`);
  if (previous !== undefined && previous.nextSeq !== nextSeq) {
    throw new BatchFormatError(
      `${WHAT}: next seq ${nextSeq} does not follow the last batch (${previous.nextSeq})`,
    );
  }
  return { source, nextSeq, generation, releasedThrough, lastEpoch, batches };
}
