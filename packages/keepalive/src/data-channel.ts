import { InvalidArgumentError } from './errors.js';
import type { DataChannelLoss, EvidenceKind } from './failure-detector.js';
import { describe } from './option-validation.js';

/**
 * The events of a byte stream this package listens to: a `net.Socket`, a TLS socket, any Duplex.
 * `data` is evidence of life; `error`, `end` and `close` are the loss of the channel.
 */
export interface DataChannelLike {
  on(event: 'data' | 'end' | 'close' | 'error', listener: (...args: unknown[]) => void): unknown;
  off(event: 'data' | 'end' | 'close' | 'error', listener: (...args: unknown[]) => void): unknown;
}

/** What a watched data channel reports to. A Keepalive and a FailureDetector both fit. */
export interface DataChannelObserver {
  evidenceOfLife(kind: EvidenceKind): void;
  dataChannelLost(reason: DataChannelLoss): void;
}

/** Error codes that mean the peer's host reset or refused the connection rather than closing it. */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ECONNABORTED']);

/**
 * Wires a data channel to an observer: every chunk received counts as evidence of life (`bytes`), a reset
 * or error as a loss (`reset`/`error`), an end or close as `eof`. The loss is reported once. Returns a
 * function that removes the listeners.
 */
export function watchDataChannel(channel: DataChannelLike, observer: DataChannelObserver): () => void {
  if (channel === null || typeof channel !== 'object' || typeof channel.on !== 'function') {
    throw new InvalidArgumentError(`data channel must be an event emitter, got ${describe(channel)}`);
  }
  let lost = false;
  const loss = (reason: DataChannelLoss) => {
    if (lost) return;
    lost = true;
    observer.dataChannelLost(reason);
  };
  const onData = () => observer.evidenceOfLife('bytes');
  const onError = (err: unknown) => {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    loss(code !== undefined && RESET_CODES.has(code) ? 'reset' : 'error');
  };
  const onEnd = () => loss('eof');
  channel.on('data', onData);
  channel.on('error', onError);
  channel.on('end', onEnd);
  channel.on('close', onEnd);
  return () => {
    channel.off('data', onData);
    channel.off('error', onError);
    channel.off('end', onEnd);
    channel.off('close', onEnd);
  };
}
