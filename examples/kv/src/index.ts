/**
 * @packageDocumentation
 * The sample protected workload: a key-value service speaking a subset of the Redis protocol (PING,
 * GET, SET, DEL, INCR, MGET, EXISTS) whose table lives entirely in guest memory, run by an in-process
 * guest of `@microcheckpoint/mc-core`, so that a checkpoint of its pages is a checkpoint of the table.
 */
export { executeCommand, SUPPORTED_COMMANDS } from './commands.js';
export {
  DEFAULT_MAX_ARGS,
  DEFAULT_MAX_BULK_BYTES,
  DEFAULT_MAX_INLINE_BYTES,
  DEFAULT_MEMORY_BYTES,
  DEFAULT_SLOT_COUNT,
} from './constants.js';
export {
  InvalidOptionError,
  KvError,
  type KvErrorCode,
  KvFormatError,
  KvFullError,
  RespProtocolError,
  RespReplyError,
} from './errors.js';
export { createKvTable, type KvTable, type KvTableOptions, openKvTable } from './kv-table.js';
export {
  KV_WORKLOAD_SOURCE,
  type ProtectedKvNode,
  type ProtectedKvNodeEvents,
  type ProtectedKvNodeOptions,
  type ServingEvent,
  startProtectedKvNode,
} from './protected-node.js';
export {
  arrayReply,
  bulkReply,
  encodeCommand,
  errorReply,
  integerReply,
  type RespLimits,
  type RespParseResult,
  RespParser,
  simpleString,
} from './resp.js';
export {
  MAX_REPLY_ARRAY_ITEMS,
  MAX_REPLY_BULK_BYTES,
  type RespReply,
  RespReplyParser,
} from './resp-reply.js';
export { createKvServer, type KvRequest, type KvServer, type KvServerOptions } from './server.js';
export { createKvHandler, createKvService, type KvService, type KvServiceOptions } from './service.js';
