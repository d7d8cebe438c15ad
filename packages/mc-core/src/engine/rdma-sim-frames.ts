import {
  FieldRangeError,
  MalformedMessageError,
  UnknownMessageTypeError,
} from '../protocol/protocol-errors.js';
import { type FieldSink, Reader, Sizer, Writer } from '../protocol/wire.js';

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

/**
 * Version of this exchange; both sides must speak the same one. Version 2 lays the frames out with
 * the MC protocol's codec (little-endian); version 1 was big-endian.
 */
export const RDMA_LINK_VERSION = 2;

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

/** NIC addresses are host:port strings; an empty or longer one is refused both ways. */
const MAX_ADDRESS_BYTES = 1024;
const encoder = new TextEncoder();

/** True when `type` is one of this transport's own frames. */
export function isRdmaFrameType(type: number): boolean {
  return type >= RDMA_FRAME_TYPES.CONNECT && type <= RDMA_FRAME_TYPES.RELEASE;
}

/** A NIC address: UTF-8 text of 1..MAX_ADDRESS_BYTES bytes, narrower than what `text` can carry. */
function writeAddress(sink: FieldSink, value: string): void {
  const bytes = encoder.encode(value).byteLength;
  if (bytes === 0 || bytes > MAX_ADDRESS_BYTES)
    throw new FieldRangeError('nicAddress', value, `1..${MAX_ADDRESS_BYTES} bytes of UTF-8`);
  sink.text('nicAddress', value);
}

function readAddress(r: Reader, what: string): string {
  const before = r.remaining;
  const address = r.text('nicAddress');
  // What the text took, less its u16 length: the address's bytes as they were on the wire.
  const bytes = before - r.remaining - 2;
  if (bytes === 0 || bytes > MAX_ADDRESS_BYTES)
    throw new MalformedMessageError(`${what}: address of ${bytes} bytes`);
  return address;
}

/**
 * Each frame's fields in wire order, written once: a `Sizer` run validates and measures, a `Writer`
 * run fills the one allocation. `readFrame` must read them back in the same order.
 */
function layout(sink: FieldSink, frame: RdmaFrame): void {
  switch (frame.kind) {
    case 'CONNECT':
      // The version comes first, so a peer of another version can be told so (rdmaConnectVersion).
      sink.u16('version', frame.version);
      sink.u32('qpNum', frame.qpNum);
      sink.u32('maxFrameBytes', frame.maxFrameBytes);
      writeAddress(sink, frame.nicAddress);
      return;
    case 'ACCEPT':
      sink.u32('qpNum', frame.qpNum);
      sink.u64('ringAddr', frame.ringAddr);
      sink.u32('ringBytes', frame.ringBytes);
      sink.u32('ringRkey', frame.ringRkey);
      writeAddress(sink, frame.nicAddress);
      return;
    case 'PLACED':
      sink.u32('sequence', frame.sequence);
      sink.u8('frameType', frame.frameType);
      sink.u32('offset', frame.offset);
      sink.u32('length', frame.length);
      sink.u64('releaseMark', frame.releaseMark);
      return;
    case 'RELEASE':
      sink.u64('releaseMark', frame.releaseMark);
      return;
  }
}

/**
 * Encodes one frame; returns its frame type and payload.
 * @throws FieldRangeError for a value the frame cannot carry; UnknownMessageTypeError for an unknown kind.
 */
export function encodeRdmaFrame(frame: RdmaFrame): { type: number; payload: Uint8Array } {
  const type = RDMA_FRAME_TYPES[frame.kind];
  if (type === undefined) throw new UnknownMessageTypeError(Number.NaN);
  const sizer = new Sizer();
  layout(sizer, frame);
  const writer = new Writer(sizer.headBytes);
  layout(writer, frame);
  return { type, payload: writer.head };
}

function readFrame(type: number, r: Reader): RdmaFrame {
  switch (type) {
    case RDMA_FRAME_TYPES.CONNECT:
      return {
        kind: 'CONNECT',
        version: r.u16(),
        qpNum: r.u32(),
        maxFrameBytes: r.u32(),
        nicAddress: readAddress(r, 'RDMA CONNECT'),
      };
    case RDMA_FRAME_TYPES.ACCEPT:
      return {
        kind: 'ACCEPT',
        qpNum: r.u32(),
        ringAddr: r.u64('ringAddr'),
        ringBytes: r.u32(),
        ringRkey: r.u32(),
        nicAddress: readAddress(r, 'RDMA ACCEPT'),
      };
    case RDMA_FRAME_TYPES.PLACED:
      return {
        kind: 'PLACED',
        sequence: r.u32(),
        frameType: r.u8(),
        offset: r.u32(),
        length: r.u32(),
        releaseMark: r.u64('releaseMark'),
      };
    case RDMA_FRAME_TYPES.RELEASE:
      return { kind: 'RELEASE', releaseMark: r.u64('releaseMark') };
    default:
      throw new UnknownMessageTypeError(type);
  }
}

const NAME_BY_TYPE = new Map<number, string>(
  Object.entries(RDMA_FRAME_TYPES).map(([kind, type]) => [type, `RDMA ${kind}`]),
);

/**
 * Decodes one of this transport's frames, checking every length; trailing bytes are refused.
 * @throws UnknownMessageTypeError, TruncatedMessageError, MalformedMessageError, FieldRangeError
 */
export function decodeRdmaFrame(type: number, payload: Uint8Array): RdmaFrame {
  const r = new Reader(payload, NAME_BY_TYPE.get(type) ?? `RDMA frame ${type}`);
  const frame = readFrame(type, r);
  r.end();
  return frame;
}

/**
 * The version a CONNECT announces, read on its own: the fields after it are laid out as that version
 * says, so a peer of another version is refused for its version before they are read. A version-1
 * peer wrote it big-endian, so its 1 reads as 256 here; either way it is not this side's version.
 * Undefined for another frame type or a CONNECT too short to hold a version.
 */
export function rdmaConnectVersion(type: number, payload: Uint8Array): number | undefined {
  if (type !== RDMA_FRAME_TYPES.CONNECT || payload.byteLength < 2) return undefined;
  return new Reader(payload, 'RDMA CONNECT').u16();
}
