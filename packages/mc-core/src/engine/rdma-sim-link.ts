import {
  Access,
  createCheckpointReceiver,
  createCheckpointShipper,
  createDevice,
  type Device,
  type PerformanceOptions,
  type QueuePair,
  tcpFabric,
} from '@microcheckpoint/transport-rdma-sim';
import { DEFAULT_RDMA_MIN_PLACED_BYTES, DEFAULT_RDMA_RING_BYTES } from '../constants.js';
import { decodeMessage, MESSAGE_TYPES } from '../protocol/messages.js';
import { HandshakeError } from '../protocol/protocol-errors.js';
import { type ChannelMessage, type MessageChannel, sendMessage } from './channel.js';
import { RdmaPlacingChannel, RdmaRingChannel } from './rdma-sim-channel.js';
import {
  decodeRdmaFrame,
  encodeRdmaFrame,
  RDMA_LINK_VERSION,
  type RdmaFrame,
  rdmaConnectVersion,
} from './rdma-sim-frames.js';

/** Settings of the RDMA-semantics transport (`transport: { kind: 'rdma-sim', ... }`). */
export interface RdmaSimTransportOptions {
  kind: 'rdma-sim';
  /**
   * Address this node's simulated NIC listens on (the NICs talk to each other over TCP).
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Address the peer reaches this NIC at; set it when `host` is a wildcard or across hosts.
   * @default host
   */
  advertiseHost?: string;
  /**
   * Secondary: bytes of the receive ring the primary writes page messages into. It must hold the
   * primary's largest page message; twice that lets the next one land while one is being staged.
   * @default 8 MiB
   */
  ringBytes?: number;
  /**
   * Primary: page messages smaller than this travel over the control channel instead (a placement
   * costs a marker round trip, which a few pages do not pay back), bytes.
   * @default 4096
   */
  minPlacedBytes?: number;
  /** Hardware model to pace or price the simulated link on (see transport-rdma-sim). */
  performance?: PerformanceOptions;
}

/** Receives the secondary keeps posted for commit markers. */
const RECEIVE_CREDITS = 64;
/** Send queue depth of the primary's queue pair: a 1 MiB message of 4 KiB runs is 256 writes. */
const SEND_QUEUE_DEPTH = 1024;

/** The largest page message frame for `maxMessageBytes` of page data: data, fixed fields, run table. */
export function maxPageFrameBytes(maxMessageBytes: number, pageSizeBytes: number): number {
  return maxMessageBytes + 64 + 12 * Math.ceil(maxMessageBytes / pageSizeBytes);
}

const sharedBytes = (bytes: number) => new Uint8Array(new SharedArrayBuffer(bytes));

function openDevice(options: RdmaSimTransportOptions): Promise<Device> {
  const host = options.host ?? '127.0.0.1';
  return createDevice({
    fabric: tcpFabric({ host, port: 0, advertiseHost: options.advertiseHost ?? host }),
    ...(options.performance ? { performance: options.performance } : {}),
  });
}

/**
 * Resolves with the first frame on `control` (an MC ERROR from the peer rejects), within `timeoutMs`.
 * Nothing else may arrive before the exchange is over. `screen` sees the raw frame before it is
 * decoded and may refuse it by throwing.
 */
function firstFrame(
  control: MessageChannel,
  timeoutMs: number,
  waitingFor: string,
  screen?: (message: ChannelMessage) => void,
): Promise<RdmaFrame> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      control.off('message', onMessage);
      control.off('close', onClose);
    };
    const onMessage = (message: ChannelMessage) => {
      done();
      try {
        if (message.type === MESSAGE_TYPES.ERROR) {
          const error = decodeMessage(message.type, message.payload);
          const detail = error.kind === 'ERROR' ? error.detail : '';
          throw new HandshakeError(`the peer refused the RDMA link: ${detail}`);
        }
        screen?.(message);
        resolve(decodeRdmaFrame(message.type, message.payload));
      } catch (err) {
        reject(err);
      }
    };
    const onClose = (error: Error | undefined) => {
      done();
      reject(
        new HandshakeError(
          `the control channel closed while waiting for ${waitingFor}${error ? `: ${error.message}` : ''}`,
        ),
      );
    };
    const timer = setTimeout(() => {
      done();
      reject(new HandshakeError(`no ${waitingFor} within ${timeoutMs} ms`));
    }, timeoutMs);
    control.on('message', onMessage);
    control.on('close', onClose);
  });
}

function send(control: MessageChannel, frame: RdmaFrame): void {
  const { type, payload } = encodeRdmaFrame(frame);
  control.send(type, [payload]);
}

function connectQp(qp: QueuePair, address: string, qpNum: number): void {
  qp.modify({ state: 'RTR', remote: { address, qpNum } });
  qp.modify({ state: 'RTS' });
}

/** What the primary's end needs to know. */
export interface PlacingLinkOptions {
  transport: RdmaSimTransportOptions;
  /** The guest memory's whole buffer: capture slabs live in it, so pages are written from there. */
  guestBuffer: SharedArrayBuffer;
  maxFrameBytes: number;
  timeoutMs: number;
}

/**
 * The primary's half of the link setup, on a freshly connected control channel: opens a NIC, offers
 * its queue pair, learns the secondary's ring, and returns the channel the engine speaks over. On
 * failure the device is closed and the control channel is left for the caller to close.
 */
export async function connectRdmaSim(
  control: MessageChannel,
  options: PlacingLinkOptions,
): Promise<MessageChannel> {
  const device = await openDevice(options.transport);
  try {
    const pd = device.allocPd();
    const cq = device.createCq({ capacity: SEND_QUEUE_DEPTH * 2 });
    const qp = pd.createQp({ sendCq: cq, recvCq: cq, maxSendWr: SEND_QUEUE_DEPTH, maxRecvWr: 1 });
    qp.modify({ state: 'INIT' });
    const accepted = firstFrame(control, options.timeoutMs, 'RDMA ACCEPT');
    send(control, {
      kind: 'CONNECT',
      version: RDMA_LINK_VERSION,
      nicAddress: device.address,
      qpNum: qp.qpNum,
      maxFrameBytes: options.maxFrameBytes,
    });
    const accept = await accepted;
    if (accept.kind !== 'ACCEPT') throw new HandshakeError(`expected RDMA ACCEPT, got ${accept.kind}`);
    if (accept.ringBytes < options.maxFrameBytes)
      throw new HandshakeError(
        `the secondary's ring of ${accept.ringBytes} bytes cannot hold a ${options.maxFrameBytes}-byte frame`,
      );
    connectQp(qp, accept.nicAddress, accept.qpNum);
    const guestRegion = pd.registerMemoryRegion(new Uint8Array(options.guestBuffer), Access.LOCAL_WRITE);
    const outbox = pd.registerMemoryRegion(sharedBytes(accept.ringBytes), Access.LOCAL_WRITE);
    const shipper = createCheckpointShipper({
      qp,
      staging: { addr: accept.ringAddr, length: accept.ringBytes, rkey: accept.ringRkey },
      regions: [guestRegion, outbox],
    });
    return new RdmaPlacingChannel({
      control,
      device,
      shipper,
      ringBytes: accept.ringBytes,
      guestRegion,
      outbox,
      minPlacedBytes: options.transport.minPlacedBytes ?? DEFAULT_RDMA_MIN_PLACED_BYTES,
    });
  } catch (err) {
    await device.close().catch(() => undefined);
    throw err;
  }
}

/** What the secondary's end needs to know. */
export interface RingLinkOptions {
  transport: RdmaSimTransportOptions;
  timeoutMs: number;
}

/**
 * The secondary's half of the link setup: waits for the primary's CONNECT, registers the ring, posts
 * receives for the commit markers, connects its queue pair and answers ACCEPT. A primary whose
 * frames cannot fit the ring, or that speaks another version, is refused with an MC ERROR.
 */
export async function acceptRdmaSim(
  control: MessageChannel,
  options: RingLinkOptions,
): Promise<MessageChannel> {
  const refuse = (detail: string): never => {
    // A plain MC ERROR, so the primary can say why it was refused.
    sendMessage(control, { kind: 'ERROR', code: 'MC_ERR_PROTOCOL_HANDSHAKE', detail });
    throw new HandshakeError(detail);
  };
  // The version is checked before the rest is decoded: another version lays the rest out otherwise.
  const connect = await firstFrame(control, options.timeoutMs, 'RDMA CONNECT', (message) => {
    const version = rdmaConnectVersion(message.type, message.payload);
    if (version !== undefined && version !== RDMA_LINK_VERSION)
      refuse(`RDMA link version ${version}; this secondary speaks ${RDMA_LINK_VERSION}`);
  });
  const ringBytes = options.transport.ringBytes ?? DEFAULT_RDMA_RING_BYTES;
  if (connect.kind !== 'CONNECT') refuse(`expected RDMA CONNECT, got ${connect.kind}`);
  const offer = connect as Extract<RdmaFrame, { kind: 'CONNECT' }>;
  if (offer.maxFrameBytes > ringBytes)
    refuse(
      `page frames of up to ${offer.maxFrameBytes} bytes do not fit this secondary's ring of ${ringBytes} bytes`,
    );
  const device = await openDevice(options.transport);
  try {
    const pd = device.allocPd();
    const cq = device.createCq({ capacity: RECEIVE_CREDITS * 2 });
    const qp = pd.createQp({ sendCq: cq, recvCq: cq, maxSendWr: 16, maxRecvWr: RECEIVE_CREDITS });
    const ring = pd.registerMemoryRegion(sharedBytes(ringBytes), Access.LOCAL_WRITE | Access.REMOTE_WRITE);
    qp.modify({ state: 'INIT', access: Access.REMOTE_WRITE });
    const receiver = createCheckpointReceiver({ qp, staging: ring, credits: RECEIVE_CREDITS });
    connectQp(qp, offer.nicAddress, offer.qpNum);
    const channel = new RdmaRingChannel({
      control,
      device,
      receiver,
      ring,
      maxFrameBytes: offer.maxFrameBytes,
    });
    const remote = ring.remote();
    send(control, {
      kind: 'ACCEPT',
      nicAddress: device.address,
      qpNum: qp.qpNum,
      ringAddr: remote.addr,
      ringBytes: remote.length,
      ringRkey: remote.rkey,
    });
    return channel;
  } catch (err) {
    await device.close().catch(() => undefined);
    throw err;
  }
}
