import { WitnessProtocolError } from '../errors.js';
import { MAX_WITNESS_NODE_BYTES, MAX_WITNESS_TTL_MS } from './witness-constants.js';

/**
 * The witness wire protocol: one framed message per request and per reply over
 * `@microcheckpoint/transport-tcp` (which already checks length and checksum). Payloads are
 * little-endian; every request starts with a u32 request id that its reply echoes, so a client can
 * have several requests in flight on one connection. Integers above 2^32 (generations, tokens) travel
 * as float64 and must be safe integers; a node name is a u8 length and that many UTF-8 bytes.
 */
export const WITNESS_MESSAGE = {
  /** id u32 · generation f64 · ttlMs u32 · node */
  acquire: 1,
  /** id u32 · generation f64 · token f64 · ttlMs u32 · node */
  renew: 2,
  /** id u32 · generation f64 · token f64 · node */
  release: 3,
  /** id u32 */
  status: 4,
  /** id u32 · token f64 · ttlMs u32 (the TTL the witness counts, from when it decided) */
  granted: 65,
  /** id u32 · reason u8 */
  refused: 66,
  /** id u32 */
  released: 67,
  /** id u32 · highest generation f64 (0: none) · last token f64 · owner generation f64 (0: none) · owner token f64 · owner remaining ms u32 · highest node · owner node */
  statusReply: 68,
  /** id u32 · error u8 · message (UTF-8, the rest) */
  error: 127,
} as const;

/** Why the witness said no. */
export type WitnessRefusal =
  /** Another node owns this generation, or holds a live grant that a newer generation must wait for. */
  | 'held'
  /** A newer generation was granted already; this one never comes back. */
  | 'superseded'
  /** (renew) The grant is no longer the current one: it expired, was released or was taken over. */
  | 'lost';

/** What went wrong with a request, as the witness reports it. */
export type WitnessFault =
  /** The request was malformed; the witness closes the connection after saying so. */
  | 'protocol'
  /** The witness could not persist the decision, so it did not make it. */
  | 'state';

export type WitnessRequest =
  | { kind: 'acquire'; id: number; generation: number; node: string; ttlMs: number }
  | { kind: 'renew'; id: number; generation: number; node: string; token: number; ttlMs: number }
  | { kind: 'release'; id: number; generation: number; node: string; token: number }
  | { kind: 'status'; id: number };

/** The witness's view, as `status` returns it. */
export interface WitnessStatus {
  /** Highest generation ever granted and its node; null before the first grant. */
  highest: { generation: number; node: string } | null;
  /** The last token handed out (0 before the first grant). */
  lastToken: number;
  /** The live owner and how long its grant still runs on the witness's clock, or null. */
  owner: { generation: number; node: string; token: number; remainingMs: number } | null;
}

export type WitnessReply =
  | { kind: 'granted'; id: number; token: number; ttlMs: number }
  | { kind: 'refused'; id: number; reason: WitnessRefusal }
  | { kind: 'released'; id: number }
  | { kind: 'status'; id: number; status: WitnessStatus }
  | { kind: 'error'; id: number; fault: WitnessFault; message: string };

/** A message ready for `channel.send(type, payload)`. */
export interface WitnessFrame {
  type: number;
  payload: Uint8Array;
}

const REFUSALS: readonly WitnessRefusal[] = ['held', 'superseded', 'lost'];
const FAULTS: readonly WitnessFault[] = ['protocol', 'state'];
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeRequest(request: WitnessRequest): WitnessFrame {
  const w = new Writer();
  w.u32(request.id);
  switch (request.kind) {
    case 'acquire':
      w.f64(request.generation).u32(request.ttlMs).str8(request.node);
      return { type: WITNESS_MESSAGE.acquire, payload: w.done() };
    case 'renew':
      w.f64(request.generation).f64(request.token).u32(request.ttlMs).str8(request.node);
      return { type: WITNESS_MESSAGE.renew, payload: w.done() };
    case 'release':
      w.f64(request.generation).f64(request.token).str8(request.node);
      return { type: WITNESS_MESSAGE.release, payload: w.done() };
    case 'status':
      return { type: WITNESS_MESSAGE.status, payload: w.done() };
  }
}

/** @throws WitnessProtocolError for anything but exactly one well-formed request. */
export function decodeRequest(type: number, payload: Uint8Array): WitnessRequest {
  const r = new Reader(payload);
  const id = r.u32();
  let request: WitnessRequest;
  switch (type) {
    case WITNESS_MESSAGE.acquire:
      request = { kind: 'acquire', id, generation: r.positive('generation'), ttlMs: r.ttl(), node: r.node() };
      break;
    case WITNESS_MESSAGE.renew:
      request = {
        kind: 'renew',
        id,
        generation: r.positive('generation'),
        token: r.positive('token'),
        ttlMs: r.ttl(),
        node: r.node(),
      };
      break;
    case WITNESS_MESSAGE.release:
      request = {
        kind: 'release',
        id,
        generation: r.positive('generation'),
        token: r.positive('token'),
        node: r.node(),
      };
      break;
    case WITNESS_MESSAGE.status:
      request = { kind: 'status', id };
      break;
    default:
      throw new WitnessProtocolError(`unknown witness request type ${type}`);
  }
  r.end();
  return request;
}

export function encodeReply(reply: WitnessReply): WitnessFrame {
  const w = new Writer();
  w.u32(reply.id);
  switch (reply.kind) {
    case 'granted':
      w.f64(reply.token).u32(reply.ttlMs);
      return { type: WITNESS_MESSAGE.granted, payload: w.done() };
    case 'refused':
      w.u8(REFUSALS.indexOf(reply.reason) + 1);
      return { type: WITNESS_MESSAGE.refused, payload: w.done() };
    case 'released':
      return { type: WITNESS_MESSAGE.released, payload: w.done() };
    case 'status': {
      const { highest, owner, lastToken } = reply.status;
      w.f64(highest?.generation ?? 0)
        .f64(lastToken)
        .f64(owner?.generation ?? 0)
        .f64(owner?.token ?? 0)
        .u32(Math.max(0, Math.min(MAX_WITNESS_TTL_MS, Math.ceil(owner?.remainingMs ?? 0))))
        .str8(highest?.node ?? '')
        .str8(owner?.node ?? '');
      return { type: WITNESS_MESSAGE.statusReply, payload: w.done() };
    }
    case 'error':
      w.u8(FAULTS.indexOf(reply.fault) + 1).bytes(encoder.encode(reply.message.slice(0, 1000)));
      return { type: WITNESS_MESSAGE.error, payload: w.done() };
  }
}

/** @throws WitnessProtocolError for anything but exactly one well-formed reply. */
export function decodeReply(type: number, payload: Uint8Array): WitnessReply {
  const r = new Reader(payload);
  const id = r.u32();
  let reply: WitnessReply;
  switch (type) {
    case WITNESS_MESSAGE.granted:
      reply = { kind: 'granted', id, token: r.positive('token'), ttlMs: r.ttl() };
      break;
    case WITNESS_MESSAGE.refused:
      reply = { kind: 'refused', id, reason: r.oneOf('refusal', REFUSALS) };
      break;
    case WITNESS_MESSAGE.released:
      reply = { kind: 'released', id };
      break;
    case WITNESS_MESSAGE.statusReply: {
      const highestGeneration = r.natural('highest generation');
      const lastToken = r.natural('last token');
      const ownerGeneration = r.natural('owner generation');
      const ownerToken = r.natural('owner token');
      const remainingMs = r.u32();
      const highestNode = r.str8();
      const ownerNode = r.str8();
      if (
        (highestGeneration === 0) !== (highestNode === '') ||
        (ownerGeneration === 0) !== (ownerNode === '')
      ) {
        throw new WitnessProtocolError(
          'witness status reply: a generation and its node must both be present',
        );
      }
      reply = {
        kind: 'status',
        id,
        status: {
          highest: highestGeneration === 0 ? null : { generation: highestGeneration, node: highestNode },
          lastToken,
          owner:
            ownerGeneration === 0
              ? null
              : { generation: ownerGeneration, node: ownerNode, token: ownerToken, remainingMs },
        },
      };
      break;
    }
    case WITNESS_MESSAGE.error: {
      const fault = r.oneOf('fault', FAULTS);
      reply = { kind: 'error', id, fault, message: r.rest() };
      break;
    }
    default:
      throw new WitnessProtocolError(`unknown witness reply type ${type}`);
  }
  r.end();
  return reply;
}

/** Appends fields into a growing buffer; one allocation at the end. */
class Writer {
  readonly #parts: number[] = [];
  readonly #scratch = new DataView(new ArrayBuffer(8));

  u8(value: number): this {
    this.#parts.push(value & 0xff);
    return this;
  }

  u32(value: number): this {
    this.#scratch.setUint32(0, value, true);
    for (let i = 0; i < 4; i++) this.#parts.push(this.#scratch.getUint8(i));
    return this;
  }

  f64(value: number): this {
    this.#scratch.setFloat64(0, value, true);
    for (let i = 0; i < 8; i++) this.#parts.push(this.#scratch.getUint8(i));
    return this;
  }

  str8(value: string): this {
    const bytes = encoder.encode(value);
    if (bytes.byteLength > MAX_WITNESS_NODE_BYTES) {
      throw new WitnessProtocolError(
        `node name of ${bytes.byteLength} bytes exceeds ${MAX_WITNESS_NODE_BYTES}`,
      );
    }
    return this.u8(bytes.byteLength).bytes(bytes);
  }

  bytes(value: Uint8Array): this {
    for (const byte of value) this.#parts.push(byte);
    return this;
  }

  done(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}

/** Reads fields with bounds checks; every failure is a WitnessProtocolError. */
class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #need(count: number, what: string): void {
    if (this.#offset + count > this.#bytes.byteLength) {
      throw new WitnessProtocolError(`witness message truncated: ${what} needs ${count} more bytes`);
    }
  }

  u8(): number {
    this.#need(1, 'u8');
    return this.#view.getUint8(this.#offset++);
  }

  u32(): number {
    this.#need(4, 'u32');
    const value = this.#view.getUint32(this.#offset, true);
    this.#offset += 4;
    return value;
  }

  f64(): number {
    this.#need(8, 'f64');
    const value = this.#view.getFloat64(this.#offset, true);
    this.#offset += 8;
    return value;
  }

  /** A safe integer >= 1. */
  positive(what: string): number {
    const value = this.f64();
    if (!Number.isSafeInteger(value) || value < 1) throw new WitnessProtocolError(`bad ${what} ${value}`);
    return value;
  }

  /** A safe integer >= 0. */
  natural(what: string): number {
    const value = this.f64();
    if (!Number.isSafeInteger(value) || value < 0) throw new WitnessProtocolError(`bad ${what} ${value}`);
    return value;
  }

  ttl(): number {
    const value = this.u32();
    if (value < 1 || value > MAX_WITNESS_TTL_MS) throw new WitnessProtocolError(`bad ttlMs ${value}`);
    return value;
  }

  str8(): string {
    const length = this.u8();
    this.#need(length, 'string');
    const slice = this.#bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    try {
      return decoder.decode(slice);
    } catch (err) {
      throw new WitnessProtocolError('witness message holds a string that is not UTF-8', err);
    }
  }

  node(): string {
    const node = this.str8();
    if (node.length === 0) throw new WitnessProtocolError('empty node name');
    return node;
  }

  oneOf<T>(what: string, values: readonly T[]): T {
    const index = this.u8();
    const value = values[index - 1];
    if (value === undefined) throw new WitnessProtocolError(`unknown ${what} ${index}`);
    return value;
  }

  rest(): string {
    const slice = this.#bytes.subarray(this.#offset);
    this.#offset = this.#bytes.byteLength;
    try {
      return decoder.decode(slice);
    } catch (err) {
      throw new WitnessProtocolError('witness message holds a string that is not UTF-8', err);
    }
  }

  end(): void {
    if (this.#offset !== this.#bytes.byteLength) {
      throw new WitnessProtocolError(
        `witness message has ${this.#bytes.byteLength - this.#offset} unexpected trailing bytes`,
      );
    }
  }
}
