import { FieldRangeError, MalformedMessageError, UnknownMessageTypeError } from './protocol-errors.js';
import { type FieldSink, Reader, Sizer, Writer } from './wire.js';

/**
 * Version of the MC protocol messages; HELLO carries it and a mismatch ends the connection.
 * 2: CKPT_END's checksum also covers each run's placement and the output batch (1 covered page bytes).
 */
export const PROTOCOL_VERSION = 2;

/** Frame type numbers on the wire (the transport frame's `type` byte). */
export const MESSAGE_TYPES = {
  HELLO: 1,
  SYNC_BEGIN: 2,
  SYNC_PAGES: 3,
  SYNC_END: 4,
  CKPT_BEGIN: 5,
  CKPT_PAGES: 6,
  CKPT_OUTPUT: 7,
  CKPT_END: 8,
  ACK: 9,
  NACK: 10,
  BUDGET: 11,
  GOODBYE: 12,
  ERROR: 13,
  SYNC_ACK: 14,
  HANDOVER: 15,
} as const;

export type MessageKind = keyof typeof MESSAGE_TYPES;

/** GOODBYE reasons. */
export const GOODBYE_REASONS = {
  /** The sender ends the session (close()). */
  shutdown: 0,
  /** The secondary accepted a HANDOVER and is taking over now. */
  handoverAccepted: 1,
} as const;

/** Which side sent a HELLO. */
export const ROLES = { primary: 1, secondary: 2 } as const;

/** A run of adjacent pages as it travels: `encodedBytes` of data for `pageCount` pages from `firstPage`. */
export interface WirePageRun {
  firstPage: number;
  pageCount: number;
  encodedBytes: number;
}

/** Opens a connection from either side: what it is, what it can do, what it can hold. */
export interface HelloMessage {
  kind: 'HELLO';
  protocolVersion: number;
  role: number;
  /** Bit set of optional features (codecs, transports) the sender supports. */
  capabilities: number;
  pageSize: number;
  pageCount: number;
  /** Secondary: RAM it will spend on the copy; primary: 0. */
  memoryBudgetBytes: number;
  /** Secondary: largest checkpoint it accepts; primary: 0. */
  maxCheckpointBytes: number;
  /** Checkpoints the secondary lets be in flight at once (>= 1). */
  maxInFlight: number;
  fencingToken: number;
  /** The last epoch the sender has committed (secondary) or shipped (primary); 0 before the first. */
  committedEpoch: number;
  /** The arbitration generation the fencing token belongs to (the next takeover asks for one above). */
  generation: number;
  /** UDP port of the sender's keepalive heartbeats (on the data channel's address); 0 for none. */
  heartbeatPort: number;
  nodeId: string;
}

/** Starts one pass of the full copy (initial protection, re-protection). */
export interface SyncBeginMessage {
  kind: 'SYNC_BEGIN';
  pass: number;
  fencingToken: number;
  pageCount: number;
}

/** Pages of a sync pass, or of a checkpoint: runs then their data. */
export interface PagesMessage<K extends 'SYNC_PAGES' | 'CKPT_PAGES'> {
  kind: K;
  /** The pass number (SYNC_PAGES) or epoch (CKPT_PAGES). */
  sequence: number;
  /** Codec of every run in this message (raw, zero, xbzrle, lz4, zstd: the store's codec ids). */
  codec: number;
  runs: readonly WirePageRun[];
  /** The runs' encoded data back to back; on encode any split into parts, on decode one view. */
  data: readonly Uint8Array[];
}

/** The secondary has staged a whole sync pass: the primary may reuse the slab it shipped from. */
export interface SyncAckMessage {
  kind: 'SYNC_ACK';
  pass: number;
  pagesReceived: number;
}

export interface SyncEndMessage {
  kind: 'SYNC_END';
  pass: number;
  /** 1 when this was the last pass: the first checkpoint follows. */
  final: number;
  pagesSent: number;
}

export interface CkptBeginMessage {
  kind: 'CKPT_BEGIN';
  epoch: number;
  fencingToken: number;
  /** Pages the checkpoint will carry. */
  pageCount: number;
  /** Bytes of page data (encoded) the checkpoint will carry. */
  dataBytes: number;
}

/** The cork batch of the epoch, serialized by io-cork, travelling inside the checkpoint. */
export interface CkptOutputMessage {
  kind: 'CKPT_OUTPUT';
  epoch: number;
  batch: readonly Uint8Array[];
}

export interface CkptEndMessage {
  kind: 'CKPT_END';
  epoch: number;
  pageCount: number;
  /** Checksum over the checkpoint's page data in order. */
  checksum: number;
}

export interface AckMessage {
  kind: 'ACK';
  epoch: number;
  fencingToken: number;
}

export interface NackMessage {
  kind: 'NACK';
  epoch: number;
  reason: number;
  detail: string;
}

/** The secondary changes what it can hold. */
export interface BudgetMessage {
  kind: 'BUDGET';
  memoryBudgetBytes: number;
  maxCheckpointBytes: number;
}

export interface GoodbyeMessage {
  kind: 'GOODBYE';
  reason: number;
  detail: string;
}

/**
 * Planned switchover: the primary has stopped its guest after checkpoint `epoch`, that checkpoint is
 * acknowledged, and the secondary is to take over now (asking the arbiter for the generation after
 * `generation`) instead of waiting for its failure detector.
 */
export interface HandoverMessage {
  kind: 'HANDOVER';
  /** The last checkpoint; the secondary must have committed exactly this one. */
  epoch: number;
  fencingToken: number;
  generation: number;
}

export interface ErrorMessage {
  kind: 'ERROR';
  code: string;
  detail: string;
}

export type McMessage =
  | HelloMessage
  | SyncBeginMessage
  | PagesMessage<'SYNC_PAGES'>
  | SyncEndMessage
  | SyncAckMessage
  | CkptBeginMessage
  | PagesMessage<'CKPT_PAGES'>
  | CkptOutputMessage
  | CkptEndMessage
  | AckMessage
  | NackMessage
  | BudgetMessage
  | GoodbyeMessage
  | HandoverMessage
  | ErrorMessage;

/** Lays out every field of `message` on `sink`, in wire order. */
function layout(sink: FieldSink, message: McMessage): void {
  switch (message.kind) {
    case 'HELLO':
      sink.u16('protocolVersion', message.protocolVersion);
      sink.u8('role', message.role);
      sink.u32('capabilities', message.capabilities);
      sink.u32('pageSize', message.pageSize);
      sink.u32('pageCount', message.pageCount);
      sink.u64('memoryBudgetBytes', message.memoryBudgetBytes);
      sink.u64('maxCheckpointBytes', message.maxCheckpointBytes);
      sink.u8('maxInFlight', message.maxInFlight);
      sink.u64('fencingToken', message.fencingToken);
      sink.u64('committedEpoch', message.committedEpoch);
      sink.u64('generation', message.generation);
      sink.u16('heartbeatPort', message.heartbeatPort);
      sink.text('nodeId', message.nodeId);
      return;
    case 'SYNC_BEGIN':
      sink.u32('pass', message.pass);
      sink.u64('fencingToken', message.fencingToken);
      sink.u32('pageCount', message.pageCount);
      return;
    case 'SYNC_PAGES':
    case 'CKPT_PAGES': {
      sink.u64('sequence', message.sequence);
      sink.u8('codec', message.codec);
      sink.u32('runCount', message.runs.length);
      let declared = 0;
      for (const run of message.runs) {
        sink.u32('firstPage', run.firstPage);
        sink.u32('pageCount', run.pageCount);
        sink.u32('encodedBytes', run.encodedBytes);
        declared += run.encodedBytes;
      }
      let carried = 0;
      for (const part of message.data) {
        sink.tail(part);
        carried += part.byteLength;
      }
      if (declared !== carried)
        throw new FieldRangeError('data length', carried, `= ${declared} (sum of runs)`);
      return;
    }
    case 'SYNC_END':
      sink.u32('pass', message.pass);
      sink.u8('final', message.final);
      sink.u32('pagesSent', message.pagesSent);
      return;
    case 'SYNC_ACK':
      sink.u32('pass', message.pass);
      sink.u32('pagesReceived', message.pagesReceived);
      return;
    case 'CKPT_BEGIN':
      sink.u64('epoch', message.epoch);
      sink.u64('fencingToken', message.fencingToken);
      sink.u32('pageCount', message.pageCount);
      sink.u64('dataBytes', message.dataBytes);
      return;
    case 'CKPT_OUTPUT':
      sink.u64('epoch', message.epoch);
      for (const part of message.batch) sink.tail(part);
      return;
    case 'CKPT_END':
      sink.u64('epoch', message.epoch);
      sink.u32('pageCount', message.pageCount);
      sink.u32('checksum', message.checksum);
      return;
    case 'ACK':
      sink.u64('epoch', message.epoch);
      sink.u64('fencingToken', message.fencingToken);
      return;
    case 'NACK':
      sink.u64('epoch', message.epoch);
      sink.u16('reason', message.reason);
      sink.text('detail', message.detail);
      return;
    case 'BUDGET':
      sink.u64('memoryBudgetBytes', message.memoryBudgetBytes);
      sink.u64('maxCheckpointBytes', message.maxCheckpointBytes);
      return;
    case 'GOODBYE':
      sink.u16('reason', message.reason);
      sink.text('detail', message.detail);
      return;
    case 'HANDOVER':
      sink.u64('epoch', message.epoch);
      sink.u64('fencingToken', message.fencingToken);
      sink.u64('generation', message.generation);
      return;
    case 'ERROR':
      sink.text('code', message.code);
      sink.text('detail', message.detail);
      return;
  }
}

/** An encoded message: the frame type and the payload parts to hand to `channel.send(type, parts)`. */
export interface EncodedMessage {
  type: number;
  parts: Uint8Array[];
}

/**
 * Encodes a message: measures it (validating every field), allocates its head once, writes it, and
 * returns the head followed by the bulk data parts, which are not copied.
 * @throws FieldRangeError for a value the wire format cannot carry.
 */
export function encodeMessage(message: McMessage): EncodedMessage {
  const type = MESSAGE_TYPES[message.kind];
  if (type === undefined) throw new UnknownMessageTypeError(Number.NaN);
  const sizer = new Sizer();
  layout(sizer, message);
  const writer = new Writer(sizer.headBytes);
  layout(writer, message);
  return { type, parts: [writer.head, ...sizer.tails] };
}

const KIND_BY_TYPE = new Map<number, MessageKind>(
  Object.entries(MESSAGE_TYPES).map(([kind, type]) => [type, kind as MessageKind]),
);

/**
 * Decodes one received frame. Byte fields are views of `payload`. Every length is checked; a message
 * that is short, long, inconsistent or of an unknown type is a typed ProtocolError.
 */
export function decodeMessage(type: number, payload: Uint8Array): McMessage {
  const kind = KIND_BY_TYPE.get(type);
  if (kind === undefined) throw new UnknownMessageTypeError(type);
  const r = new Reader(payload, kind);
  const message = readMessage(kind, r);
  r.end();
  return message;
}

function readMessage(kind: MessageKind, r: Reader): McMessage {
  switch (kind) {
    case 'HELLO':
      return {
        kind,
        protocolVersion: r.u16(),
        role: r.u8(),
        capabilities: r.u32(),
        pageSize: r.u32(),
        pageCount: r.u32(),
        memoryBudgetBytes: r.u64('memoryBudgetBytes'),
        maxCheckpointBytes: r.u64('maxCheckpointBytes'),
        maxInFlight: r.u8(),
        fencingToken: r.u64('fencingToken'),
        committedEpoch: r.u64('committedEpoch'),
        generation: r.u64('generation'),
        heartbeatPort: r.u16(),
        nodeId: r.text('nodeId'),
      };
    case 'SYNC_BEGIN':
      return { kind, pass: r.u32(), fencingToken: r.u64('fencingToken'), pageCount: r.u32() };
    case 'SYNC_PAGES':
    case 'CKPT_PAGES':
      return readPages(kind, r);
    case 'SYNC_END':
      return { kind, pass: r.u32(), final: r.u8(), pagesSent: r.u32() };
    case 'SYNC_ACK':
      return { kind, pass: r.u32(), pagesReceived: r.u32() };
    case 'CKPT_BEGIN':
      return {
        kind,
        epoch: r.u64('epoch'),
        fencingToken: r.u64('fencingToken'),
        pageCount: r.u32(),
        dataBytes: r.u64('dataBytes'),
      };
    case 'CKPT_OUTPUT':
      return { kind, epoch: r.u64('epoch'), batch: [r.rest()] };
    case 'CKPT_END':
      return { kind, epoch: r.u64('epoch'), pageCount: r.u32(), checksum: r.u32() };
    case 'ACK':
      return { kind, epoch: r.u64('epoch'), fencingToken: r.u64('fencingToken') };
    case 'NACK':
      return { kind, epoch: r.u64('epoch'), reason: r.u16(), detail: r.text('detail') };
    case 'BUDGET':
      return {
        kind,
        memoryBudgetBytes: r.u64('memoryBudgetBytes'),
        maxCheckpointBytes: r.u64('maxCheckpointBytes'),
      };
    case 'GOODBYE':
      return { kind, reason: r.u16(), detail: r.text('detail') };
    case 'HANDOVER':
      return {
        kind,
        epoch: r.u64('epoch'),
        fencingToken: r.u64('fencingToken'),
        generation: r.u64('generation'),
      };
    case 'ERROR':
      return { kind, code: r.text('code'), detail: r.text('detail') };
  }
}

// Each run is 12 bytes on the wire; a count that cannot fit in what is left is refused before any
// allocation, so a hostile count cannot make the decoder reserve memory.
const RUN_BYTES = 12;

function readPages<K extends 'SYNC_PAGES' | 'CKPT_PAGES'>(kind: K, r: Reader): PagesMessage<K> {
  const sequence = r.u64('sequence');
  const codec = r.u8();
  const runCount = r.u32();
  if (runCount * RUN_BYTES > r.remaining) {
    throw new MalformedMessageError(`${kind}: ${runCount} runs cannot fit in ${r.remaining} bytes`);
  }
  const runs: WirePageRun[] = new Array(runCount);
  let declared = 0;
  for (let i = 0; i < runCount; i++) {
    const run = { firstPage: r.u32(), pageCount: r.u32(), encodedBytes: r.u32() };
    if (run.pageCount === 0) throw new MalformedMessageError(`${kind}: run ${i} has no pages`);
    if (run.firstPage + run.pageCount > 0xffff_ffff) {
      throw new MalformedMessageError(`${kind}: run ${i} passes the largest page index`);
    }
    declared += run.encodedBytes;
    runs[i] = run;
  }
  const data = r.rest();
  if (data.byteLength !== declared) {
    throw new MalformedMessageError(
      `${kind}: runs declare ${declared} data bytes, ${data.byteLength} present`,
    );
  }
  return { kind, sequence, codec, runs, data: [data] };
}
