import { RespReplyError } from './errors.js';

/**
 * A RESP2 reply as a client reads it (the KV service writes them with `simpleString`, `errorReply`,
 * `integerReply`, `bulkReply` and `arrayReply`).
 */
export type RespReply =
  | { readonly kind: 'simple'; readonly value: string }
  | { readonly kind: 'error'; readonly value: string }
  | { readonly kind: 'integer'; readonly value: bigint }
  | { readonly kind: 'bulk'; readonly value: Uint8Array | null }
  | { readonly kind: 'array'; readonly value: readonly RespReply[] | null };

/** Limits that keep a misbehaving server from making the client buffer without end. */
export const MAX_REPLY_BULK_BYTES = 1 << 20;
export const MAX_REPLY_ARRAY_ITEMS = 1 << 16;
const MAX_LINE_BYTES = 64 * 1024;
const CR = 13;
const LF = 10;
const decoder = new TextDecoder();

/** Thrown internally when the buffer ends inside a reply: wait for more bytes. */
const INCOMPLETE = Symbol('incomplete');

/**
 * Incremental parser of a stream of RESP replies. `push()` returns every complete reply so far and
 * keeps the rest; a malformed stream throws `RespReplyError` (the connection is unusable after it).
 */
export class RespReplyParser {
  #buffer = new Uint8Array(0);

  push(chunk: Uint8Array): RespReply[] {
    if (this.#buffer.length === 0)
      this.#buffer = new Uint8Array(chunk); // a copy, and never a Buffer
    else {
      const joined = new Uint8Array(this.#buffer.length + chunk.length);
      joined.set(this.#buffer);
      joined.set(chunk, this.#buffer.length);
      this.#buffer = joined;
    }
    const replies: RespReply[] = [];
    let offset = 0;
    for (;;) {
      let parsed: { reply: RespReply; end: number } | typeof INCOMPLETE;
      try {
        parsed = parseAt(this.#buffer, offset);
      } catch (err) {
        if (err === INCOMPLETE) break;
        throw err;
      }
      if (parsed === INCOMPLETE) break;
      replies.push(parsed.reply);
      offset = parsed.end;
    }
    this.#buffer = this.#buffer.slice(offset);
    return replies;
  }

  /** Bytes received that do not yet form a whole reply. */
  get pendingBytes(): number {
    return this.#buffer.length;
  }
}

function readLine(buffer: Uint8Array, start: number): { line: string; end: number } {
  for (let i = start; i < buffer.length; i++) {
    if (buffer[i] === CR) {
      if (i + 1 >= buffer.length) throw INCOMPLETE;
      if (buffer[i + 1] !== LF) throw new RespReplyError('CR not followed by LF');
      return { line: decoder.decode(buffer.subarray(start, i)), end: i + 2 };
    }
    if (buffer[i] === LF) throw new RespReplyError('bare LF in a reply line');
    if (i - start > MAX_LINE_BYTES)
      throw new RespReplyError(`reply line longer than ${MAX_LINE_BYTES} bytes`);
  }
  throw INCOMPLETE;
}

function parseLength(text: string, max: number, what: string): number {
  if (!/^(-1|0|[1-9][0-9]{0,9})$/.test(text))
    throw new RespReplyError(`bad ${what} length ${JSON.stringify(text)}`);
  const n = Number(text);
  if (n > max) throw new RespReplyError(`${what} length ${n} over the limit ${max}`);
  return n;
}

function parseAt(buffer: Uint8Array, offset: number): { reply: RespReply; end: number } | typeof INCOMPLETE {
  if (offset >= buffer.length) return INCOMPLETE;
  const type = buffer[offset];
  const { line, end } = readLine(buffer, offset + 1);
  switch (type) {
    case 0x2b: // +
      return { reply: { kind: 'simple', value: line }, end };
    case 0x2d: // -
      return { reply: { kind: 'error', value: line }, end };
    case 0x3a: // :
      if (!/^-?[0-9]{1,20}$/.test(line)) throw new RespReplyError(`bad integer ${JSON.stringify(line)}`);
      return { reply: { kind: 'integer', value: BigInt(line) }, end };
    case 0x24: {
      // $
      const length = parseLength(line, MAX_REPLY_BULK_BYTES, 'bulk');
      if (length === -1) return { reply: { kind: 'bulk', value: null }, end };
      if (end + length + 2 > buffer.length) return INCOMPLETE;
      if (buffer[end + length] !== CR || buffer[end + length + 1] !== LF) {
        throw new RespReplyError('bulk string not terminated by CRLF');
      }
      return { reply: { kind: 'bulk', value: buffer.slice(end, end + length) }, end: end + length + 2 };
    }
    case 0x2a: {
      // *
      const count = parseLength(line, MAX_REPLY_ARRAY_ITEMS, 'array');
      if (count === -1) return { reply: { kind: 'array', value: null }, end };
      const items: RespReply[] = [];
      let at = end;
      for (let i = 0; i < count; i++) {
        const item = parseAt(buffer, at);
        if (item === INCOMPLETE) return INCOMPLETE;
        items.push(item.reply);
        at = item.end;
      }
      return { reply: { kind: 'array', value: items }, end: at };
    }
    default:
      throw new RespReplyError(`unknown reply type byte 0x${(type ?? 0).toString(16)}`);
  }
}
