/**
 * The messages NICs exchange over a fabric. A message is whole: the wire may carry it in fragments
 * (the TCP fabric does), but the NIC logic only ever sees complete requests and responses, as an RC
 * responder sees a message once its last packet arrived in sequence.
 */

/** Request operations on the wire. */
export const WireOp = { SEND: 0, SEND_IMM: 1, WRITE: 2, WRITE_IMM: 3, READ: 4 } as const;

/** Response kinds on the wire: an acknowledgement, a READ response, or one of the NAKs. */
export const ResponseKind = {
  ACK: 0,
  RNR_NAK: 1,
  NAK_INVALID_REQUEST: 2,
  NAK_REMOTE_ACCESS: 3,
  NAK_REMOTE_OPERATION: 4,
  READ_RESPONSE: 5,
} as const;

/** A registered buffer of the sending NIC, as the wire names it. */
export interface LocalSegment {
  /** Unique for the life of the NIC, never reused. */
  readonly id: number;
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** A piece of outgoing payload: a range of a local segment, or bytes copied at post time (inline data). */
export interface OutChunk {
  readonly segment: LocalSegment | null;
  /** Offset inside the segment. */
  readonly offset: number;
  readonly length: number;
  readonly bytes: Uint8Array | null;
}

/** Fields every request carries. */
export interface RequestHeader {
  dstQp: number;
  srcQp: number;
  psn: number;
  op: number;
  remoteAddr: number;
  rkey: number;
  /** Total message length: payload bytes for SEND and WRITE, bytes asked for by a READ. */
  length: number;
  imm: number;
}

/** Fields every response carries. */
export interface ResponseHeader {
  dstQp: number;
  srcQp: number;
  psn: number;
  kind: number;
  /** RNR NAK only: how long the requester must wait before it retries, in milliseconds. */
  rnrDelayMs: number;
  /** READ response only: payload bytes. */
  length: number;
}

/** A request leaving this NIC. */
export interface OutRequest extends RequestHeader {
  chunks: readonly OutChunk[];
}

/** A response leaving this NIC. */
export interface OutResponse extends ResponseHeader {
  chunks: readonly OutChunk[];
}

/** A request that arrived: its payload as views (into the sender's memory or into received frames). */
export interface InRequest extends RequestHeader {
  data: readonly Uint8Array[];
}

/** A response that arrived. */
export interface InResponse extends ResponseHeader {
  data: readonly Uint8Array[];
}

/** The bytes of one outgoing chunk, as a view (no copy). */
export function chunkView(chunk: OutChunk): Uint8Array {
  if (chunk.bytes) return chunk.bytes;
  const segment = chunk.segment!;
  return new Uint8Array(segment.buffer, segment.byteOffset + chunk.offset, chunk.length);
}
