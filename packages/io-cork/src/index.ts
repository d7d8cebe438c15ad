/**
 * @packageDocumentation
 * Output commit for micro-checkpointing: an epoch-tagged cork queue that releases a workload's output
 * only once the checkpoint covering it is committed on the secondary, and lets the secondary re-emit
 * it after takeover so that, with the receiver-side dedup filter, every committed output takes effect
 * exactly once.
 *
 * @example
 * ```ts
 * import { createCorkQueue, callbackSink } from '@microcheckpoint/io-cork';
 *
 * const primary = createCorkQueue({ source: 'kv' });
 * primary.attach('client-1', callbackSink((item) => console.log(item.seq, item.data)));
 * primary.open(1);
 * primary.append('client-1', new TextEncoder().encode('+OK\r\n'));
 * primary.seal(1);
 * const bytes = primary.serialize(1); // travels inside checkpoint 1
 * primary.release(1);                 // on ACK 1: the sink sees seq 0 now, not before
 * ```
 */
export type { DecodeBatchOptions, DecodedItem } from './batch-codec.js';
export { DecodedBatch, decodeBatch } from './batch-codec.js';
export {
  BATCH_VERSION,
  DEFAULT_HIGH_WATER_BYTES,
  DEFAULT_HIGH_WATER_ITEMS,
  DEFAULT_MAX_BATCH_BYTES,
  DEFAULT_MAX_HELD_BYTES,
  DEFAULT_MAX_HELD_ITEMS,
  DEFAULT_MAX_ITEM_BYTES,
  DEFAULT_SOURCE,
  FRAME_VERSION,
  MAX_DESTINATION_BYTES,
  MAX_SOURCE_BYTES,
  STATE_VERSION,
} from './constants.js';
export type { BatchInfo, CorkMetrics, CorkQueue, CorkQueueEvents } from './cork-queue.js';
export { createCorkQueue } from './cork-queue.js';
export type {
  DedupFilter,
  DedupFilterOptions,
  DedupInput,
  DedupSourceState,
  DedupVerdict,
} from './dedup-filter.js';
export { createDedupFilter } from './dedup-filter.js';
export type { BatchOrderReason, CorkErrorCode, ItemFrameReason } from './errors.js';
export {
  BatchChecksumError,
  BatchFormatError,
  BatchMagicError,
  BatchOrderError,
  BatchTooLargeError,
  BatchTruncatedError,
  BatchVersionError,
  CommittedOutputError,
  CorkError,
  CorkQueueFullError,
  EpochStateError,
  InvalidArgumentError,
  InvalidOptionError,
  ItemFrameError,
  ItemTooLargeError,
  SinkClosedError,
  SinkError,
  SourceMismatchError,
  StaleGenerationError,
} from './errors.js';
export type { CorkItem } from './item.js';
export type { ItemFrameDecoder, ItemFrameDecoderOptions, ReceivedItem } from './item-frame.js';
export { createItemFrameDecoder, encodeItemFrame, encodeItemFrameHeader } from './item-frame.js';
export type { LatencyBucket, LatencySnapshot } from './latency-histogram.js';
export type { CorkQueueOptions } from './options.js';
export type { CorkSink, SinkErrorReporter } from './sink.js';
export { callbackSink } from './sink.js';
export type { DecodedState } from './state-codec.js';
export { decodeState } from './state-codec.js';
export type { SinkFraming, SocketSinkOptions, StreamSink, WritableSinkOptions } from './stream-sink.js';
export { socketSink, writableSink } from './stream-sink.js';
