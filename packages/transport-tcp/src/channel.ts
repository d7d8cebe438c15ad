import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { FRAME_HEADER_BYTES, SMALL_FRAME_BYTES } from './constants.js';
import {
  ChannelClosedError,
  FrameTooLargeError,
  InvalidArgumentError,
  SendQueueFullError,
  SocketError,
  type TransportError,
} from './errors.js';
import { FrameDecoder, type Message } from './frame-decoder.js';
import { encodeFrame, encodeFrameHeader } from './frame-header.js';
import { MessageIterator } from './message-iterator.js';
import type { ResolvedChannelOptions } from './options.js';
import { type ChannelSecurity, describeSecurity, type SecurityMode } from './security.js';

/** Counters of one channel; all cumulative since it opened. */
export interface ChannelStats {
  framesSent: number;
  /** Bytes handed to the socket, headers included. */
  bytesSent: number;
  framesReceived: number;
  /** Bytes of complete, verified frames received, headers included. */
  bytesReceived: number;
  /** How many times `send()` returned false. */
  backpressureEvents: number;
  /** Milliseconds spent between `send()` returning false and the following `'drain'`. */
  blockedMs: number;
  /** Bytes queued in the socket right now. */
  queuedBytes: number;
  /** `'tls'`, `'psk'` or `'plain'` (plain: no encryption, no authentication: a trusted network only). */
  security: SecurityMode;
}

/** Events of a Channel. */
export interface ChannelEvents {
  /** A whole, checksum-verified frame. */
  message: [message: Message];
  /** The send queue fell back below the high-water mark after `send()` returned false. */
  drain: [];
  /** The connection failed; always a TransportError with a `MC_ERR_*` code. `'close'` follows. */
  error: [error: TransportError];
  /** The connection is gone; `error` is why, when it did not close cleanly. */
  close: [error: TransportError | undefined];
}

/**
 * A framed, checksummed, ordered message channel over one TCP connection. Made by `connect()` or by a
 * server's `'channel'` event, never directly.
 *
 * Reading starts when the first `'message'` listener or async iterator is attached, so nothing
 * is lost between the channel being handed over and the consumer subscribing.
 */
export class Channel extends EventEmitter<ChannelEvents> {
  readonly #socket: Socket;
  readonly #options: ResolvedChannelOptions;
  readonly #decoder: FrameDecoder;
  readonly #highWaterMark: number;
  #reading = false;
  #closed = false;
  #closeError: TransportError | undefined;
  #blockedSince: bigint | null = null;
  #iterator: MessageIterator | null = null;
  readonly #security: ChannelSecurity;
  readonly #stats = {
    framesSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    bytesReceived: 0,
    backpressureEvents: 0,
    blockedNs: 0n,
  };

  /** @internal */
  constructor(socket: Socket, options: ResolvedChannelOptions) {
    super();
    this.#socket = socket;
    this.#options = options;
    this.#decoder = new FrameDecoder(options.maxPayloadBytes);
    this.#security = describeSecurity(options.security, socket instanceof TLSSocket ? socket : null);
    // send() may only report backpressure when the socket's own write() did, or no 'drain' would follow.
    this.#highWaterMark = Math.max(options.highWaterMarkBytes, socket.writableHighWaterMark);
    socket.setNoDelay(true);
    if (options.keepAliveInitialDelayMs > 0) socket.setKeepAlive(true, options.keepAliveInitialDelayMs);
    socket.on('drain', () => this.#onDrain());
    socket.on('end', () => this.#onEnd());
    socket.on('error', (err) => this.#fail(this.#pendingFrameError(err) ?? new SocketError(err)));
    socket.on('close', () => this.#onClose());
    (this as EventEmitter).on('newListener', (event: string | symbol) => {
      if (event === 'message') queueMicrotask(() => this.#startReading());
    });
  }

  /** Remote address as `host:port`, for logs. */
  get remoteAddress(): string {
    return `${this.#socket.remoteAddress}:${this.#socket.remotePort}`;
  }

  /**
   * How this channel is protected: mode, negotiated protocol and cipher, and who the peer proved to be
   * (certificate common name and fingerprint, or PSK identity).
   */
  get security(): ChannelSecurity {
    return { ...this.#security };
  }

  /**
   * Keying material exported from the TLS session (RFC 8446 7.5 / RFC 5705): both ends of this
   * connection get the same `length` bytes for the same `label` and `context`, and nobody else can.
   * Use it to key something bound to this authenticated session, e.g. heartbeat MACs.
   * @throws InvalidArgumentError on a plain channel, or for a bad length or label.
   */
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Uint8Array {
    if (!(this.#socket instanceof TLSSocket)) {
      throw new InvalidArgumentError('exportKeyingMaterial() needs a TLS or PSK channel, this one is plain');
    }
    if (!Number.isInteger(length) || length < 1 || length > 1024) {
      throw new InvalidArgumentError(`keying material length must be 1..1024, got ${length}`);
    }
    if (typeof label !== 'string' || label.length === 0)
      throw new InvalidArgumentError('label must be a non-empty string');
    // TLS 1.3 treats an absent context and an empty one alike (RFC 8446 7.5).
    const bytes = this.#socket.exportKeyingMaterial(length, label, Buffer.from(context ?? new Uint8Array(0)));
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** True once the channel closed or was destroyed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends one frame. `payload` is one buffer or several parts; parts are written as they are
   * (gathered by the socket's vectored write) and never concatenated or copied by this method,
   * except for frames of at most 8 KiB, which are copied once into a single write. The caller must
   * not modify the parts of a larger frame until `'drain'` (or until they are known written).
   *
   * @returns false when the queue reached the high-water mark: wait for `'drain'` before sending more.
   * @throws FrameTooLargeError over `maxPayloadBytes`; SendQueueFullError past `maxQueuedBytes`;
   *   ChannelClosedError after close; InvalidArgumentError for a type outside 0..255 or flags outside 0..65535.
   */
  send(type: number, payload: Uint8Array | readonly Uint8Array[], flags = 0): boolean {
    if (this.#closed || this.#socket.writableEnded) throw new ChannelClosedError();
    const parts = payload instanceof Uint8Array ? [payload] : payload;
    let length = 0;
    for (const part of parts) {
      if (!(part instanceof Uint8Array)) throw new InvalidArgumentError('payload parts must be Uint8Array');
      length += part.byteLength;
    }
    if (length > this.#options.maxPayloadBytes)
      throw new FrameTooLargeError(length, this.#options.maxPayloadBytes);
    const frameBytes = FRAME_HEADER_BYTES + length;
    if (this.#socket.writableLength + frameBytes > this.#options.maxQueuedBytes) {
      throw new SendQueueFullError(this.#socket.writableLength, this.#options.maxQueuedBytes);
    }
    if (length <= SMALL_FRAME_BYTES) {
      // Below a few KiB one copy into a single buffer costs less than the per-write overhead of a
      // corked writev of header and parts.
      this.#socket.write(encodeFrame(type, parts, flags, this.#options.checksum));
    } else {
      const header = new Uint8Array(FRAME_HEADER_BYTES);
      encodeFrameHeader(header, 0, type, flags, parts, this.#options.checksum);
      // Corked writes leave the socket as one writev: header and parts, no joining copy.
      this.#socket.cork();
      this.#socket.write(header);
      for (const part of parts) if (part.byteLength > 0) this.#socket.write(part);
      this.#socket.uncork();
    }

    this.#stats.framesSent++;
    this.#stats.bytesSent += frameBytes;
    if (this.#socket.writableLength < this.#highWaterMark) return true;
    if (this.#blockedSince === null) {
      this.#blockedSince = process.hrtime.bigint();
      this.#stats.backpressureEvents++;
    }
    return false;
  }

  /**
   * Ends the connection gracefully: queued frames are flushed, then the peer is told. Resolves once
   * the connection is closed; destroys it after `closeTimeoutMs` if the peer does not finish.
   * Messages that arrive after close() with no listener are discarded.
   */
  async close(): Promise<void> {
    if (this.#socket.destroyed) return;
    const closed = new Promise<void>((resolve) => this.#socket.once('close', () => resolve()));
    const timer = setTimeout(() => this.#socket.destroy(), this.#options.closeTimeoutMs);
    timer.unref();
    this.#socket.end();
    // The peer's end only arrives if we read; keep reading so the close can complete.
    this.#startReading();
    await closed;
    clearTimeout(timer);
  }

  /** Tears the connection down at once; queued frames are dropped. `error`, if given, is reported by `'close'`. */
  destroy(error?: TransportError): void {
    if (error && !this.#closeError) this.#closeError = error;
    this.#socket.destroy();
  }

  /** Current counters. */
  stats(): ChannelStats {
    const blockedNs =
      this.#stats.blockedNs +
      (this.#blockedSince === null ? 0n : process.hrtime.bigint() - this.#blockedSince);
    return {
      framesSent: this.#stats.framesSent,
      bytesSent: this.#stats.bytesSent,
      framesReceived: this.#stats.framesReceived,
      bytesReceived: this.#stats.bytesReceived,
      backpressureEvents: this.#stats.backpressureEvents,
      blockedMs: Number(blockedNs) / 1e6,
      queuedBytes: this.#socket.writableLength,
      security: this.#security.mode,
    };
  }

  /**
   * Messages as an async iterator, ending when the channel closes and throwing its error if it failed.
   * Past `readBufferBytes` of unconsumed messages the socket stops reading, pushing back on the peer.
   * One iterator per channel.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    if (this.#iterator) throw new InvalidArgumentError('a channel supports one async iterator');
    this.#iterator = new MessageIterator(this.#options.readBufferBytes, {
      pause: () => this.#socket.pause(),
      resume: () => this.#socket.resume(),
    });
    if (this.#closed) this.#iterator.end(this.#closeError);
    else queueMicrotask(() => this.#startReading());
    return this.#iterator;
  }

  #startReading(): void {
    if (this.#reading || this.#socket.destroyed) return;
    this.#reading = true;
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  #onData(chunk: Buffer): void {
    let messages: Message[];
    try {
      messages = this.#decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    } catch (err) {
      this.#fail(err as TransportError);
      return;
    }
    for (const message of messages) {
      this.#stats.framesReceived++;
      this.#stats.bytesReceived += FRAME_HEADER_BYTES + message.payload.byteLength;
      this.#iterator?.push(message);
      this.emit('message', message);
    }
  }

  #onEnd(): void {
    const truncated = this.#pendingFrameError(undefined);
    if (truncated) this.#fail(truncated);
  }

  /** The typed error for a stream that stopped inside a frame, if it did. */
  #pendingFrameError(cause: unknown): TransportError | null {
    try {
      this.#decoder.end(cause);
      return null;
    } catch (err) {
      return err as TransportError;
    }
  }

  #fail(error: TransportError): void {
    if (this.#closeError) return;
    this.#closeError = error;
    // A listener-less 'error' would crash the process; the iterator, if any, reports it instead.
    if (this.listenerCount('error') > 0) this.emit('error', error);
    this.#socket.destroy();
  }

  #onDrain(): void {
    if (this.#blockedSince === null) return;
    this.#stats.blockedNs += process.hrtime.bigint() - this.#blockedSince;
    this.#blockedSince = null;
    this.emit('drain');
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#blockedSince !== null) {
      this.#stats.blockedNs += process.hrtime.bigint() - this.#blockedSince;
      this.#blockedSince = null;
    }
    this.#iterator?.end(this.#closeError);
    this.emit('close', this.#closeError);
  }
}
