import {
  FieldRangeError,
  MalformedMessageError,
  TruncatedMessageError,
  UnknownMessageTypeError,
} from '../protocol/protocol-errors.js';

/**
 * The frames the RDMA-semantics transport adds to the control channel, like RDMA-CM's connection
 * exchange plus the doorbells of a ring buffer. They use frame types the MC protocol leaves free
 * (0xF0 and up), so they never reach the engine.
 */
export const RDMA_FRAME_TYPES = {
  /** Primary → secondary: my NIC and queue pair; the largest frame I will place. */
  CONNECT: 0xf0,
  /** Secondary → primary: my NIC and queue pair, and the ring region to write into. */
  ACCEPT: 0xf1,
  /** Primary → secondary: a frame has landed in the ring (its commit marker completed). */
  PLACED: 0xf2,
  /** Secondary → primary: the ring is consumed up to this mark; it may be written again. */
  RELEASE: 0xf3,
} as const;

/** Version of this exchange; both sides must speak the same one. */
export const RDMA_LINK_VERSION = 1;

export interface RdmaConnectFrame {
  kind: 'CONNECT';
  version: number;
  nicAddress: string;
  qpNum: number;
  /** The largest single frame the primary will place in the ring, bytes. */
  maxFrameBytes: number;
}

export interface RdmaAcceptFrame {
  kind: 'ACCEPT';
  nicAddress: string;
  qpNum: number;
  ringAddr: number;
  ringBytes: number;
  ringRkey: number;
}

export interface RdmaPlacedFrame {
  kind: 'PLACED';
  /** Sequence number of the placement; it is also the commit marker's immediate (uint32, wraps). */
  sequence: number;
  /** The MC frame type carried. */
  frameType: number;
  offset: number;
  length: number;
  /** The ring position after this frame: what RELEASE hands back once it is consumed. */
  releaseMark: number;
}

export interface RdmaReleaseFrame {
  kind: 'RELEASE';
  releaseMark: number;
}

export type RdmaFrame = RdmaConnectFrame | RdmaAcceptFrame | RdmaPlacedFrame | RdmaReleaseFrame;

const MAX_ADDRESS_BYTES = 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** True when `type` is one of this transport's own frames. */
export function isRdmaFrameType(type: number): boolean {
  return type >= RDMA_FRAME_TYPES.CONNECT && type <= RDMA_FRAME_TYPES.RELEASE;
}

function u32(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff)
    throw new FieldRangeError(field, value, '0..2^32-1');
  return value;
}

function u64(field: string, value: number): bigint {
  if (!Number.isSafeInteger(value) || value < 0) throw new FieldRangeError(field, value, '0..2^53-1');
  return BigInt(value);
}

function text(field: string, value: string): Uint8Array {
  const bytes = encoder.encode(value);
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_ADDRESS_BYTES)
    throw new FieldRangeError(field, value, `1..${MAX_ADDRESS_BYTES} bytes of UTF-8`);
  return bytes;
}

/** Encodes one frame; returns its frame type and payload. */
export function encodeRdmaFrame(frame: RdmaFrame): { type: number; payload: Uint8Array } {
  switch (frame.kind) {
    case 'CONNECT': {
      const address = text('nicAddress', frame.nicAddress);
      const out = new Uint8Array(2 + 4 + 4 + 2 + address.byteLength);
      const view = new DataView(out.buffer);
      if (!Number.isInteger(frame.version) || frame.version < 0 || frame.version > 0xffff)
        throw new FieldRangeError('version', frame.version, '0..65535');
      view.setUint16(0, frame.version);
      view.setUint32(2, u32('qpNum', frame.qpNum));
      view.setUint32(6, u32('maxFrameBytes', frame.maxFrameBytes));
      view.setUint16(10, address.byteLength);
      out.set(address, 12);
      return { type: RDMA_FRAME_TYPES.CONNECT, payload: out };
    }
    case 'ACCEPT': {
      const address = text('nicAddress', frame.nicAddress);
      const out = new Uint8Array(4 + 8 + 4 + 4 + 2 + address.byteLength);
      const view = new DataView(out.buffer);
      view.setUint32(0, u32('qpNum', frame.qpNum));
      view.setBigUint64(4, u64('ringAddr', frame.ringAddr));
      view.setUint32(12, u32('ringBytes', frame.ringBytes));
      view.setUint32(16, u32('ringRkey', frame.ringRkey));
      view.setUint16(20, address.byteLength);
      out.set(address, 22);
      return { type: RDMA_FRAME_TYPES.ACCEPT, payload: out };
    }
    case 'PLACED': {
      const out = new Uint8Array(4 + 1 + 4 + 4 + 8);
      const view = new DataView(out.buffer);
      view.setUint32(0, u32('sequence', frame.sequence));
      if (!Number.isInteger(frame.frameType) || frame.frameType < 0 || frame.frameType > 0xff)
        throw new FieldRangeError('frameType', frame.frameType, '0..255');
      view.setUint8(4, frame.frameType);
      view.setUint32(5, u32('offset', frame.offset));
      view.setUint32(9, u32('length', frame.length));
      view.setBigUint64(13, u64('releaseMark', frame.releaseMark));
      return { type: RDMA_FRAME_TYPES.PLACED, payload: out };
    }
    case 'RELEASE': {
      const out = new Uint8Array(8);
      new DataView(out.buffer).setBigUint64(0, u64('releaseMark', frame.releaseMark));
      return { type: RDMA_FRAME_TYPES.RELEASE, payload: out };
    }
  }
}

function need(what: string, payload: Uint8Array, bytes: number): void {
  if (payload.byteLength < bytes) throw new TruncatedMessageError(what, bytes, payload.byteLength);
}

function exact(what: string, payload: Uint8Array, bytes: number): void {
  need(what, payload, bytes);
  if (payload.byteLength > bytes)
    throw new MalformedMessageError(`${what}: ${payload.byteLength - bytes} trailing bytes`);
}

function readU64(view: DataView, at: number, field: string): number {
  const value = view.getBigUint64(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new FieldRangeError(field, value, '0..2^53-1');
  return Number(value);
}

function readText(what: string, payload: Uint8Array, at: number): string {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  need(what, payload, at + 2);
  const length = view.getUint16(at);
  if (length === 0 || length > MAX_ADDRESS_BYTES)
    throw new MalformedMessageError(`${what}: address of ${length} bytes`);
  exact(what, payload, at + 2 + length);
  try {
    return decoder.decode(payload.subarray(at + 2, at + 2 + length));
  } catch {
    throw new MalformedMessageError(`${what}: the address is not UTF-8`);
  }
}

/**
 * Decodes one of this transport's frames, checking every length.
 * @throws UnknownMessageTypeError, TruncatedMessageError, MalformedMessageError, FieldRangeError
 */
export function decodeRdmaFrame(type: number, payload: Uint8Array): RdmaFrame {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  switch (type) {
    case RDMA_FRAME_TYPES.CONNECT:
      need('RDMA CONNECT', payload, 12);
      return {
        kind: 'CONNECT',
        version: view.getUint16(0),
        qpNum: view.getUint32(2),
        maxFrameBytes: view.getUint32(6),
        nicAddress: readText('RDMA CONNECT', payload, 10),
      };
    case RDMA_FRAME_TYPES.ACCEPT:
      need('RDMA ACCEPT', payload, 22);
      return {
        kind: 'ACCEPT',
        qpNum: view.getUint32(0),
        ringAddr: readU64(view, 4, 'ringAddr'),
        ringBytes: view.getUint32(12),
        ringRkey: view.getUint32(16),
        nicAddress: readText('RDMA ACCEPT', payload, 20),
      };
    case RDMA_FRAME_TYPES.PLACED:
      exact('RDMA PLACED', payload, 21);
      return {
        kind: 'PLACED',
        sequence: view.getUint32(0),
        frameType: view.getUint8(4),
        offset: view.getUint32(5),
        length: view.getUint32(9),
        releaseMark: readU64(view, 13, 'releaseMark'),
      };
    case RDMA_FRAME_TYPES.RELEASE:
      exact('RDMA RELEASE', payload, 8);
      return { kind: 'RELEASE', releaseMark: readU64(view, 0, 'releaseMark') };
    default:
      throw new UnknownMessageTypeError(type);
  }
}
