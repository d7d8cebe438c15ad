import { Buffer } from 'node:buffer';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import {
  DEFAULT_SINK_FRAMING,
  DEFAULT_SINK_MAX_BUFFERED_BYTES,
  FRAME_COALESCE_MAX_BYTES,
} from './constants.js';
import { InvalidArgumentError, InvalidOptionError, SinkClosedError } from './errors.js';
import type { CorkItem } from './item.js';
import { encodeItemFrameHeader, itemFrameLength, writeItemFrame } from './item-frame.js';
import type { CorkSink, SinkErrorReporter } from './sink.js';

/** How items are written to a stream. */
export type SinkFraming = 'framed' | 'raw';

/** Options of {@link writableSink}. */
export interface WritableSinkOptions {
  /**
   * `'framed'`: each item is prefixed with a header carrying source, generation, epoch and seq, so the
   * receiver can decode it with `createItemFrameDecoder` and drop re-emitted duplicates with
   * `createDedupFilter`: exactly-once effect across failover. `'raw'`: only the data bytes, for
   * receivers that cannot parse frames; after a failover they may see re-emitted output twice.
   * @default 'framed'
   */
  framing?: SinkFraming;
  /**
   * Bytes the stream may hold in its buffer before this destination waits for `'drain'` (checked
   * after each write, so one item may pass it). Larger than a socket's 16 KiB high-water mark so that
   * a released epoch goes out as one vectored write.
   * @default 1048576 (1 MiB)
   */
  maxBufferedBytes?: number;
}

/** Options of {@link socketSink}. */
export interface SocketSinkOptions extends WritableSinkOptions {
  /**
   * Disable Nagle's algorithm on the socket. Released output has already waited for its checkpoint;
   * the sink coalesces each release into one write itself, so Nagle would only add delay.
   * @default true
   */
  noDelay?: boolean;
}

/** A sink writing to a Node stream. */
export interface StreamSink extends CorkSink {
  readonly stream: Writable;
  /** The last error the stream emitted, if any (the items it concerned were reported to the queue). */
  readonly lastError: Error | undefined;
  /** Removes the adapter's listeners from the stream. The stream is never ended or destroyed by the adapter. */
  dispose(): void;
}

/**
 * Sink that writes released items to any Node `Writable`. Each release is corked into one vectored
 * write; when the stream's buffer passes its high-water mark the destination waits for `'drain'`.
 * A write that fails (at once or later, when the stream errors) is reported with its item. The adapter
 * listens for `'error'` so a failing destination never becomes an uncaught exception; it never ends
 * or destroys the stream, which stays its owner's.
 */
export function writableSink(stream: Writable, options: WritableSinkOptions = {}): StreamSink {
  if (!(stream instanceof Writable) && !isDuplexLike(stream)) {
    throw new InvalidArgumentError('writableSink needs a Node Writable stream');
  }
  return new StreamSinkImpl(
    stream,
    resolveFraming(options.framing),
    resolveMaxBuffered(options.maxBufferedBytes),
  );
}

/** Sink that writes released items to a `net.Socket`; see {@link writableSink} for the behaviour. */
export function socketSink(socket: Socket, options: SocketSinkOptions = {}): StreamSink {
  if (!(socket instanceof Socket)) throw new InvalidArgumentError('socketSink needs a net.Socket');
  const noDelay = options.noDelay ?? true;
  if (typeof noDelay !== 'boolean')
    throw new InvalidOptionError('noDelay', `must be a boolean, got ${noDelay}`);
  const sink = new StreamSinkImpl(
    socket,
    resolveFraming(options.framing),
    resolveMaxBuffered(options.maxBufferedBytes),
  );
  if (noDelay) socket.setNoDelay(true);
  return sink;
}

function resolveFraming(framing: unknown): SinkFraming {
  const value = framing ?? DEFAULT_SINK_FRAMING;
  if (value !== 'framed' && value !== 'raw') {
    throw new InvalidOptionError('framing', `must be 'framed' or 'raw', got ${String(value)}`);
  }
  return value;
}

function resolveMaxBuffered(value: unknown): number {
  const resolved = value ?? DEFAULT_SINK_MAX_BUFFERED_BYTES;
  if (typeof resolved !== 'number' || !Number.isSafeInteger(resolved) || resolved < 0) {
    throw new InvalidOptionError(
      'maxBufferedBytes',
      `must be a non-negative integer, got ${String(resolved)}`,
    );
  }
  return resolved;
}

// net.Socket is a Duplex, which passes `instanceof Writable` through Symbol.hasInstance; this keeps
// streams from another copy of the stream module (a different realm) usable too.
function isDuplexLike(stream: unknown): stream is Writable {
  const s = stream as Partial<Writable> | null;
  return typeof s === 'object' && s !== null && typeof s.write === 'function' && typeof s.cork === 'function';
}

/** Bytes of the buffers small items are gathered into before they are handed to the stream. */
const GATHER_BYTES = 64 * 1024;

/**
 * Small items of one release are gathered into a shared buffer and handed to the stream as one write
 * (per-write overhead in Node streams is several hundred nanoseconds, more than a 64-byte item's
 * copy); larger items are written as views, without a copy. A gathered write that fails reports
 * every item it carried.
 */
class StreamSinkImpl implements StreamSink {
  readonly stream: Writable;
  readonly #framed: boolean;
  readonly #maxBuffered: number;
  #corked = false;
  #lastError: Error | undefined;
  #reportError: SinkErrorReporter | undefined;
  /** Current gather buffer; bytes before `#gatherStart` were already handed to the stream. */
  #gather: Uint8Array | undefined;
  #gatherView: DataView | undefined;
  #gatherStart = 0;
  #gatherEnd = 0;
  #gathered: CorkItem[] = [];
  readonly #onError = (error: Error): void => {
    this.#lastError = error;
  };
  readonly #flushLater = (): void => this.flush();

  constructor(stream: Writable, framing: SinkFraming, maxBuffered: number) {
    this.stream = stream;
    this.#framed = framing === 'framed';
    this.#maxBuffered = maxBuffered;
    stream.on('error', this.#onError);
  }

  get lastError(): Error | undefined {
    return this.#lastError;
  }

  write(item: CorkItem, reportError: SinkErrorReporter): void | Promise<void> {
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded || !stream.writable) {
      throw new SinkClosedError(
        this.#lastError ? `stream closed after error: ${this.#lastError.message}` : 'stream is closed',
      );
    }
    // Gathered items are reported through the reporter they came with (a sink shared by two queues).
    if (reportError !== this.#reportError) {
      this.#writeGathered();
      this.#reportError = reportError;
    }
    if (!this.#corked) {
      this.#corked = true;
      stream.cork();
      // Released by flush() at the end of the release; the tick is a backstop for other callers.
      process.nextTick(this.#flushLater);
    }
    const size = item.data.length;
    if (size <= FRAME_COALESCE_MAX_BYTES) {
      this.#gatherItem(item);
    } else {
      this.#writeGathered();
      const done = (error?: Error | null): void => {
        if (error) reportError(item, error);
      };
      if (this.#framed) stream.write(encodeItemFrameHeader(item));
      stream.write(item.data, done);
    }
    // The stream emits 'drain' only after a write() returned false (writableNeedDrain); wait for it
    // only past our own bound, counting what is gathered but not yet handed over.
    const buffered = stream.writableLength + (this.#gatherEnd - this.#gatherStart);
    if (buffered < this.#maxBuffered) return;
    this.flush();
    if (!stream.writableNeedDrain) return;
    return this.#drained();
  }

  flush(): void {
    this.#writeGathered();
    if (!this.#corked) return;
    this.#corked = false;
    this.stream.uncork();
  }

  dispose(): void {
    this.flush();
    this.stream.off('error', this.#onError);
  }

  #gatherItem(item: CorkItem): void {
    const length = this.#framed ? itemFrameLength(item) : item.data.length;
    let gather = this.#gather;
    if (gather === undefined || this.#gatherEnd + length > gather.length) {
      this.#writeGathered();
      gather = Buffer.allocUnsafeSlow(Math.max(GATHER_BYTES, length));
      this.#gather = gather;
      this.#gatherView = new DataView(gather.buffer, gather.byteOffset, gather.byteLength);
      this.#gatherStart = 0;
      this.#gatherEnd = 0;
    }
    if (this.#framed) {
      this.#gatherEnd = writeItemFrame(gather, this.#gatherView!, this.#gatherEnd, item);
    } else {
      gather.set(item.data, this.#gatherEnd);
      this.#gatherEnd += length;
    }
    this.#gathered.push(item);
  }

  /** Hands the gathered bytes to the stream; that region of the gather buffer is never written again. */
  #writeGathered(): void {
    if (this.#gatherEnd === this.#gatherStart) return;
    const items = this.#gathered;
    const reportError = this.#reportError!;
    this.#gathered = [];
    const chunk = this.#gather!.subarray(this.#gatherStart, this.#gatherEnd);
    this.#gatherStart = this.#gatherEnd;
    this.stream.write(chunk, (error?: Error | null) => {
      if (error) for (const item of items) reportError(item, error);
    });
  }

  #drained(): Promise<void> {
    const stream = this.stream;
    if (stream.destroyed || !stream.writableNeedDrain) return Promise.resolve();
    return new Promise<void>((resolve) => {
      // Errors reach the queue through each write's callback; here they only end the wait.
      const done = (): void => {
        stream.off('drain', done);
        stream.off('close', done);
        stream.off('error', done);
        resolve();
      };
      stream.on('drain', done);
      stream.on('close', done);
      stream.on('error', done);
    });
  }
}
