import { DEFAULT_MAX_ARGS, DEFAULT_MAX_BULK_BYTES, DEFAULT_MAX_INLINE_BYTES } from './constants.js';
import { RespProtocolError } from './errors.js';

const CR = 13;
const LF = 10;
const STAR = 42;
const DOLLAR = 36;
// "*<count>\r\n" and "$<length>\r\n" lines: a count or length of up to 20 digits and a sign.
const MAX_HEADER_LINE = 24;

/** Limits of the request parser; a client that passes one gets a protocol error. */
export interface RespLimits {
  /**
   * Largest bulk string (key or value) accepted, in bytes.
   * @default 16777216 (16 MiB)
   */
  maxBulkBytes?: number;
  /**
   * Most arguments in one command.
   * @default 65536
   */
  maxArgs?: number;
  /**
   * Longest inline (telnet-style) command line, in bytes.
   * @default 65536
   */
  maxInlineBytes?: number;
}

/** What one `push()` produced: whole commands, and the protocol error that ended parsing, if any. */
export interface RespParseResult {
  commands: Uint8Array[][];
  error?: RespProtocolError;
}

type Step = { argv: Uint8Array[]; end: number } | { need: number };

/**
 * An incremental parser of Redis requests: arrays of bulk strings (what clients send) and inline
 * commands (what a person types). Arguments are views of the received bytes, never copies. After a
 * protocol error the parser takes nothing more: the connection must be closed.
 */
export class RespParser {
  readonly #maxBulk: number;
  readonly #maxArgs: number;
  readonly #maxInline: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  // Bytes the command at the front needs before it is worth parsing again: a large value arriving in
  // many chunks is gathered once instead of being re-parsed (and re-concatenated) at every chunk.
  #need = 0;
  #failed = false;

  constructor(limits: RespLimits = {}) {
    this.#maxBulk = limits.maxBulkBytes ?? DEFAULT_MAX_BULK_BYTES;
    this.#maxArgs = limits.maxArgs ?? DEFAULT_MAX_ARGS;
    this.#maxInline = limits.maxInlineBytes ?? DEFAULT_MAX_INLINE_BYTES;
  }

  /** Bytes received and not yet part of a whole command. */
  get bufferedBytes(): number {
    return this.#pendingBytes;
  }

  push(chunk: Uint8Array): RespParseResult {
    if (this.#failed) return { commands: [] };
    const piece = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#pending.push(piece);
    this.#pendingBytes += piece.length;
    if (this.#pendingBytes < this.#need) return { commands: [] };
    const buffer = this.#pending.length === 1 ? piece : Buffer.concat(this.#pending, this.#pendingBytes);
    const commands: Uint8Array[][] = [];
    let pos = 0;
    while (pos < buffer.length) {
      let step: Step;
      try {
        step = buffer[pos] === STAR ? this.#multibulk(buffer, pos) : this.#inline(buffer, pos);
      } catch (err) {
        if (!(err instanceof RespProtocolError)) throw err;
        this.#failed = true;
        this.#pending = [];
        this.#pendingBytes = 0;
        return { commands, error: err };
      }
      if ('need' in step) {
        const rest = buffer.subarray(pos);
        this.#pending = [rest];
        this.#pendingBytes = rest.length;
        this.#need = step.need;
        return { commands };
      }
      if (step.argv.length > 0) commands.push(step.argv);
      pos = step.end;
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#need = 0;
    return { commands };
  }

  // Index of the CR of the next CRLF at or after `from`, -1 if not there yet; refuses lines too long.
  #lineEnd(buffer: Buffer, from: number, max: number, what: string): number {
    const limit = Math.min(buffer.length, from + max + 1);
    const lf = buffer.indexOf(LF, from);
    if (lf === -1 || lf >= limit) {
      if (buffer.length - from > max) throw new RespProtocolError(`${what} line is too long`);
      return -1;
    }
    if (lf === from || buffer[lf - 1] !== CR)
      throw new RespProtocolError(`${what} line does not end in CRLF`);
    return lf - 1;
  }

  #integer(buffer: Buffer, from: number, to: number, what: string): number {
    const text = buffer.toString('latin1', from, to);
    if (!/^-?\d{1,19}$/.test(text)) throw new RespProtocolError(`invalid ${what}`);
    return Number(text);
  }

  #multibulk(buffer: Buffer, start: number): Step {
    const countEnd = this.#lineEnd(buffer, start + 1, MAX_HEADER_LINE, 'multibulk');
    if (countEnd === -1) return { need: buffer.length - start + 1 };
    const count = this.#integer(buffer, start + 1, countEnd, 'multibulk length');
    if (count > this.#maxArgs) throw new RespProtocolError('invalid multibulk length');
    let pos = countEnd + 2;
    if (count <= 0) return { argv: [], end: pos };
    const argv: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      if (pos >= buffer.length) return { need: buffer.length - start + 1 };
      if (buffer[pos] !== DOLLAR) {
        throw new RespProtocolError(`expected '$', got '${String.fromCharCode(buffer[pos]!)}'`);
      }
      const lengthEnd = this.#lineEnd(buffer, pos + 1, MAX_HEADER_LINE, 'bulk');
      if (lengthEnd === -1) return { need: buffer.length - start + 1 };
      const length = this.#integer(buffer, pos + 1, lengthEnd, 'bulk length');
      if (length < 0 || length > this.#maxBulk) throw new RespProtocolError('invalid bulk length');
      const data = lengthEnd + 2;
      if (data + length + 2 > buffer.length) return { need: data + length + 2 - start };
      if (buffer[data + length] !== CR || buffer[data + length + 1] !== LF) {
        throw new RespProtocolError('bulk string does not end in CRLF');
      }
      argv.push(buffer.subarray(data, data + length));
      pos = data + length + 2;
    }
    return { argv, end: pos };
  }

  #inline(buffer: Buffer, start: number): Step {
    const lf = buffer.indexOf(LF, start);
    if (lf === -1 || lf - start > this.#maxInline) {
      if (buffer.length - start > this.#maxInline) throw new RespProtocolError('too big inline request');
      return { need: buffer.length - start + 1 };
    }
    const end = lf > start && buffer[lf - 1] === CR ? lf - 1 : lf;
    const argv: Uint8Array[] = [];
    let i = start;
    while (i < end) {
      while (i < end && (buffer[i] === 32 || buffer[i] === 9)) i++;
      const from = i;
      while (i < end && buffer[i] !== 32 && buffer[i] !== 9) i++;
      if (i > from) argv.push(buffer.subarray(from, i));
    }
    if (argv.length > this.#maxArgs) throw new RespProtocolError('invalid multibulk length');
    return { argv, end: lf + 1 };
  }
}

const encoder = new TextEncoder();

/** `+<text>\r\n` */
export function simpleString(text: string): Uint8Array {
  return encoder.encode(`+${text}\r\n`);
}

/** `-<message>\r\n`; the message must not contain CR or LF. */
export function errorReply(message: string): Uint8Array {
  return encoder.encode(`-${message.replace(/[\r\n]+/g, ' ')}\r\n`);
}

/** `:<n>\r\n` */
export function integerReply(n: number | bigint): Uint8Array {
  return encoder.encode(`:${n}\r\n`);
}

/** `$<length>\r\n<bytes>\r\n`, or the null bulk string `$-1\r\n`. Copies the bytes. */
export function bulkReply(bytes: Uint8Array | null): Uint8Array {
  if (bytes === null) return encoder.encode('$-1\r\n');
  const header = encoder.encode(`$${bytes.length}\r\n`);
  const out = new Uint8Array(header.length + bytes.length + 2);
  out.set(header, 0);
  out.set(bytes, header.length);
  out[out.length - 2] = CR;
  out[out.length - 1] = LF;
  return out;
}

/** `*<count>\r\n` followed by already encoded elements. */
export function arrayReply(elements: readonly Uint8Array[]): Uint8Array {
  const header = encoder.encode(`*${elements.length}\r\n`);
  let length = header.length;
  for (const e of elements) length += e.length;
  const out = new Uint8Array(length);
  out.set(header, 0);
  let at = header.length;
  for (const e of elements) {
    out.set(e, at);
    at += e.length;
  }
  return out;
}

/** A request as clients send it: an array of bulk strings. */
export function encodeCommand(args: ReadonlyArray<string | Uint8Array>): Uint8Array {
  return arrayReply(args.map((a) => bulkReply(typeof a === 'string' ? encoder.encode(a) : a)));
}
