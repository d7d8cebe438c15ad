import { InvalidArgumentError } from './errors.js';
import type { CorkItem } from './item.js';

/**
 * How a sink reports that an item it already accepted failed later (a buffered socket write that the
 * kernel refused, say). The queue turns it into a `sink-error` event carrying that item.
 */
export type SinkErrorReporter = (item: CorkItem, error: unknown) => void;

/**
 * Where released output goes: one sink per destination. The queue calls `write` once per released item
 * (exactly once from this node), in seq order for the destination, never concurrently for one
 * destination.
 *
 * - Return nothing when the item was taken; the next item follows at once.
 * - Return a promise to make this destination wait (backpressure, or a sink that must finish one
 *   item before the next); other destinations are not held up.
 * - Throw, or reject the promise, when the item failed: the queue reports a `SinkError` with the item
 *   and goes on with the next one.
 * - Call `reportError(item, error)` when an item that was taken fails later.
 */
export interface CorkSink {
  write(item: CorkItem, reportError: SinkErrorReporter): void | PromiseLike<void>;
  /**
   * Called after the queue has handed the sink a run of items without waiting; sinks that batch
   * writes (the stream and socket adapters cork their stream) push them out here.
   */
  flush?(): void;
}

/**
 * Wraps a plain function as a sink. The function may return a promise to make its destination wait
 * for it; a throw or a rejection is reported with the item.
 *
 * @example
 * queue.attach('audit-log', callbackSink((item) => log.push(item.data)));
 */
export function callbackSink(fn: (item: CorkItem) => void | PromiseLike<void>): CorkSink {
  if (typeof fn !== 'function') throw new InvalidArgumentError('callbackSink needs a function');
  return { write: (item) => fn(item) };
}
