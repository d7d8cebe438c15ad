import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { Worker } from 'node:worker_threads';
import { monotonicMs } from './clock.js';
import {
  CHECK_INTERVAL_MS,
  CLOSE_TIMEOUT_MS,
  DEFAULT_BIND_ADDRESS,
  MIN_HEARTBEAT_SECRET_BYTES,
  RECEIVER_STALE_INTERVALS,
} from './constants.js';
import { type DataChannelLike, watchDataChannel } from './data-channel.js';
import {
  InvalidArgumentError,
  InvalidOptionError,
  KeepaliveSocketError,
  KeepaliveStateError,
  KeepaliveWorkerError,
} from './errors.js';
import {
  type DataChannelLoss,
  type DetectorStatus,
  type EvidenceKind,
  FailureDetector,
  type FailureDetectorEvents,
  type FailureDetectorOptions,
} from './failure-detector.js';
import { deriveHeartbeatKeys } from './heartbeat-auth.js';
import { isPeerRole, type PeerRole, roleCode } from './heartbeat-codec.js';
import { booleanOption, describe, numberOption } from './option-validation.js';
import { SharedHeartbeatState } from './shared-state.js';
import { launchHeartbeatWorker } from './worker-launcher.js';
import type { PeerAddress, WorkerPeer, WorkerToMain } from './worker-protocol.js';

/**
 * Authenticated heartbeats: every heartbeat carries an HMAC-SHA256 tag (truncated to 16 bytes) under
 * a key derived with HKDF from the secret(s) and both node ids, one key per direction, and every
 * receiver keeps a replay window on the sequence numbers.
 */
export interface HeartbeatAuthentication {
  /** This node's id (1 to 255 UTF-8 bytes); the peer's comes with `setPeer({ ..., nodeId })`. */
  nodeId: string;
  /**
   * Secret shared by the two nodes, at least 16 bytes (32 random bytes recommended). May be omitted
   * when every `setPeer()` brings a `session` secret instead.
   */
  secret?: Uint8Array;
}

/** Options of {@link createKeepalive}: where to send and listen, plus every detector option. */
export interface KeepaliveOptions extends Omit<FailureDetectorOptions, 'clock'> {
  /**
   * Local address the heartbeat socket binds to (an IP literal). Use the address of the interface that
   * faces the peer; the default only reaches peers on this host.
   * @default '127.0.0.1'
   */
  address?: string;
  /**
   * Local UDP port, 0 for any free port (read it from `start()`'s result).
   * @default 0
   */
  port?: number;
  /**
   * The peer's heartbeat socket. Can also be given later with `setPeer()`; until then nothing is sent and
   * every datagram received counts as from an unknown address.
   * @default undefined
   */
  peer?: PeerAddress;
  /**
   * This node's role, carried in every heartbeat; change it with `setRole()` after a failover.
   * @default 'primary'
   */
  role?: PeerRole;
  /**
   * This node's checkpoint epoch, carried in every heartbeat; update it with `setEpoch()`.
   * @default 0
   */
  epoch?: number;
  /**
   * How often the main thread bumps its progress counter and evaluates the detector, milliseconds. It
   * bounds how late a conviction is noticed, and the resolution of the hang rule.
   * @default 5
   */
  checkIntervalMs?: number;
  /**
   * Authenticate heartbeats (see {@link HeartbeatAuthentication}). Without it heartbeats carry only a
   * CRC: trusted-network mode, where anyone who can send UDP to this socket from the peer's address
   * can fake the peer's life.
   * @default undefined (trusted-network mode)
   */
  authentication?: HeartbeatAuthentication;
  /**
   * Whether `close()` first sends a goodbye heartbeat, so the peer convicts at once (reason `goodbye`)
   * instead of after its detection time.
   * @default true
   */
  goodbyeOnClose?: boolean;
}

/** The bound heartbeat socket. */
export interface KeepaliveAddress {
  address: string;
  port: number;
  family: string;
}

/** Datagrams the heartbeat worker dropped, by reason. */
export interface DroppedHeartbeats {
  /** Not exactly one heartbeat long. */
  size: number;
  /** Not starting with the heartbeat magic. */
  magic: number;
  /** Another heartbeat version. */
  version: number;
  /** CRC-32 mismatch. */
  checksum: number;
  /** A field no sender produces. */
  field: number;
  /** Sequence number not above one already seen from the same incarnation. */
  replayed: number;
  /** From an address and port other than the peer's. */
  unknownSource: number;
}

/** Heartbeats an authenticating receiver refused, by reason; none of them counted as life. */
export interface RejectedHeartbeats {
  /** The MAC did not verify: forged, or keyed with another secret or node id. */
  forged: number;
  /** Authentic, but already accepted once (the same count as `dropped.replayed`). */
  replayed: number;
  /** Authentic, but older than the replay window: cannot be told from a replay. */
  stale: number;
  /** Unauthenticated (version 1) heartbeats at this authenticating receiver. */
  unauthenticated: number;
}

/** {@link DetectorStatus} plus what the heartbeat path itself counted. */
export interface KeepaliveStatus extends DetectorStatus {
  /** Heartbeats handed to the socket. */
  heartbeatsSent: number;
  /** Sends the socket refused (link down, local firewall). */
  sendErrors: number;
  /** Heartbeats accepted by the worker (the detector's `heartbeatsReceived` may lag by one check). */
  heartbeatsAccepted: number;
  dropped: DroppedHeartbeats;
  /** `'hmac-sha256-128'` with `authentication`, else `'none'` (trusted-network mode). */
  authentication: 'hmac-sha256-128' | 'none';
  /** Refused by the authentication checks (all zero in trusted-network mode, except `replayed`). */
  rejectedHeartbeats: RejectedHeartbeats;
  /** Heartbeat sending interval, milliseconds. */
  intervalMs: number;
  /** Times the heartbeat worker's own timer fired later than the detection window. */
  receiverStalls: number;
  /** Checks skipped because the receiving worker had not run for 3 intervals. */
  receiverStaleChecks: number;
  /** Arrivals lost because the main thread did not drain the shared ring in time. */
  ringOverruns: number;
  role: PeerRole;
  epoch: number;
  /** This process's main-loop progress counter. */
  progress: number;
  /** This process's incarnation, as carried in its heartbeats. */
  incarnation: number;
  local: KeepaliveAddress | undefined;
  peerAddress: PeerAddress | undefined;
}

/** Events of a {@link Keepalive}: the detector's, plus `error` for a failure of the heartbeat worker. */
export interface KeepaliveEvents extends FailureDetectorEvents {
  error: [Error];
}

const FORWARDED = [
  'change',
  'alive',
  'suspect',
  'dead',
  'flap',
  'self-pause',
  'restart',
  'heartbeat',
] as const;

type Lifecycle = 'idle' | 'starting' | 'running' | 'closing' | 'closed';

function validatePeer(name: string, peer: unknown): PeerAddress {
  if (peer === null || typeof peer !== 'object')
    throw new InvalidOptionError(name, `must be { address, port }`);
  const { address, port, nodeId, session } = peer as Partial<PeerAddress>;
  if (nodeId !== undefined && (typeof nodeId !== 'string' || nodeId.length === 0)) {
    throw new InvalidOptionError(`${name}.nodeId`, `must be a non-empty string, got ${describe(nodeId)}`);
  }
  if (
    session !== undefined &&
    (!(session instanceof Uint8Array) || session.byteLength < MIN_HEARTBEAT_SECRET_BYTES)
  ) {
    throw new InvalidOptionError(
      `${name}.session`,
      `must be a Uint8Array of at least ${MIN_HEARTBEAT_SECRET_BYTES} bytes`,
    );
  }
  if (typeof address !== 'string' || isIP(address) === 0) {
    throw new InvalidOptionError(
      `${name}.address`,
      `must be an IP address literal, got ${describe(address)}`,
    );
  }
  numberOption(`${name}.port`, port, 0, { integer: true, min: 1, max: 65_535 });
  if (port === undefined) throw new InvalidOptionError(`${name}.port`, 'is required');
  return {
    address,
    port,
    ...(nodeId === undefined ? {} : { nodeId }),
    ...(session === undefined ? {} : { session }),
  };
}

function validateAuthentication(value: unknown): HeartbeatAuthentication | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') {
    throw new InvalidOptionError('authentication', 'must be { nodeId, secret? }');
  }
  const { nodeId, secret } = value as Partial<HeartbeatAuthentication>;
  if (typeof nodeId !== 'string' || nodeId.length === 0 || new TextEncoder().encode(nodeId).length > 255) {
    throw new InvalidOptionError(
      'authentication.nodeId',
      `must be a string of 1 to 255 bytes, got ${describe(nodeId)}`,
    );
  }
  if (
    secret !== undefined &&
    (!(secret instanceof Uint8Array) || secret.byteLength < MIN_HEARTBEAT_SECRET_BYTES)
  ) {
    throw new InvalidOptionError(
      'authentication.secret',
      `must be a Uint8Array of at least ${MIN_HEARTBEAT_SECRET_BYTES} bytes`,
    );
  }
  // Copied: a caller zeroing its buffer later must not change the keys.
  return { nodeId, ...(secret === undefined ? {} : { secret: new Uint8Array(secret) }) };
}

function validateEpoch(name: string, epoch: unknown): number {
  return numberOption(name, epoch, 0, { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
}

/**
 * Heartbeats over UDP from a worker thread, and a {@link FailureDetector} fed by them. Create with
 * {@link createKeepalive}, `start()`, and listen for `suspect`, `dead` and `alive`.
 */
export class Keepalive extends EventEmitter<KeepaliveEvents> {
  /** The detector this keepalive feeds; its options are the keepalive's. */
  readonly detector: FailureDetector;
  readonly #address: string;
  readonly #port: number;
  readonly #intervalMs: number;
  readonly #checkIntervalMs: number;
  readonly #goodbyeOnClose: boolean;
  readonly #incarnation = randomInt(1, 0x1_0000_0000);
  readonly #shared = new SharedHeartbeatState();
  readonly #authentication: HeartbeatAuthentication | undefined;
  #peer: WorkerPeer | undefined;
  #peerNodeId: string | undefined;
  #role: PeerRole;
  #lifecycle: Lifecycle = 'idle';
  #worker: Worker | undefined;
  #timer: NodeJS.Timeout | undefined;
  #local: KeepaliveAddress | undefined;
  #seenReceiverStalls = 0;
  #receiverStaleChecks = 0;
  #ringOverruns = 0;
  #workerExit: Promise<void> | undefined;
  #starting: Promise<KeepaliveAddress> | undefined;

  constructor(options: KeepaliveOptions = {}) {
    super();
    if (options === null || typeof options !== 'object') {
      throw new InvalidOptionError('options', `must be an object, got ${describe(options)}`);
    }
    if ('clock' in options) {
      throw new InvalidOptionError(
        'clock',
        'is not accepted: heartbeats are stamped with the monotonic clock',
      );
    }
    this.detector = new FailureDetector(options);
    this.#intervalMs = this.detector.options.intervalMs;
    const address = options.address ?? DEFAULT_BIND_ADDRESS;
    if (typeof address !== 'string' || isIP(address) === 0) {
      throw new InvalidOptionError('address', `must be an IP address literal, got ${describe(address)}`);
    }
    this.#address = address;
    this.#port = numberOption('port', options.port, 0, { integer: true, min: 0, max: 65_535 });
    this.#authentication = validateAuthentication(options.authentication);
    if (options.peer !== undefined)
      this.#applyPeer('peer', validatePeer('peer', options.peer), InvalidOptionError);
    const role = options.role ?? 'primary';
    if (!isPeerRole(role)) {
      throw new InvalidOptionError('role', `must be primary, secondary or witness, got ${describe(role)}`);
    }
    this.#role = role;
    this.#shared.roleCode = roleCode(role);
    this.#shared.epoch = validateEpoch('epoch', options.epoch);
    this.#checkIntervalMs = numberOption('checkIntervalMs', options.checkIntervalMs, CHECK_INTERVAL_MS, {
      min: 1,
      max: 1_000,
    });
    this.#goodbyeOnClose = booleanOption('goodbyeOnClose', options.goodbyeOnClose, true);
    // Typed per event on both sides; the loop itself only moves payloads across unchanged.
    const source = this.detector as unknown as EventEmitter;
    const target = this as unknown as EventEmitter;
    for (const event of FORWARDED) source.on(event, (payload: unknown) => target.emit(event, payload));
  }

  /** The bound heartbeat socket, once started. */
  get address(): KeepaliveAddress | undefined {
    return this.#local;
  }

  /** The detector's current state. */
  get state(): FailureDetector['state'] {
    return this.detector.state;
  }

  /**
   * Binds the heartbeat socket on the worker thread, starts sending, and starts checking. Resolves with
   * the bound address; rejects with `KeepaliveSocketError` if the socket cannot be bound.
   */
  start(): Promise<KeepaliveAddress> {
    if (this.#lifecycle !== 'idle') {
      return Promise.reject(new KeepaliveStateError(`cannot start: keepalive is ${this.#lifecycle}`));
    }
    this.#lifecycle = 'starting';
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<KeepaliveAddress> {
    const worker = launchHeartbeatWorker({
      buffer: this.#shared.buffer,
      address: this.#address,
      port: this.#port,
      peer: this.#peer,
      authenticated: this.#authentication !== undefined,
      intervalMs: this.#intervalMs,
      incarnation: this.#incarnation,
      stallReportMs: this.detector.options.selfPauseMs,
    });
    this.#worker = worker;
    this.#workerExit = new Promise((resolve) => worker.once('exit', () => resolve()));
    let local: KeepaliveAddress;
    try {
      local = await new Promise<KeepaliveAddress>((resolve, reject) => {
        const onMessage = (message: WorkerToMain) => {
          if (message.type === 'listening') {
            cleanup();
            resolve({ address: message.address, port: message.port, family: message.family });
          } else if (message.type === 'error') {
            cleanup();
            reject(new KeepaliveSocketError(`cannot bind heartbeat socket: ${message.message}`, message));
          }
        };
        const onError = (err: Error) => {
          cleanup();
          reject(new KeepaliveWorkerError(`heartbeat worker failed to start: ${err.message}`, err));
        };
        const onExit = (code: number) => {
          cleanup();
          reject(new KeepaliveWorkerError(`heartbeat worker exited with code ${code} before binding`));
        };
        const cleanup = () => {
          worker.off('message', onMessage);
          worker.off('error', onError);
          worker.off('exit', onExit);
        };
        worker.on('message', onMessage);
        worker.once('error', onError);
        worker.once('exit', onExit);
      });
    } catch (err) {
      this.#lifecycle = 'closed';
      await worker.terminate();
      throw err;
    }
    this.#local = local;
    worker.on('message', (message: WorkerToMain) => {
      if (message.type === 'error') {
        this.#fail(new KeepaliveSocketError(`heartbeat socket failed: ${message.message}`, message));
      }
    });
    worker.on('error', (err) =>
      this.#fail(new KeepaliveWorkerError(`heartbeat worker failed: ${err.message}`, err)),
    );
    worker.on('exit', (code) =>
      this.#fail(new KeepaliveWorkerError(`heartbeat worker exited unexpectedly with code ${code}`)),
    );
    this.#lifecycle = 'running';
    this.detector.rearm();
    this.#timer = setInterval(() => this.#check(), this.#checkIntervalMs);
    return local;
  }

  /**
   * Sets (or changes) the peer's heartbeat address. With `authentication`, `nodeId` is required and
   * the pair's keys are derived here (from the secret, `session` if given, and both node ids); until
   * then nothing is sent and nothing is accepted.
   */
  setPeer(peer: PeerAddress): void {
    const checked = validatePeer('peer', peer);
    if (this.#lifecycle === 'closing' || this.#lifecycle === 'closed') {
      throw new KeepaliveStateError(`cannot set peer: keepalive is ${this.#lifecycle}`);
    }
    this.#applyPeer('peer', checked, InvalidArgumentError);
    this.#worker?.postMessage({ type: 'peer', peer: this.#peer });
  }

  #applyPeer(
    name: string,
    peer: PeerAddress,
    ErrorType: typeof InvalidOptionError | typeof InvalidArgumentError,
  ): void {
    const auth = this.#authentication;
    if (auth === undefined) {
      this.#peer = { address: peer.address, port: peer.port };
      this.#peerNodeId = peer.nodeId;
      return;
    }
    const fail = (field: string, message: string) =>
      ErrorType === InvalidOptionError
        ? new InvalidOptionError(`${name}.${field}`, message)
        : new InvalidArgumentError(`${name}.${field} ${message}`);
    if (peer.nodeId === undefined) throw fail('nodeId', 'is required with authentication');
    if (peer.nodeId === auth.nodeId) throw fail('nodeId', `must differ from this node's id ${auth.nodeId}`);
    if (auth.secret === undefined && peer.session === undefined) {
      throw fail('session', 'is required when authentication has no secret');
    }
    const keys = deriveHeartbeatKeys({
      ...(auth.secret === undefined ? {} : { secret: auth.secret }),
      ...(peer.session === undefined ? {} : { session: peer.session }),
      localId: auth.nodeId,
      peerId: peer.nodeId,
    });
    this.#peer = { address: peer.address, port: peer.port, keys };
    this.#peerNodeId = peer.nodeId;
  }

  /** Sets the epoch carried by the following heartbeats. */
  setEpoch(epoch: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < 0)
      throw new InvalidArgumentError(`epoch must be a safe integer >= 0`);
    this.#shared.epoch = epoch;
  }

  /** Sets the role carried by the following heartbeats. */
  setRole(role: PeerRole): void {
    if (!isPeerRole(role)) throw new InvalidArgumentError(`role must be primary, secondary or witness`);
    this.#role = role;
    this.#shared.roleCode = roleCode(role);
  }

  /** Records evidence of life from the data channel (see {@link FailureDetector.evidenceOfLife}). */
  evidenceOfLife(kind: EvidenceKind = 'ack'): void {
    this.detector.evidenceOfLife(kind);
  }

  /** The data channel was reset or ended: the peer becomes suspect at once. */
  dataChannelLost(reason: DataChannelLoss = 'reset'): void {
    this.detector.dataChannelLost(reason);
  }

  /**
   * Watches a data channel (a `net.Socket` or any Duplex): received bytes count as evidence of life, a
   * reset or end as its loss. Adding the `data` listener puts a paused stream into flowing mode, as any
   * `data` listener does. Returns a function that stops watching.
   */
  watchDataChannel(channel: DataChannelLike): () => void {
    return watchDataChannel(channel, this);
  }

  /** Detector status plus the heartbeat path's own counters. */
  status(): KeepaliveStatus {
    const s = this.#shared;
    return {
      ...this.detector.status(),
      heartbeatsSent: s.read('sent'),
      sendErrors: s.read('sendErrors'),
      heartbeatsAccepted: s.read('received'),
      dropped: {
        size: s.read('badSize'),
        magic: s.read('badMagic'),
        version: s.read('badVersion'),
        checksum: s.read('badChecksum'),
        field: s.read('badField'),
        replayed: s.read('replayed'),
        unknownSource: s.read('unknownSource'),
      },
      authentication: this.#authentication === undefined ? 'none' : 'hmac-sha256-128',
      rejectedHeartbeats: {
        forged: s.read('forged'),
        replayed: s.read('replayed'),
        stale: s.read('stale'),
        unauthenticated: s.read('unauthenticated'),
      },
      intervalMs: this.#intervalMs,
      receiverStalls: s.read('receiverStalls'),
      receiverStaleChecks: this.#receiverStaleChecks,
      ringOverruns: this.#ringOverruns,
      role: this.#role,
      epoch: s.epoch,
      progress: s.progress,
      incarnation: this.#incarnation,
      local: this.#local,
      peerAddress:
        this.#peer === undefined
          ? undefined
          : {
              address: this.#peer.address,
              port: this.#peer.port,
              ...(this.#peerNodeId === undefined ? {} : { nodeId: this.#peerNodeId }),
            },
    };
  }

  /**
   * Stops checking, sends a goodbye heartbeat (unless `goodbyeOnClose` is false), closes the socket and
   * ends the worker. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#lifecycle === 'idle') {
      this.#lifecycle = 'closed';
      return;
    }
    if (this.#lifecycle === 'starting') {
      // Let the start finish (or fail), then close what it opened.
      await this.#starting?.catch(() => undefined);
      return this.close();
    }
    if (this.#lifecycle !== 'running') {
      await this.#workerExit;
      return;
    }
    this.#lifecycle = 'closing';
    this.#stopTimer();
    const worker = this.#worker!;
    worker.postMessage({ type: 'close', goodbye: this.#goodbyeOnClose });
    let timeout: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      this.#workerExit!.then(() => true),
      new Promise<boolean>((resolve) => {
        timeout = setTimeout(() => resolve(false), CLOSE_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timeout);
    if (!exited) await worker.terminate();
    this.#lifecycle = 'closed';
  }

  /** The heartbeat path broke while running: stop checking (silence would be ours) and report it once. */
  #fail(err: Error): void {
    if (this.#lifecycle !== 'running') return;
    this.#stopTimer();
    this.#lifecycle = 'closed';
    this.emit('error', err);
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #check(): void {
    const shared = this.#shared;
    shared.bumpProgress();
    // Read before draining: the worker publishes a heartbeat before the tick that vouches for it.
    const workerTickMs = shared.workerTickMs;
    this.#ringOverruns += shared.drain((arrival) => this.detector.heartbeat(arrival));
    const stalls = shared.read('receiverStalls');
    if (stalls !== this.#seenReceiverStalls) {
      this.#seenReceiverStalls = stalls;
      this.detector.selfPause(shared.lastWorkerStallMs);
    }
    const now = monotonicMs();
    // While the receiving thread is not running, silence proves nothing about the peer: wait for it. If
    // the wait outlasts the detection window, the next evaluation re-arms (the self-pause guard).
    if (now - workerTickMs > RECEIVER_STALE_INTERVALS * this.#intervalMs) {
      this.#receiverStaleChecks++;
      return;
    }
    this.detector.evaluate(now);
  }
}

/**
 * Creates a keepalive: UDP heartbeats sent and received on a worker thread, judged by a failure detector
 * on the main thread. Every option is validated here; a bad one throws `InvalidOptionError`
 * (`MC_ERR_INVALID_OPTION`) naming it. Nothing is bound until `start()`.
 */
export function createKeepalive(options: KeepaliveOptions = {}): Keepalive {
  return new Keepalive(options);
}
