import { FieldRangeError, MalformedMessageError, TruncatedMessageError } from './protocol-errors.js';

/**
 * The fields a message is made of. Each message's layout is written once against this interface and
 * run twice: by a `Sizer` to measure (preencode), then by a `Writer` into one allocation (encode).
 * Bulk bytes at the end (page data, output batches) are `tail`s: passed on as separate parts for a
 * vectored send, never copied.
 */
export interface FieldSink {
  u8(field: string, value: number): void;
  u16(field: string, value: number): void;
  u32(field: string, value: number): void;
  /** An integer up to 2^53 - 1 (epochs, tokens, byte counts), carried as 64 bits. */
  u64(field: string, value: number): void;
  /** UTF-8 text with a u16 byte length. */
  text(field: string, value: string): void;
  /** Bytes with a u32 length, copied into the head. */
  bytes(field: string, value: Uint8Array): void;
  /** Bulk bytes after the head, not copied; only at the end of a message. */
  tail(value: Uint8Array): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const TWO_POW_32 = 0x1_0000_0000;

function checkInteger(field: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max)
    throw new FieldRangeError(field, value, `0..${max}`);
}

/** Measures a message: the head's byte length and the tails. Validates every value as it goes. */
export class Sizer implements FieldSink {
  headBytes = 0;
  readonly tails: Uint8Array[] = [];
  u8(field: string, value: number): void {
    checkInteger(field, value, 0xff);
    this.headBytes += 1;
  }
  u16(field: string, value: number): void {
    checkInteger(field, value, 0xffff);
    this.headBytes += 2;
  }
  u32(field: string, value: number): void {
    checkInteger(field, value, 0xffff_ffff);
    this.headBytes += 4;
  }
  u64(field: string, value: number): void {
    checkInteger(field, value, Number.MAX_SAFE_INTEGER);
    this.headBytes += 8;
  }
  text(field: string, value: string): void {
    const length = encoder.encode(value).byteLength;
    checkInteger(`${field} length`, length, 0xffff);
    this.headBytes += 2 + length;
  }
  bytes(field: string, value: Uint8Array): void {
    checkInteger(`${field} length`, value.byteLength, 0xffff_ffff);
    this.headBytes += 4 + value.byteLength;
  }
  tail(value: Uint8Array): void {
    this.tails.push(value);
  }
}

/** Writes the head of a message into a buffer sized by a Sizer run over the same message. */
export class Writer implements FieldSink {
  readonly head: Uint8Array;
  readonly #view: DataView;
  #pos = 0;
  constructor(headBytes: number) {
    this.head = new Uint8Array(headBytes);
    this.#view = new DataView(this.head.buffer);
  }
  u8(_field: string, value: number): void {
    this.#view.setUint8(this.#pos, value);
    this.#pos += 1;
  }
  u16(_field: string, value: number): void {
    this.#view.setUint16(this.#pos, value, true);
    this.#pos += 2;
  }
  u32(_field: string, value: number): void {
    this.#view.setUint32(this.#pos, value, true);
    this.#pos += 4;
  }
  u64(_field: string, value: number): void {
    this.#view.setUint32(this.#pos, value % TWO_POW_32, true);
    this.#view.setUint32(this.#pos + 4, Math.floor(value / TWO_POW_32), true);
    this.#pos += 8;
  }
  text(field: string, value: string): void {
    const bytes = encoder.encode(value);
    this.u16(field, bytes.byteLength);
    this.head.set(bytes, this.#pos);
    this.#pos += bytes.byteLength;
  }
  bytes(field: string, value: Uint8Array): void {
    this.u32(field, value.byteLength);
    this.head.set(value, this.#pos);
    this.#pos += value.byteLength;
  }
  tail(_value: Uint8Array): void {
    // Tails travel as their own parts; the Sizer collected them.
  }
}

/**
 * Reads fields from a received payload, checking every length against what is left. Byte fields are
 * returned as views of the payload, never copied.
 */
export class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #what: string;
  #pos = 0;
  constructor(bytes: Uint8Array, what: string) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#what = what;
  }
  get remaining(): number {
    return this.#bytes.byteLength - this.#pos;
  }
  #need(n: number): void {
    if (this.remaining < n) throw new TruncatedMessageError(this.#what, n, this.remaining);
  }
  u8(): number {
    this.#need(1);
    return this.#view.getUint8(this.#pos++);
  }
  u16(): number {
    this.#need(2);
    const v = this.#view.getUint16(this.#pos, true);
    this.#pos += 2;
    return v;
  }
  u32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.#pos, true);
    this.#pos += 4;
    return v;
  }
  u64(field: string): number {
    this.#need(8);
    const low = this.#view.getUint32(this.#pos, true);
    const high = this.#view.getUint32(this.#pos + 4, true);
    this.#pos += 8;
    const value = high * TWO_POW_32 + low;
    if (value > Number.MAX_SAFE_INTEGER)
      throw new FieldRangeError(field, value, `0..${Number.MAX_SAFE_INTEGER}`);
    return value;
  }
  text(field: string): string {
    const length = this.u16();
    this.#need(length);
    const slice = this.#bytes.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    try {
      return decoder.decode(slice);
    } catch (err) {
      throw new MalformedMessageError(
        `${this.#what}: ${field} is not valid UTF-8 (${(err as Error).message})`,
      );
    }
  }
  bytes(): Uint8Array {
    const length = this.u32();
    this.#need(length);
    const slice = this.#bytes.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    return slice;
  }
  /** Everything left: the tail of the message. */
  rest(): Uint8Array {
    const slice = this.#bytes.subarray(this.#pos);
    this.#pos = this.#bytes.byteLength;
    return slice;
  }
  /** Refuses trailing bytes the message layout does not account for. */
  end(): void {
    if (this.remaining !== 0)
      throw new MalformedMessageError(`${this.#what}: ${this.remaining} unexpected trailing bytes`);
  }
}
