/**
 * Defaults and device limits, with their units in the names. Where real verbs encode a value
 * (timeout exponents, RNR timer codes) this package takes plain milliseconds instead.
 */

/** Send queue depth a queue pair gets when `maxSendWr` is not given, in work requests. */
export const DEFAULT_MAX_SEND_WR = 128;
/** Receive queue depth a queue pair gets when `maxRecvWr` is not given, in work requests. */
export const DEFAULT_MAX_RECV_WR = 128;
/** Scatter-gather entries per send work request when `maxSendSge` is not given. */
export const DEFAULT_MAX_SEND_SGE = 4;
/** Scatter-gather entries per receive work request when `maxRecvSge` is not given. */
export const DEFAULT_MAX_RECV_SGE = 4;
/** Inline data a send work request may carry when `maxInlineData` is not given, in bytes. */
export const DEFAULT_MAX_INLINE_DATA_BYTES = 64;
/** Completion queue entries when `capacity` is not given (rounded up to a power of two). */
export const DEFAULT_CQ_CAPACITY = 256;

/** Largest send or receive queue depth the simulated device supports (ibv `max_qp_wr`). */
export const DEVICE_MAX_QP_WR = 16_384;
/** Largest scatter-gather list the simulated device supports (ibv `max_sge`). */
export const DEVICE_MAX_SGE = 32;
/** Largest completion queue the simulated device supports (ibv `max_cqe`). */
export const DEVICE_MAX_CQE = 65_536;
/** Largest inline data the simulated device supports, in bytes. */
export const DEVICE_MAX_INLINE_DATA_BYTES = 1024;
/** Memory regions one device can hold at once (the index part of a key is 24 bits). */
export const DEVICE_MAX_MR = 0xff_ffff;
/** Largest message one work request may move (port `max_msg_sz`), in bytes: 1 GiB. */
export const MAX_MESSAGE_BYTES = 2 ** 30;

/** Path MTUs a queue pair may use, in bytes (ibv_mtu 256..4096). */
export const PATH_MTUS_BYTES: readonly number[] = [256, 512, 1024, 2048, 4096];
/** Path MTU when `pathMtu` is not given at RTR, in bytes. */
export const DEFAULT_PATH_MTU_BYTES = 4096;

/**
 * Time the requester waits for any response before it counts a retry, in milliseconds. Real verbs
 * encode this as 4.096 µs x 2^timeout; 250 ms sits between timeout=15 and 16 and keeps a
 * two-core machine that is busy elsewhere from being mistaken for a dead peer.
 * @default 250
 */
export const DEFAULT_ACK_TIMEOUT_MS = 250;
/** Transport retries before RETRY_EXC_ERR when `retryCount` is not given (verbs `retry_cnt`, 0..7). */
export const DEFAULT_RETRY_COUNT = 7;
/** RNR retries before RNR_RETRY_EXC_ERR when `rnrRetry` is not given; 7 means retry forever, as in verbs. */
export const DEFAULT_RNR_RETRY = 7;
/** The `rnrRetry` value that means "retry forever". */
export const RNR_RETRY_INFINITE = 7;
/** Delay the responder asks for in an RNR NAK when `minRnrTimerMs` is not given, in milliseconds. */
export const DEFAULT_MIN_RNR_TIMER_MS = 1;
/** Largest accepted `minRnrTimerMs` (verbs' largest RNR timer code is 655.36 ms). */
export const MAX_MIN_RNR_TIMER_MS = 655.36;
/** Packet sequence numbers are 24 bits. */
export const PSN_MASK = 0xff_ffff;

/** Messages one queue pair keeps unacknowledged on the wire before it waits. */
export const NIC_MAX_INFLIGHT_MESSAGES = 256;
/** Payload bytes one queue pair keeps unacknowledged on the wire before it waits. */
export const NIC_MAX_INFLIGHT_BYTES = 32 * 1024 * 1024;

/** Payload bytes a TCP-fabric frame carries before a new frame starts, in bytes. */
export const TCP_FRAME_TARGET_BYTES = 1024 * 1024;
/** Payload pieces up to this size are copied into the frame buffer; larger ones are sent as views, in bytes. */
export const TCP_COPY_THRESHOLD_BYTES = 16 * 1024;
/** Bytes queued in one TCP link before the NIC stops feeding it, in bytes. */
export const TCP_LINK_HIGH_WATER_BYTES = 8 * 1024 * 1024;
/** Largest frame payload the TCP fabric sends or accepts, in bytes. */
export const TCP_MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Host the TCP fabric listens on when `host` is not given. */
export const DEFAULT_TCP_HOST = '127.0.0.1';
/** Shared-memory fabric name when `name` is not given: every device of the process can reach every other. */
export const DEFAULT_SHARED_MEMORY_FABRIC = 'default';

/** Time `createDevice()` waits for its NIC thread to come up, in milliseconds. */
export const NIC_START_TIMEOUT_MS = 15_000;
/** Time `device.close()` waits for its NIC thread to shut down before terminating it, in milliseconds. */
export const NIC_CLOSE_TIMEOUT_MS = 5_000;

/** Where synthetic virtual addresses of registered memory start (looks like a user-space mapping). */
export const ADDRESS_SPACE_BASE = 0x7f00_0000_0000;
/** Alignment and guard gap between the address ranges of two registered buffers, in bytes. */
export const ADDRESS_SPACE_GAP_BYTES = 2 * 1024 * 1024;

/** Receives a checkpoint receiver keeps posted when `credits` is not given. */
export const DEFAULT_RECEIVE_CREDITS = 16;
/** A checkpoint shipper asks for a completion at least this often, in work requests. */
export const DEFAULT_SIGNAL_INTERVAL_WR = 32;
