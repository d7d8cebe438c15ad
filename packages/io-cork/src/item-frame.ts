import {
  DEFAULT_MAX_ITEM_BYTES,
  FRAME_HEADER_BYTES,
  FRAME_MAGIC_0,
  FRAME_MAGIC_1,
  FRAME_VERSION,
  MAX_SOURCE_BYTES,
} from './constants.js';
import { InvalidOptionError, ItemFrameError } from './errors.js';
import type { CorkItem } from './item.js';
import { readU64, writeU64 } from './uint64.js';

/*
 * Item frame (what the stream and socket sinks write in 'framed' mode, all little-endian):
 *   0  'M' 'I'   magic            4  u32 data length      12 u64 generation
 *   2  u8 version (1)             8  u16 source length    20 u64 epoch
 *   3  u8 flags (0)              10  u16 reserved (0)     28 u64 seq
 *  36  source (UTF-8), then the data.
 * TCP already checksums the bytes; what a receiver needs is the identity of each item, to dedup.
 */

/** One item as a receiver decodes it from a framed stream. `data` is a view when it arrived in one chunk. */
export interface ReceivedItem {
  readonly source: string;
  readonly generation: number;
  readonly epoch: number;
  readonly seq: number;
  readonly data: Uint8Array;
}

const encoder = new TextEncoder();
const sourceCache = new Map<string, Uint8Array>();

function sourceBytesOf(source: string): Uint8Array {
  let bytes = sourceCache.get(source);
  if (bytes === undefined) {
    bytes = encoder.encode(source);
    // Sources are few (one per protected workload); the bound only guards against misuse.
    if (sourceCache.size < 64) sourceCache.set(source, bytes);
  }
  return bytes;
}

function writeHeader(
  out: Uint8Array,
  view: DataView,
  offset: number,
  item: CorkItem,
  source: Uint8Array,
): void {
  out[offset] = FRAME_MAGIC_0;
  out[offset + 1] = FRAME_MAGIC_1;
  out[offset + 2] = FRAME_VERSION;
  out[offset + 3] = 0;
  view.setUint32(offset + 4, item.data.length, true);
  view.setUint16(offset + 8, source.length, true);
  view.setUint16(offset + 10, 0, true);
  writeU64(view, offset + 12, item.generation);
  writeU64(view, offset + 20, item.epoch);
  writeU64(view, offset + 28, item.seq);
  out.set(source, offset + FRAME_HEADER_BYTES);
}

/** Bytes the frame of `item` takes. */
export function itemFrameLength(item: CorkItem): number {
  return FRAME_HEADER_BYTES + sourceBytesOf(item.source).length + item.data.length;
}

/**
 * Writes the frame of `item` (header and data) into `out` at `offset`; `view` is a DataView over the
 * same bytes as `out`. Returns the offset after it. The caller has checked the room.
 */
export function writeItemFrame(out: Uint8Array, view: DataView, offset: number, item: CorkItem): number {
  const source = sourceBytesOf(item.source);
  writeHeader(out, view, offset, item, source);
  const dataOffset = offset + FRAME_HEADER_BYTES + source.length;
  out.set(item.data, dataOffset);
  return dataOffset + item.data.length;
}

/** Encodes one item as a frame: header and data in one new buffer (copies the data). */
export function encodeItemFrame(item: CorkItem): Uint8Array {
  const out = new Uint8Array(itemFrameLength(item));
  writeItemFrame(out, new DataView(out.buffer), 0, item);
  return out;
}

/** Encodes only the header of an item's frame; write `item.data` right after it. */
export function encodeItemFrameHeader(item: CorkItem): Uint8Array {
  const source = sourceBytesOf(item.source);
  const out = new Uint8Array(FRAME_HEADER_BYTES + source.length);
  writeHeader(out, new DataView(out.buffer), 0, item, source);
  return out;
}

/** Options of {@link createItemFrameDecoder}. */
export interface ItemFrameDecoderOptions {
  /**
   * Largest item data accepted, in bytes; a larger frame is a protocol error, not an allocation.
   * @default 16777216 (16 MiB)
   */
  maxItemBytes?: number;
}

/** Incremental decoder of a framed byte stream (a receiving socket's 'data' chunks, in order). */
export interface ItemFrameDecoder {
  /**
   * Adds received bytes; returns every item completed by them, in order. Items that arrived inside
   * one chunk are views into it; items split across chunks are copied once. Throws `ItemFrameError`
   * on bytes that are not a frame; the decoder then refuses further input (the stream is out of sync).
   */
  push(chunk: Uint8Array): ReceivedItem[];
  /** Declares the end of the stream: throws `ItemFrameError` ('truncated') if a frame was cut off. */
  end(): void;
  /** Bytes received but not yet part of a complete frame. */
  readonly bufferedBytes: number;
}

/** Creates a decoder for the frames the stream and socket sinks write. */
export function createItemFrameDecoder(options: ItemFrameDecoderOptions = {}): ItemFrameDecoder {
  const maxItemBytes = options.maxItemBytes ?? DEFAULT_MAX_ITEM_BYTES;
  if (!Number.isSafeInteger(maxItemBytes) || maxItemBytes < 0 || maxItemBytes > 0xffffffff) {
    throw new InvalidOptionError(
      'maxItemBytes',
      `must be an integer from 0 to 4294967295, got ${maxItemBytes}`,
    );
  }
  return new FrameDecoder(maxItemBytes);
}

class FrameDecoder implements ItemFrameDecoder {
  readonly #maxItemBytes: number;
  readonly #decoder = new TextDecoder('utf-8', { fatal: true });
  #chunks: Uint8Array[] = [];
  /** Offset of the first unread byte inside `#chunks[0]`. */
  #offset = 0;
  #buffered = 0;
  #failed: ItemFrameError | undefined;
  #lastSourceBytes: Uint8Array | undefined;
  #lastSource = '';

  constructor(maxItemBytes: number) {
    this.#maxItemBytes = maxItemBytes;
  }

  get bufferedBytes(): number {
    return this.#buffered;
  }

  push(chunk: Uint8Array): ReceivedItem[] {
    if (this.#failed) throw new ItemFrameError('poisoned', `decoder stopped after: ${this.#failed.message}`);
    if (!(chunk instanceof Uint8Array)) throw new ItemFrameError('header', 'push() needs a Uint8Array chunk');
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const items: ReceivedItem[] = [];
    try {
      while (this.#buffered >= FRAME_HEADER_BYTES) {
        const header = this.#peek(FRAME_HEADER_BYTES);
        const view = new DataView(header.buffer, header.byteOffset, FRAME_HEADER_BYTES);
        const dataLength = this.#checkHeader(header, view);
        const sourceLength = view.getUint16(8, true);
        const frameLength = FRAME_HEADER_BYTES + sourceLength + dataLength;
        if (this.#buffered < frameLength) break;
        const generation = readU64(view, 12);
        const epoch = readU64(view, 20);
        const seq = readU64(view, 28);
        const frame = this.#take(frameLength);
        const source = this.#source(frame.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + sourceLength));
        items.push({
          source,
          generation,
          epoch,
          seq,
          data: frame.subarray(FRAME_HEADER_BYTES + sourceLength),
        });
      }
    } catch (error) {
      if (error instanceof ItemFrameError) this.#failed = error;
      throw error;
    }
    return items;
  }

  end(): void {
    if (this.#failed) throw new ItemFrameError('poisoned', `decoder stopped after: ${this.#failed.message}`);
    if (this.#buffered > 0) {
      this.#failed = new ItemFrameError(
        'truncated',
        `stream ended inside a frame: ${this.#buffered} bytes of an incomplete frame`,
      );
      throw this.#failed;
    }
  }

  #checkHeader(header: Uint8Array, view: DataView): number {
    if (header[0] !== FRAME_MAGIC_0 || header[1] !== FRAME_MAGIC_1) {
      throw new ItemFrameError('magic', `bad item frame magic 0x${view.getUint16(0, false).toString(16)}`);
    }
    if (header[2] !== FRAME_VERSION) {
      throw new ItemFrameError(
        'version',
        `unsupported item frame version ${header[2]} (reads ${FRAME_VERSION})`,
      );
    }
    const sourceLength = view.getUint16(8, true);
    if (header[3] !== 0 || view.getUint16(10, true) !== 0) {
      throw new ItemFrameError('header', 'item frame flags or reserved bits are set');
    }
    if (sourceLength === 0 || sourceLength > MAX_SOURCE_BYTES) {
      throw new ItemFrameError(
        'header',
        `item frame source length ${sourceLength} is outside 1..${MAX_SOURCE_BYTES}`,
      );
    }
    if (readU64(view, 12) < 0 || readU64(view, 20) < 0 || readU64(view, 28) < 0) {
      throw new ItemFrameError('header', 'item frame generation, epoch or seq is not a safe integer');
    }
    const dataLength = view.getUint32(4, true);
    if (dataLength > this.#maxItemBytes) {
      throw new ItemFrameError(
        'too-large',
        `item frame of ${dataLength} data bytes exceeds maxItemBytes ${this.#maxItemBytes}`,
      );
    }
    return dataLength;
  }

  #source(bytes: Uint8Array): string {
    const last = this.#lastSourceBytes;
    if (last !== undefined && last.length === bytes.length && equalBytes(last, bytes))
      return this.#lastSource;
    let source: string;
    try {
      source = this.#decoder.decode(bytes);
    } catch {
      throw new ItemFrameError('header', 'item frame source is not valid UTF-8');
    }
    this.#lastSourceBytes = bytes.slice();
    this.#lastSource = source;
    return source;
  }

  /** The next `n` buffered bytes without consuming them (a view when they sit in one chunk). */
  #peek(n: number): Uint8Array {
    const first = this.#chunks[0]!;
    if (first.length - this.#offset >= n) return first.subarray(this.#offset, this.#offset + n);
    return this.#gather(n, false);
  }

  /** Consumes the next `n` buffered bytes. */
  #take(n: number): Uint8Array {
    const first = this.#chunks[0]!;
    const available = first.length - this.#offset;
    if (available >= n) {
      const out = first.subarray(this.#offset, this.#offset + n);
      this.#offset += n;
      this.#buffered -= n;
      if (this.#offset === first.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
      return out;
    }
    return this.#gather(n, true);
  }

  #gather(n: number, consume: boolean): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    let index = 0;
    let offset = this.#offset;
    while (filled < n) {
      const chunk = this.#chunks[index]!;
      const part = Math.min(n - filled, chunk.length - offset);
      out.set(chunk.subarray(offset, offset + part), filled);
      filled += part;
      offset += part;
      if (offset === chunk.length) {
        index++;
        offset = 0;
      }
    }
    if (consume) {
      this.#chunks.splice(0, index);
      this.#offset = offset;
      this.#buffered -= n;
    }
    return out;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
