import { type ChecksumAlgorithm, resolveChecksumOption } from './checksum.js';
import {
  DEFAULT_HIGH_WATER_MARK_BYTES,
  DEFAULT_KEEPALIVE_INITIAL_DELAY_MS,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_READ_BUFFER_BYTES,
  FRAME_HEADER_BYTES,
  FRAME_LENGTH_LIMIT_BYTES,
} from './constants.js';
import { InvalidOptionError } from './errors.js';
import { type ResolvedSecurity, resolveSecurityOptions, type SecurityOptions } from './security.js';

/** Options every channel takes, from `createServer()` or `connect()`. */
export interface ChannelOptions {
  /**
   * Largest payload this side sends or accepts, in bytes. A larger incoming frame ends the connection
   * with `MC_ERR_FRAME_TOO_LARGE` before any of its payload is buffered.
   * @default 67108864 (64 MiB)
   */
  maxPayloadBytes?: number;
  /**
   * Bytes queued in the socket at which `send()` starts returning false; wait for `'drain'` then.
   * Never below the socket's own high-water mark.
   * @default 4194304 (4 MiB)
   */
  highWaterMarkBytes?: number;
  /**
   * Hard cap on bytes queued for sending. A `send()` that would pass it throws `MC_ERR_SEND_QUEUE_FULL`
   * instead of growing memory. Must be at least `maxPayloadBytes` + 16.
   * @default 142606336 (2 x maxPayloadBytes default + 2 x highWaterMarkBytes default)
   */
  maxQueuedBytes?: number;
  /**
   * Bytes of received messages the async iterator buffers before it stops reading from the socket,
   * which makes TCP push back on the sender.
   * @default 8388608 (8 MiB)
   */
  readBufferBytes?: number;
  /**
   * Idle time before the first TCP keepalive probe, in milliseconds; 0 disables TCP keepalive. Only a
   * backstop: fast failure detection is the keepalive package's job.
   * @default 10000
   */
  keepAliveInitialDelayMs?: number;
  /**
   * Time `close()` waits for the peer to finish the connection before destroying it, in milliseconds.
   * @default 2000
   */
  closeTimeoutMs?: number;
  /**
   * Checksum this side puts on the frames it sends. The receiver checks whichever algorithm each
   * frame names, so the two sides need not agree. `xxh64` costs less CPU per byte; `crc32c` also
   * guarantees detection of every burst error up to 32 bits.
   * @default 'crc32c'
   */
  checksum?: ChecksumAlgorithm;
  /**
   * How the channel is protected: `{ mode: 'tls', ca, cert, key }` (TLS 1.3, mutual certificates),
   * `{ mode: 'psk', identity, key }` (TLS 1.3 with a pre-shared key) or `{ mode: 'plain' }`. Both ends
   * must use the same mode. Omitted means plain, for compatibility: the channel reports
   * `security.mode === 'plain'` so a caller can say so in its status.
   * @default undefined (plain TCP: no encryption, no authentication)
   */
  security?: SecurityOptions;
}

export type ResolvedChannelOptions = Required<Omit<ChannelOptions, 'security'>> & {
  security: ResolvedSecurity;
};

/** Validates every channel option and fills in the defaults. Throws InvalidOptionError naming the option. */
export function resolveChannelOptions(options: ChannelOptions = {}): ResolvedChannelOptions {
  const maxPayloadBytes = integerOption(
    'maxPayloadBytes',
    options.maxPayloadBytes,
    DEFAULT_MAX_PAYLOAD_BYTES,
    0,
    FRAME_LENGTH_LIMIT_BYTES,
  );
  const highWaterMarkBytes = integerOption(
    'highWaterMarkBytes',
    options.highWaterMarkBytes,
    DEFAULT_HIGH_WATER_MARK_BYTES,
    1,
    Number.MAX_SAFE_INTEGER,
  );
  const maxQueuedBytes = integerOption(
    'maxQueuedBytes',
    options.maxQueuedBytes,
    Math.max(DEFAULT_MAX_QUEUED_BYTES, 2 * (maxPayloadBytes + FRAME_HEADER_BYTES) + 2 * highWaterMarkBytes),
    maxPayloadBytes + FRAME_HEADER_BYTES,
    Number.MAX_SAFE_INTEGER,
  );
  return {
    maxPayloadBytes,
    highWaterMarkBytes,
    maxQueuedBytes,
    readBufferBytes: integerOption(
      'readBufferBytes',
      options.readBufferBytes,
      DEFAULT_READ_BUFFER_BYTES,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    keepAliveInitialDelayMs: integerOption(
      'keepAliveInitialDelayMs',
      options.keepAliveInitialDelayMs,
      DEFAULT_KEEPALIVE_INITIAL_DELAY_MS,
      0,
      2 ** 31 - 1,
    ),
    closeTimeoutMs: integerOption('closeTimeoutMs', options.closeTimeoutMs, 2_000, 0, 2 ** 31 - 1),
    checksum: resolveChecksumOption(options.checksum),
    security: resolveSecurityOptions(options.security),
  };
}

/** Validates one integer option within [min, max], or returns its default when it is undefined. */
export function integerOption(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new InvalidOptionError(name, `must be an integer, got ${String(value)}`);
  }
  if (value < min || value > max) {
    throw new InvalidOptionError(name, `must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}
