import { type ChecksumAlgorithm, checksumAlgorithmOf, checksumId, FrameChecksum } from './checksum.js';
import {
  FRAME_HEADER_BYTES,
  FRAME_MAGIC,
  FRAME_VERSION,
  MAX_FRAME_FLAGS,
  MAX_FRAME_TYPE,
} from './constants.js';
import {
  FrameHeaderError,
  FrameMagicError,
  FrameTooLargeError,
  FrameVersionError,
  InvalidArgumentError,
} from './errors.js';

// The checksum covers the 12 header bytes before it as well as the payload, so a flipped type,
// flags, algorithm or length byte is caught too, not only payload corruption.
const CHECKED_HEADER_BYTES = 12;

/** A decoded frame header. */
export interface FrameHeader {
  type: number;
  flags: number;
  /** Payload length in bytes. */
  length: number;
  /** The checksum algorithm the sender used. */
  algorithm: ChecksumAlgorithm;
  /** The checksum the frame claims, over header bytes 0..11 then the payload. */
  checksum: number;
}

/** The header bytes the checksum covers, for a header at `offset` of `source`. */
export function coveredHeaderBytes(source: Uint8Array, offset: number): Uint8Array {
  return source.subarray(offset, offset + CHECKED_HEADER_BYTES);
}

/**
 * Writes the header of a frame whose payload is `parts` into `target` at `offset` (little-endian).
 * Layout, 16 bytes: magic u16 | version u8 | type u8 | flags u16 | checksum algorithm u8 |
 * reserved u8 (0) | length u32 | checksum u32, the checksum covering bytes 0..11 and then every part
 * in order, without joining them.
 * @returns the payload length.
 */
export function encodeFrameHeader(
  target: Uint8Array,
  offset: number,
  type: number,
  flags: number,
  parts: readonly Uint8Array[],
  algorithm: ChecksumAlgorithm = 'crc32c',
): number {
  if (!Number.isInteger(type) || type < 0 || type > MAX_FRAME_TYPE) {
    throw new InvalidArgumentError(`frame type must be an integer 0..${MAX_FRAME_TYPE}, got ${type}`);
  }
  if (!Number.isInteger(flags) || flags < 0 || flags > MAX_FRAME_FLAGS) {
    throw new InvalidArgumentError(`frame flags must be an integer 0..${MAX_FRAME_FLAGS}, got ${flags}`);
  }
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const view = new DataView(target.buffer, target.byteOffset + offset, FRAME_HEADER_BYTES);
  view.setUint16(0, FRAME_MAGIC, true);
  view.setUint8(2, FRAME_VERSION);
  view.setUint8(3, type);
  view.setUint16(4, flags, true);
  view.setUint8(6, checksumId(algorithm));
  view.setUint8(7, 0);
  view.setUint32(8, length, true);
  const covered = coveredHeaderBytes(target, offset);
  let checksum: number;
  if (parts.length === 1) checksum = FrameChecksum.ofSingle(algorithm, covered, parts[0]!);
  else {
    const running = new FrameChecksum(algorithm, covered);
    for (const part of parts) running.update(part);
    checksum = running.digest();
  }
  view.setUint32(12, checksum, true);
  return length;
}

/**
 * Reads and validates the header at `offset` of `source`, which must hold at least
 * FRAME_HEADER_BYTES from there. Throws a typed error for a wrong magic, version, a non-zero
 * reserved field or a length over `maxPayloadBytes`, before any payload is buffered.
 */
export function decodeFrameHeader(source: Uint8Array, offset: number, maxPayloadBytes: number): FrameHeader {
  const view = new DataView(source.buffer, source.byteOffset + offset, FRAME_HEADER_BYTES);
  const magic = view.getUint16(0, true);
  if (magic !== FRAME_MAGIC) throw new FrameMagicError(magic);
  const version = view.getUint8(2);
  if (version !== FRAME_VERSION) throw new FrameVersionError(version, FRAME_VERSION);
  const reserved = view.getUint8(7);
  if (reserved !== 0)
    throw new FrameHeaderError(`reserved header byte is 0x${reserved.toString(16)}, must be 0`);
  const algorithm = checksumAlgorithmOf(view.getUint8(6));
  const length = view.getUint32(8, true);
  if (length > maxPayloadBytes) throw new FrameTooLargeError(length, maxPayloadBytes);
  return {
    type: view.getUint8(3),
    flags: view.getUint16(4, true),
    length,
    algorithm,
    checksum: view.getUint32(12, true),
  };
}

/**
 * One whole frame as a single buffer (header then payload). The channel never does this on its
 * hot path (it writes header and parts separately); it is for tools, fuzzers and tests.
 */
export function encodeFrame(
  type: number,
  payload: Uint8Array | readonly Uint8Array[],
  flags = 0,
  algorithm: ChecksumAlgorithm = 'crc32c',
): Uint8Array {
  const parts = payload instanceof Uint8Array ? [payload] : payload;
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const frame = new Uint8Array(FRAME_HEADER_BYTES + length);
  encodeFrameHeader(frame, 0, type, flags, parts, algorithm);
  let pos = FRAME_HEADER_BYTES;
  for (const part of parts) {
    frame.set(part, pos);
    pos += part.byteLength;
  }
  return frame;
}
