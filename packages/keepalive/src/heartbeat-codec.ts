import { timingSafeEqual } from 'node:crypto';
import { crc32 } from './crc32.js';
import {
  HeartbeatChecksumError,
  HeartbeatFieldError,
  HeartbeatMacError,
  HeartbeatMagicError,
  HeartbeatSizeError,
  HeartbeatUnauthenticatedError,
  HeartbeatVersionError,
  InvalidArgumentError,
} from './errors.js';
import { HEARTBEAT_KEY_BYTES, HEARTBEAT_MAC_BYTES, heartbeatMac } from './heartbeat-auth.js';

/**
 * Wire layout of one heartbeat (big-endian, {@link HEARTBEAT_BYTES} bytes, one UDP datagram):
 *
 * | offset | type | field |
 * |---|---|---|
 * | 0 | u32 | magic `MCKA` (0x4d434b41) |
 * | 4 | u8 | version (1) |
 * | 5 | u8 | role: 0 primary, 1 secondary, 2 witness |
 * | 6 | u16 | flags: bit 0 goodbye; every other bit zero |
 * | 8 | u32 | incarnation: random per sender start, non-zero |
 * | 12 | u32 | sender's heartbeat interval, microseconds, non-zero |
 * | 16 | u64 | sequence number, starts at 1 |
 * | 24 | f64 | sender's monotonic time, milliseconds |
 * | 32 | u64 | epoch |
 * | 40 | u64 | main-loop progress counter |
 * | 48 | u32 | CRC-32 of bytes 0..47 |
 *
 * Version 2, the authenticated heartbeat ({@link HEARTBEAT_AUTH_BYTES} bytes), has the same fields at
 * the same offsets with version 2, and instead of the CRC:
 *
 * | offset | type | field |
 * |---|---|---|
 * | 48 | 16 bytes | HMAC-SHA256 of bytes 0..47 under the sender-to-receiver key, first 16 bytes |
 *
 * A receiver without a key speaks version 1 only; a receiver with one accepts version 2 only.
 */
export const HEARTBEAT_BYTES = 52;
/** Size of an authenticated (version 2) heartbeat. */
export const HEARTBEAT_AUTH_BYTES = 48 + HEARTBEAT_MAC_BYTES;
/** `MCKA` in ASCII. */
export const HEARTBEAT_MAGIC = 0x4d434b41;
/** The unauthenticated heartbeat version (trusted-network mode). */
export const HEARTBEAT_VERSION = 1;
/** The authenticated heartbeat version. */
export const HEARTBEAT_AUTH_VERSION = 2;

const FLAG_GOODBYE = 0x0001;
const CHECKSUM_OFFSET = 48;
/** Bytes covered by the CRC (version 1) or the MAC (version 2). */
const COVERED_BYTES = 48;
const MAX_INTERVAL_US = 0xffffffff;

/** Which side of a protected workload a node plays. */
export type PeerRole = 'primary' | 'secondary' | 'witness';

const ROLES: readonly PeerRole[] = ['primary', 'secondary', 'witness'];

/** Whether `value` is one of the roles a heartbeat can carry. */
export function isPeerRole(value: unknown): value is PeerRole {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** The numeric role code on the wire (0 primary, 1 secondary, 2 witness). */
export function roleCode(role: PeerRole): number {
  return ROLES.indexOf(role);
}

/** The role for a wire code; undefined for codes no sender produces. */
export function roleFromCode(code: number): PeerRole | undefined {
  return ROLES[code];
}

/** The content of one heartbeat. */
export interface Heartbeat {
  /** The sender's role. */
  role: PeerRole;
  /** Set in the last heartbeat of a sender that is shutting down on purpose. */
  goodbye: boolean;
  /** Random non-zero u32 chosen when the sender starts: a new value means the peer restarted. */
  incarnation: number;
  /** How often the sender sends, in milliseconds (carried in whole microseconds). */
  intervalMs: number;
  /** Sequence number, 1 for the first heartbeat of an incarnation; strictly increasing. */
  sequence: number;
  /** The sender's monotonic clock at sending, in milliseconds. */
  senderTimeMs: number;
  /** The sender's checkpoint epoch. */
  epoch: number;
  /** How many times the sender's main event loop has ticked: a value that stops moving means a hung loop. */
  progress: number;
}

function checkUint(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new InvalidArgumentError(`heartbeat ${name} must be an integer in [0, ${max}], got ${value}`);
  }
}

/**
 * Encodes a heartbeat into `target` (at least {@link HEARTBEAT_BYTES} long; a new array when omitted)
 * and returns the {@link HEARTBEAT_BYTES}-byte view that was written. Throws `InvalidArgumentError` for
 * a field that cannot be represented.
 */
export function encodeHeartbeat(heartbeat: Heartbeat, target?: Uint8Array): Uint8Array {
  const out = writeFields(heartbeat, HEARTBEAT_VERSION, HEARTBEAT_BYTES, target);
  new DataView(out.buffer, out.byteOffset, HEARTBEAT_BYTES).setUint32(
    CHECKSUM_OFFSET,
    crc32(out, 0, CHECKSUM_OFFSET),
  );
  return out;
}

/**
 * Encodes an authenticated (version 2) heartbeat: the fields, then a truncated HMAC-SHA256 under `key`
 * (the sender-to-receiver key from `deriveHeartbeatKeys`). Returns the {@link HEARTBEAT_AUTH_BYTES}-byte
 * view written into `target` (a new array when omitted). Throws `InvalidArgumentError` for a field that
 * cannot be represented or a key that is not 32 bytes.
 */
export function encodeAuthenticatedHeartbeat(
  heartbeat: Heartbeat,
  key: Uint8Array,
  target?: Uint8Array,
): Uint8Array {
  checkKey(key);
  const out = writeFields(heartbeat, HEARTBEAT_AUTH_VERSION, HEARTBEAT_AUTH_BYTES, target);
  out.set(heartbeatMac(key, out, COVERED_BYTES), COVERED_BYTES);
  return out;
}

function checkKey(key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array) || key.byteLength !== HEARTBEAT_KEY_BYTES) {
    throw new InvalidArgumentError(`heartbeat key must be a Uint8Array of ${HEARTBEAT_KEY_BYTES} bytes`);
  }
}

function writeFields(
  heartbeat: Heartbeat,
  version: number,
  size: number,
  target: Uint8Array | undefined,
): Uint8Array {
  if (!isPeerRole(heartbeat.role)) throw new InvalidArgumentError(`heartbeat role ${String(heartbeat.role)}`);
  checkUint('incarnation', heartbeat.incarnation, 0xffffffff);
  if (heartbeat.incarnation === 0) throw new InvalidArgumentError('heartbeat incarnation must be non-zero');
  const intervalUs = Math.round(heartbeat.intervalMs * 1_000);
  if (!Number.isFinite(intervalUs) || intervalUs < 1 || intervalUs > MAX_INTERVAL_US) {
    throw new InvalidArgumentError(`heartbeat intervalMs out of range: ${heartbeat.intervalMs}`);
  }
  checkUint('sequence', heartbeat.sequence, Number.MAX_SAFE_INTEGER);
  checkUint('epoch', heartbeat.epoch, Number.MAX_SAFE_INTEGER);
  checkUint('progress', heartbeat.progress, Number.MAX_SAFE_INTEGER);
  if (!Number.isFinite(heartbeat.senderTimeMs) || heartbeat.senderTimeMs < 0) {
    throw new InvalidArgumentError(
      `heartbeat senderTimeMs must be finite and >= 0, got ${heartbeat.senderTimeMs}`,
    );
  }
  const out = target ?? new Uint8Array(size);
  if (out.length < size) {
    throw new InvalidArgumentError(`heartbeat target is ${out.length} bytes, needs ${size}`);
  }
  const view = new DataView(out.buffer, out.byteOffset, size);
  view.setUint32(0, HEARTBEAT_MAGIC);
  view.setUint8(4, version);
  view.setUint8(5, roleCode(heartbeat.role));
  view.setUint16(6, heartbeat.goodbye ? FLAG_GOODBYE : 0);
  view.setUint32(8, heartbeat.incarnation);
  view.setUint32(12, intervalUs);
  view.setBigUint64(16, BigInt(heartbeat.sequence));
  view.setFloat64(24, heartbeat.senderTimeMs);
  view.setBigUint64(32, BigInt(heartbeat.epoch));
  view.setBigUint64(40, BigInt(heartbeat.progress));
  return out.subarray(0, size);
}

function safeU64(view: DataView, offset: number, name: string): number {
  const value = view.getBigUint64(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER))
    throw new HeartbeatFieldError(`heartbeat ${name} ${value} is unsafe`);
  return Number(value);
}

/**
 * Decodes one heartbeat datagram. Checks, in order: size, magic, version, checksum (or, with `key`,
 * the MAC), fields; each failure throws its own `HeartbeatDecodeError` subclass whose `reason` says
 * which check failed. Without `key` only version 1 is accepted (trusted-network mode); with `key` (the
 * sender-to-receiver key) only version 2 with a matching MAC, and a version 1 heartbeat is refused as
 * unauthenticated. The MAC is compared in constant time. Never reads outside `bytes` and never keeps a
 * reference to it.
 */
export function decodeHeartbeat(bytes: Uint8Array, key?: Uint8Array): Heartbeat {
  if (key !== undefined) checkKey(key);
  const expectedSize = key === undefined ? HEARTBEAT_BYTES : HEARTBEAT_AUTH_BYTES;
  if (bytes.length !== HEARTBEAT_BYTES && bytes.length !== HEARTBEAT_AUTH_BYTES) {
    throw new HeartbeatSizeError(bytes.length, expectedSize);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (magic !== HEARTBEAT_MAGIC) throw new HeartbeatMagicError(magic);
  const version = view.getUint8(4);
  if (key === undefined) {
    if (version !== HEARTBEAT_VERSION) throw new HeartbeatVersionError(version, HEARTBEAT_VERSION);
    if (bytes.length !== HEARTBEAT_BYTES) throw new HeartbeatSizeError(bytes.length, HEARTBEAT_BYTES);
    const found = view.getUint32(CHECKSUM_OFFSET);
    const computed = crc32(bytes, 0, CHECKSUM_OFFSET);
    if (found !== computed) throw new HeartbeatChecksumError(found, computed);
  } else {
    if (version === HEARTBEAT_VERSION) throw new HeartbeatUnauthenticatedError();
    if (version !== HEARTBEAT_AUTH_VERSION) throw new HeartbeatVersionError(version, HEARTBEAT_AUTH_VERSION);
    if (bytes.length !== HEARTBEAT_AUTH_BYTES)
      throw new HeartbeatSizeError(bytes.length, HEARTBEAT_AUTH_BYTES);
    const expected = heartbeatMac(key, bytes, COVERED_BYTES);
    if (!timingSafeEqual(expected, bytes.subarray(COVERED_BYTES, HEARTBEAT_AUTH_BYTES)))
      throw new HeartbeatMacError();
  }
  const role = roleFromCode(view.getUint8(5));
  if (role === undefined) throw new HeartbeatFieldError(`heartbeat role code ${view.getUint8(5)} is unknown`);
  const flags = view.getUint16(6);
  if ((flags & ~FLAG_GOODBYE) !== 0)
    throw new HeartbeatFieldError(`heartbeat flags 0x${flags.toString(16)} unknown`);
  const incarnation = view.getUint32(8);
  if (incarnation === 0) throw new HeartbeatFieldError('heartbeat incarnation is zero');
  const intervalUs = view.getUint32(12);
  if (intervalUs === 0) throw new HeartbeatFieldError('heartbeat interval is zero');
  const senderTimeMs = view.getFloat64(24);
  if (!Number.isFinite(senderTimeMs) || senderTimeMs < 0) {
    throw new HeartbeatFieldError(`heartbeat sender time ${senderTimeMs} is not a monotonic time`);
  }
  return {
    role,
    goodbye: (flags & FLAG_GOODBYE) !== 0,
    incarnation,
    intervalMs: intervalUs / 1_000,
    sequence: safeU64(view, 16, 'sequence'),
    senderTimeMs,
    epoch: safeU64(view, 32, 'epoch'),
    progress: safeU64(view, 40, 'progress'),
  };
}
