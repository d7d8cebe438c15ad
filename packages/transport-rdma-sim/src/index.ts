/**
 * @packageDocumentation
 * RDMA verbs semantics in software: devices, protection domains, memory regions, completion queues
 * and reliable-connected queue pairs, with one-sided RDMA WRITE and READ, WRITE_WITH_IMM, SEND,
 * receiver-not-ready retries, error states and flushes as real verbs have them. Each device has a NIC
 * thread that places data into registered memory while the application's thread is busy or blocked.
 * Two fabrics sit behind the same API: shared memory between the threads of one process, and TCP
 * between hosts. An optional performance model prices a transfer on 100 Gb/s RoCE or 200 Gb/s
 * InfiniBand, and a checkpoint shipper/receiver pair moves micro-checkpoints the way QEMU's MC did.
 *
 * @example
 * ```ts
 * import { Access, createDevice, sharedMemoryFabric } from '@microcheckpoint/transport-rdma-sim';
 *
 * const fabric = sharedMemoryFabric();
 * const [a, b] = await Promise.all([createDevice({ fabric }), createDevice({ fabric })]);
 * // ... allocPd, registerMemoryRegion, createCq, createQp, modify to RTS, postSend, cq.poll()
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export { ACCESS_ALL, Access, type AccessFlags } from './access.js';
export {
  CheckpointReceiver,
  type CheckpointReceiverOptions,
  createCheckpointReceiver,
  type ReceivedCheckpoint,
} from './checkpoint-receiver.js';
export {
  CheckpointShipper,
  type CheckpointShipperOptions,
  createCheckpointShipper,
  type PageRun,
  type ShipResult,
} from './checkpoint-shipper.js';
export { CompletionQueue, type CqOptions, type WorkCompletion } from './completion-queue.js';
export {
  DEFAULT_ACK_TIMEOUT_MS,
  DEFAULT_CQ_CAPACITY,
  DEFAULT_MAX_INLINE_DATA_BYTES,
  DEFAULT_MAX_RECV_SGE,
  DEFAULT_MAX_RECV_WR,
  DEFAULT_MAX_SEND_SGE,
  DEFAULT_MAX_SEND_WR,
  DEFAULT_MIN_RNR_TIMER_MS,
  DEFAULT_PATH_MTU_BYTES,
  DEFAULT_RECEIVE_CREDITS,
  DEFAULT_RETRY_COUNT,
  DEFAULT_RNR_RETRY,
  DEFAULT_SIGNAL_INTERVAL_WR,
  DEVICE_MAX_CQE,
  DEVICE_MAX_INLINE_DATA_BYTES,
  DEVICE_MAX_QP_WR,
  DEVICE_MAX_SGE,
  MAX_MESSAGE_BYTES,
  PATH_MTUS_BYTES,
  RNR_RETRY_INFINITE,
} from './constants.js';
export type { DeviceCounters } from './counters.js';
export {
  createDevice,
  Device,
  type DeviceAttributes,
  type DeviceEvents,
  type DeviceOptions,
  type PerformanceOptions,
  type PortAttributes,
} from './device.js';
export {
  CheckpointRangeError,
  CompletionError,
  CqOverrunError,
  DeviceClosedError,
  type Errno,
  InlineTooLargeError,
  InvalidArgumentError,
  InvalidOptionError,
  InvalidWorkRequestError,
  NicError,
  PostError,
  PostStateError,
  QpStateError,
  QueueFullError,
  RdmaError,
  type RdmaErrorCode,
  RegistrationError,
  ResourceBusyError,
  TooManySgesError,
  UnregisteredMemoryError,
  WireProtocolError,
} from './errors.js';
export {
  type Fabric,
  type SharedMemoryFabric,
  type SharedMemoryFabricOptions,
  sharedMemoryFabric,
  type TcpFabric,
  type TcpFabricOptions,
  tcpFabric,
} from './fabric.js';
export { type FaultPlan, type PlacementOrder, resolveFaultPlan } from './fault-plan.js';
export { MemoryRegion, type RemoteRegion } from './memory-region.js';
export { Opcode, WcOpcode } from './opcode.js';
export {
  estimateRegistrationNs,
  estimateTransferNs,
  INFINIBAND_200G,
  type PerformanceModel,
  packetCount,
  ROCE_100G,
  serializationNs,
  validatePerformanceModel,
} from './performance-model.js';
export { ProtectionDomain } from './protection-domain.js';
export { QpState } from './qp-state.js';
export {
  type QpAttributes,
  type QpCapabilities,
  type QpEndpoint,
  type QpModifyAttributes,
  type QpOptions,
  QueuePair,
} from './queue-pair.js';
export { WcStatus } from './wc-status.js';
export type { RecvWorkRequest, ScatterGatherElement, SendWorkRequest } from './work-request.js';
