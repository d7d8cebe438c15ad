/**
 * @packageDocumentation
 * The micro-checkpointing engine: guest memory with a dirty log, the hot copy path that gathers
 * dirty pages into staging slabs (a WebAssembly kernel, with a plain JavaScript fallback), the guests
 * that run a protected workload and pause it at safe points, the MC protocol, and the two roles:
 * `createPrimary()` runs the epochs and ships checkpoints, `createSecondary()` commits them into a
 * checkpoint store, acknowledges them, and takes over when the primary dies and the arbiter agrees.
 *
 * @example
 * ```ts
 * import { createGuestMemory, createInProcessGuest, createPrimary, createSecondary, InProcessArbiter } from '@microcheckpoint/mc-core';
 *
 * const arbiter = new InProcessArbiter();
 * const secondary = createSecondary({
 *   memory: createGuestMemory({ sizeBytes: 1 << 20 }),
 *   arbiter,
 *   takeover: ({ memory }) => ({ guest: startMyWorkload(memory), output: send }),
 * });
 * const { port } = await secondary.start();
 * const memory = createGuestMemory({ sizeBytes: 1 << 20 });
 * const guest = createInProcessGuest({ memory, handler, output: send });
 * const primary = createPrimary({ guest, output: send, secondary: { port }, arbiter });
 * await primary.start(); // protected: output now leaves only when its checkpoint is acknowledged
 * ```
 */
export {
  type Arbiter,
  type ArbiterGrant,
  type ArbiterRequest,
  grantIsValid,
} from './arbiter/contract.js';
export { createFileArbiter, FileArbiter, type FileArbiterOptions } from './arbiter/file.js';
export { InProcessArbiter } from './arbiter/in-process.js';
export {
  createWitnessArbiter,
  type WitnessArbiter,
  type WitnessArbiterOptions,
} from './arbiter/witness.js';
export {
  DEFAULT_WITNESS_DRIFT_MARGIN_MS,
  DEFAULT_WITNESS_HOST,
  DEFAULT_WITNESS_REQUEST_TIMEOUT_MS,
} from './arbiter/witness-constants.js';
export type { WitnessStatus } from './arbiter/witness-protocol.js';
export {
  createWitnessServer,
  type WitnessDecision,
  WitnessServer,
  type WitnessServerEvents,
  type WitnessServerOptions,
} from './arbiter/witness-server.js';
export type { Capture, PageRun } from './capture.js';
export {
  DEFAULT_ARBITER_TTL_MS,
  DEFAULT_ATTACH_TIMEOUT_MS,
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_ENGINE_CLOSE_TIMEOUT_MS,
  DEFAULT_EPOCH_MS,
  DEFAULT_GUEST_MEMORY_BYTES,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_QUEUED_REQUESTS,
  DEFAULT_MAX_SYNC_PASSES,
  DEFAULT_PAGE_SIZE_BYTES,
  DEFAULT_PAUSE_TIMEOUT_MS,
  DEFAULT_QUEUE_HIGH_WATER_MARK,
  DEFAULT_RDMA_MIN_PLACED_BYTES,
  DEFAULT_RDMA_RING_BYTES,
  DEFAULT_REQUESTS_PER_TURN,
  DEFAULT_SYNC_CONVERGE_PAGES,
  DEFAULT_THROTTLE_STEP_MS,
  DEFAULT_WORKLOAD_SOURCE,
  DIRTY_QUOTA_FRACTION,
  MAX_PAGE_SIZE_BYTES,
  MIN_PAGE_SIZE_BYTES,
  PAUSE_BUDGET_FRACTION,
  POLICY_CHECKS_PER_EPOCH,
  SHORTEN_EPOCH_FRACTION,
  STAGING_SLAB_COUNT,
  THROTTLE_MAX_PERCENT,
  THROTTLE_START_PERCENT,
  THROTTLE_STEP_PERCENT,
} from './constants.js';
export type { ChannelMessage, MessageChannel } from './engine/channel.js';
export type {
  EngineChannelOptions,
  EngineKeepaliveOptions,
  EngineStatus,
  PeerStatus,
} from './engine/common.js';
export type { SampleSummary } from './engine/metrics.js';
export type { PolicyEvent, PolicySource, PolicyStatus } from './engine/policy-runner.js';
export type { RdmaSimTransportOptions } from './engine/rdma-sim-link.js';
export type { SwitchoverEvent } from './engine/switchover.js';
export type { EngineTransportOptions } from './engine/transport-option.js';
export {
  ArbiterIoError,
  ArbitrationLostError,
  AttachError,
  CheckpointTooLargeError,
  EngineStateError,
  GuestClosedError,
  GuestFailedError,
  GuestQueueFullError,
  GuestStateError,
  InvalidArgumentError,
  InvalidOptionError,
  KernelUnavailableError,
  McCoreError,
  type McCoreErrorCode,
  MemoryAllocationError,
  OutOfBoundsError,
  PauseTimeoutError,
  PeerErrorReport,
  PeerLostError,
  SlabBusyError,
  StaleTokenError,
  SwitchoverError,
  WitnessClosedError,
  WitnessError,
  WitnessProtocolError,
  WitnessStateError,
  WitnessUnavailableError,
} from './errors.js';
export {
  attachGuestMemory,
  createGuestMemory,
  type DirtyTracking,
  type GuestMemory,
  type GuestMemoryHandle,
  type GuestMemoryOptions,
  type GuestMemoryView,
  type KernelChoice,
} from './guest-memory.js';
export type { Guest, GuestState, OutputSink, PauseOptions } from './guests/contract.js';
export {
  createInProcessGuest,
  type InProcessGuest,
  type InProcessGuestContext,
  type InProcessGuestOptions,
  type RequestHandler,
} from './guests/in-process.js';
export {
  createWorkerGuest,
  type WorkerGuest,
  type WorkerGuestContext,
  type WorkerGuestOptions,
  type WorkerGuestRun,
} from './guests/worker.js';
export type { KernelName } from './kernel.js';
export type { MemoryLayout } from './layout.js';
export type {
  CheckpointPolicy,
  PolicyDecision,
  PolicyDecisionKind,
  PolicyInput,
} from './policy/contract.js';
export {
  createDefaultPolicy,
  type DefaultPolicyOptions,
  defaultPolicy,
  throttleDown,
  throttleUp,
} from './policy/default-policy.js';
export {
  type CheckpointEvent,
  createPrimary,
  type PeerAddressOption,
  type Primary,
  type PrimaryEvents,
  type PrimaryOptions,
  type PrimaryState,
  type PrimaryStatus,
  type ProtectOptions,
  type ShippingEvent,
} from './primary.js';
export {
  type CapturedRun,
  type CheckpointContent,
  checkpointMessages,
  pageMessages,
} from './protocol/checkpoint-messages.js';
export {
  CheckpointReceiver,
  type CheckpointSink,
  type CommittedCheckpoint,
  type ReceiverLimits,
} from './protocol/checkpoint-receiver.js';
export {
  decodeMessage,
  type EncodedMessage,
  encodeMessage,
  GOODBYE_REASONS,
  type HandoverMessage,
  type HelloMessage,
  type McMessage,
  MESSAGE_TYPES,
  type MessageKind,
  PROTOCOL_VERSION,
  ROLES,
  type WirePageRun,
} from './protocol/messages.js';
export {
  type CheckpointErrorCode,
  CheckpointProtocolError,
  FieldRangeError,
  HandshakeError,
  MalformedMessageError,
  ProtocolError,
  type ProtocolErrorCode,
  TruncatedMessageError,
  UnexpectedMessageError,
  UnknownMessageTypeError,
} from './protocol/protocol-errors.js';
export {
  type BudgetChange,
  type CommitEvent,
  createSecondary,
  type Secondary,
  type SecondaryEvents,
  type SecondaryOptions,
  type SecondaryState,
  type SecondaryStatus,
  type TakeoverContext,
  type TakeoverEvent,
  type TakeoverHandler,
  type TakeoverResult,
} from './secondary.js';
export type { WasmMemory } from './wasm-api.js';
