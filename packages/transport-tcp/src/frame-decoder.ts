import { FrameChecksum } from './checksum.js';
import { FRAME_HEADER_BYTES } from './constants.js';
import { FrameChecksumError, FrameTruncatedError } from './errors.js';
import { coveredHeaderBytes, decodeFrameHeader, type FrameHeader } from './frame-header.js';

/** One whole, verified frame. */
export interface Message {
  type: number;
  flags: number;
  /**
   * The payload. A view into the received bytes when the frame arrived in one read, else a buffer
   * allocated once for the frame: never copied twice, never shared with another message.
   */
  payload: Uint8Array;
}

/**
 * Incremental frame decoder: feed it the byte stream in chunks of any size; it returns every frame
 * completed by that chunk, verified. It never delivers a frame partially or twice. After it throws,
 * the stream is desynchronised and the decoder refuses further input: the connection must end.
 */
export class FrameDecoder {
  readonly #maxPayloadBytes: number;
  // Bytes of a header split across chunks.
  readonly #headerBytes = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFill = 0;
  // The frame whose payload is being assembled across chunks.
  #header: FrameHeader | null = null;
  #payload: Uint8Array | null = null;
  #payloadFill = 0;
  #checksum: FrameChecksum | null = null;
  #failed: Error | null = null;

  constructor(maxPayloadBytes: number) {
    this.#maxPayloadBytes = maxPayloadBytes;
  }

  /** Bytes of an incomplete frame held right now (0 between frames). */
  get pendingBytes(): number {
    return this.#header ? FRAME_HEADER_BYTES + this.#payloadFill : this.#headerFill;
  }

  /** Consumes one chunk. Returns the frames it completed, in order. Throws a typed error on bad input. */
  push(chunk: Uint8Array): Message[] {
    if (this.#failed) throw this.#failed;
    try {
      return this.#consume(chunk);
    } catch (err) {
      this.#failed = err as Error;
      this.#discardPartial();
      throw err;
    }
  }

  /**
   * The stream ended: throws FrameTruncatedError if it ended inside a frame. `cause` is what ended it
   * (a socket error), when known.
   */
  end(cause?: unknown): void {
    if (this.#failed) return;
    const pending = this.pendingBytes;
    if (pending === 0) return;
    const expected = this.#header ? FRAME_HEADER_BYTES + this.#header.length : FRAME_HEADER_BYTES;
    this.#failed = new FrameTruncatedError(pending, expected, cause === undefined ? undefined : { cause });
    this.#discardPartial();
    throw this.#failed;
  }

  #consume(chunk: Uint8Array): Message[] {
    const out: Message[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#header === null) {
        if (this.#headerFill === 0 && chunk.length - pos >= FRAME_HEADER_BYTES) {
          // Fast path: the whole header is in this chunk.
          const header = decodeFrameHeader(chunk, pos, this.#maxPayloadBytes);
          const covered = coveredHeaderBytes(chunk, pos);
          pos += FRAME_HEADER_BYTES;
          if (chunk.length - pos >= header.length) {
            // Fast path: the whole frame is in this chunk, deliver a view.
            const payload = chunk.subarray(pos, pos + header.length);
            pos += header.length;
            out.push(
              this.#verified(header, payload, FrameChecksum.ofSingle(header.algorithm, covered, payload)),
            );
            continue;
          }
          this.#startPayload(header, covered);
        } else {
          const take = Math.min(FRAME_HEADER_BYTES - this.#headerFill, chunk.length - pos);
          this.#headerBytes.set(chunk.subarray(pos, pos + take), this.#headerFill);
          this.#headerFill += take;
          pos += take;
          if (this.#headerFill < FRAME_HEADER_BYTES) break;
          this.#headerFill = 0;
          const header = decodeFrameHeader(this.#headerBytes, 0, this.#maxPayloadBytes);
          const covered = coveredHeaderBytes(this.#headerBytes, 0);
          if (header.length === 0) {
            const empty = new Uint8Array(0);
            out.push(this.#verified(header, empty, FrameChecksum.ofSingle(header.algorithm, covered, empty)));
            continue;
          }
          this.#startPayload(header, covered);
        }
      }
      const header = this.#header!;
      const payload = this.#payload!;
      const take = Math.min(header.length - this.#payloadFill, chunk.length - pos);
      const piece = chunk.subarray(pos, pos + take);
      payload.set(piece, this.#payloadFill);
      // Checksum while the bytes are still in cache rather than in a second pass.
      this.#checksum!.update(piece);
      this.#payloadFill += take;
      pos += take;
      if (this.#payloadFill === header.length) {
        const crc = this.#checksum!.digest();
        this.#discardPartial();
        out.push(this.#verified(header, payload, crc));
      }
    }
    return out;
  }

  #startPayload(header: FrameHeader, coveredHeader: Uint8Array): void {
    this.#header = header;
    // Every byte is overwritten from the stream before delivery, so skip the zero fill.
    const storage = Buffer.allocUnsafeSlow(header.length);
    this.#payload = new Uint8Array(storage.buffer, storage.byteOffset, header.length);
    this.#payloadFill = 0;
    this.#checksum = new FrameChecksum(header.algorithm, coveredHeader);
  }

  #verified(header: FrameHeader, payload: Uint8Array, crc: number): Message {
    if (crc >>> 0 !== header.checksum) throw new FrameChecksumError(header.checksum, crc >>> 0, header.type);
    return { type: header.type, flags: header.flags, payload };
  }

  #discardPartial(): void {
    this.#header = null;
    this.#payload = null;
    this.#payloadFill = 0;
    this.#checksum = null;
    this.#headerFill = 0;
  }
}
