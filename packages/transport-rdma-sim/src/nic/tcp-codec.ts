import { MAX_MESSAGE_BYTES, PSN_MASK } from '../constants.js';
import { WireProtocolError } from '../errors.js';
import { ResponseKind, WireOp } from './packets.js';

/**
 * The TCP fabric's wire format, inside transport-tcp frames (which already guarantee whole, ordered,
 * CRC32C-checked frames). A HELLO frame names the connecting NIC; every other frame is a batch of
 * entries, each a fixed 48-byte header followed by its data. A message larger than a frame travels
 * as consecutive fragments (FIRST ... LAST), never interleaved with another message.
 */

/** Frame type of the first frame on a connection: the connecting NIC's address. */
export const FRAME_HELLO = 1;
/** Frame type of a batch of entries. */
export const FRAME_BATCH = 2;
/** Bytes of one entry header. */
export const ENTRY_HEADER_BYTES = 48;
/** Entry kind: a request (requester to responder). */
export const ENTRY_REQUEST = 1;
/** Entry kind: a response (responder to requester). */
export const ENTRY_RESPONSE = 2;
/** Entry flag: first fragment of its message. */
export const FRAGMENT_FIRST = 1;
/** Entry flag: last fragment of its message. */
export const FRAGMENT_LAST = 2;

const HELLO_PREFIX = 'RDMASIM1 ';
const MAX_ADDRESS_BYTES = 1024;

/** The header of one entry. */
export interface EntryHeader {
  kind: number;
  /** WireOp for requests, ResponseKind for responses. */
  op: number;
  flags: number;
  dstQp: number;
  srcQp: number;
  psn: number;
  rkey: number;
  imm: number;
  /** Whole message length (for a READ request: the bytes asked for). */
  length: number;
  /** Where this fragment's data sits in the message's payload. */
  fragmentOffset: number;
  /** Data bytes following this header. */
  fragmentLength: number;
  /** RNR NAK delay, in microseconds. */
  rnrDelayUs: number;
  remoteAddr: number;
}

/** One decoded entry: its header and a view of its data inside the frame. */
export interface Entry {
  header: EntryHeader;
  data: Uint8Array;
}

/** Encodes one entry header into a new 48-byte buffer. */
export function encodeEntryHeader(h: EntryHeader): Uint8Array {
  const bytes = new Uint8Array(ENTRY_HEADER_BYTES);
  writeEntryHeader(new DataView(bytes.buffer), 0, h, h.flags, h.fragmentOffset, h.fragmentLength);
  return bytes;
}

/** Writes one entry header at `at`, with the fragment fields given separately (the rest from `h`). */
export function writeEntryHeader(
  view: DataView,
  at: number,
  h: EntryHeader,
  flags: number,
  fragmentOffset: number,
  fragmentLength: number,
): void {
  view.setUint8(at, h.kind);
  view.setUint8(at + 1, h.op);
  view.setUint8(at + 2, flags);
  view.setUint8(at + 3, 0);
  view.setUint32(at + 4, h.dstQp, true);
  view.setUint32(at + 8, h.srcQp, true);
  view.setUint32(at + 12, h.psn, true);
  view.setUint32(at + 16, h.rkey, true);
  view.setUint32(at + 20, h.imm, true);
  view.setUint32(at + 24, h.length, true);
  view.setUint32(at + 28, fragmentOffset, true);
  view.setUint32(at + 32, fragmentLength, true);
  view.setUint32(at + 36, h.rnrDelayUs, true);
  view.setFloat64(at + 40, h.remoteAddr, true);
}

/** Decodes every entry of a batch frame; data are views into `payload`. Throws WireProtocolError. */
export function decodeBatch(payload: Uint8Array): Entry[] {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const entries: Entry[] = [];
  let pos = 0;
  while (pos < payload.byteLength) {
    if (payload.byteLength - pos < ENTRY_HEADER_BYTES) {
      throw new WireProtocolError(
        `batch truncated: ${payload.byteLength - pos} bytes left, an entry header needs ${ENTRY_HEADER_BYTES}`,
      );
    }
    const header: EntryHeader = {
      kind: view.getUint8(pos),
      op: view.getUint8(pos + 1),
      flags: view.getUint8(pos + 2),
      dstQp: view.getUint32(pos + 4, true),
      srcQp: view.getUint32(pos + 8, true),
      psn: view.getUint32(pos + 12, true),
      rkey: view.getUint32(pos + 16, true),
      imm: view.getUint32(pos + 20, true),
      length: view.getUint32(pos + 24, true),
      fragmentOffset: view.getUint32(pos + 28, true),
      fragmentLength: view.getUint32(pos + 32, true),
      rnrDelayUs: view.getUint32(pos + 36, true),
      remoteAddr: view.getFloat64(pos + 40, true),
    };
    validateHeader(header, view.getUint8(pos + 3));
    pos += ENTRY_HEADER_BYTES;
    if (payload.byteLength - pos < header.fragmentLength) {
      throw new WireProtocolError(
        `entry data truncated: header says ${header.fragmentLength} bytes, ${payload.byteLength - pos} remain`,
      );
    }
    entries.push({ header, data: payload.subarray(pos, pos + header.fragmentLength) });
    pos += header.fragmentLength;
  }
  return entries;
}

function validateHeader(h: EntryHeader, reserved: number): void {
  if (reserved !== 0) throw new WireProtocolError(`entry reserved byte is ${reserved}, must be 0`);
  if (h.kind === ENTRY_REQUEST) {
    if (h.op > WireOp.READ) throw new WireProtocolError(`unknown request op ${h.op}`);
  } else if (h.kind === ENTRY_RESPONSE) {
    if (h.op > ResponseKind.READ_RESPONSE) throw new WireProtocolError(`unknown response kind ${h.op}`);
  } else {
    throw new WireProtocolError(`unknown entry kind ${h.kind}`);
  }
  if ((h.flags & ~(FRAGMENT_FIRST | FRAGMENT_LAST)) !== 0)
    throw new WireProtocolError(`unknown entry flags ${h.flags}`);
  if (h.psn > PSN_MASK) throw new WireProtocolError(`psn ${h.psn} exceeds 24 bits`);
  if (h.length > MAX_MESSAGE_BYTES)
    throw new WireProtocolError(`message length ${h.length} exceeds ${MAX_MESSAGE_BYTES}`);
  if (h.fragmentOffset + h.fragmentLength > h.length) {
    throw new WireProtocolError(
      `fragment ${h.fragmentOffset}+${h.fragmentLength} runs past the message length ${h.length}`,
    );
  }
  if (h.kind === ENTRY_REQUEST && h.op === WireOp.READ && h.fragmentLength !== 0) {
    throw new WireProtocolError('a READ request carries no data');
  }
  if (!Number.isSafeInteger(h.remoteAddr) || h.remoteAddr < 0) {
    throw new WireProtocolError(`remote address ${h.remoteAddr} is not an unsigned integer`);
  }
}

/** The HELLO frame payload naming `address`. */
export function encodeHello(address: string): Uint8Array {
  return new TextEncoder().encode(HELLO_PREFIX + address);
}

/** The address in a HELLO frame payload. Throws WireProtocolError if it is not one. */
export function decodeHello(payload: Uint8Array): string {
  if (payload.byteLength > MAX_ADDRESS_BYTES) throw new WireProtocolError('HELLO longer than any address');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch (err) {
    throw new WireProtocolError(`HELLO is not UTF-8: ${(err as Error).message}`);
  }
  if (!text.startsWith(HELLO_PREFIX) || text.length === HELLO_PREFIX.length) {
    throw new WireProtocolError('HELLO does not come from an rdma-sim NIC of this version');
  }
  return text.slice(HELLO_PREFIX.length);
}
