import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { type CorkQueueOptions, createCorkQueue } from '@microcheckpoint/io-cork';
import {
  createKeepalive,
  type Keepalive,
  type KeepaliveOptions,
  type StateChange,
} from '@microcheckpoint/keepalive';
import { type Channel, connect } from '@microcheckpoint/transport-tcp';
import { type Arbiter, type ArbiterGrant, grantIsValid } from './arbiter/contract.js';
import type { Capture } from './capture.js';
import {
  DEFAULT_ARBITER_TTL_MS,
  DEFAULT_ATTACH_TIMEOUT_MS,
  DEFAULT_ENGINE_CLOSE_TIMEOUT_MS,
  DEFAULT_EPOCH_MS,
  DEFAULT_IDLE_CHECKPOINT_MS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_SYNC_PASSES,
  DEFAULT_MIN_EPOCH_MS,
  DEFAULT_SYNC_CONVERGE_PAGES,
  DEFAULT_WORKLOAD_SOURCE,
  POLICY_CHECKS_PER_EPOCH,
  SHORTEN_EPOCH_FRACTION,
  STAGING_SLAB_COUNT,
  SYNC_NON_CONVERGENCE_RATIO,
  THROTTLE_MAX_PERCENT,
} from './constants.js';
import { type MessageChannel, receiveMessage, sendAll, sendMessage, waitForDrain } from './engine/channel.js';
import {
  arbiterOption,
  corkStatus,
  type EngineChannelOptions,
  type EngineKeepaliveOptions,
  type EngineStatus,
  numberOption,
  passThrough,
  peerStatus,
  stringOption,
} from './engine/common.js';
import { GrantLease } from './engine/grant-lease.js';
import {
  configuredSecurityMode,
  engineKeepaliveOptions,
  heartbeatPeer,
} from './engine/heartbeat-security.js';
import { elapsedMs, RateMeter, SampleWindow } from './engine/metrics.js';
import { OutputPath } from './engine/output-path.js';
import { type PolicyEvent, PolicyRunner, type PolicyStatus } from './engine/policy-runner.js';
import { connectRdmaSim, maxPageFrameBytes, type RdmaSimTransportOptions } from './engine/rdma-sim-link.js';
import { type SurvivorHandoff, survivorHandoff } from './engine/reprotect.js';
import type { SwitchoverEvent } from './engine/switchover.js';
import { type EngineTransportOptions, transportOption } from './engine/transport-option.js';
import {
  ArbitrationLostError,
  AttachError,
  CheckpointTooLargeError,
  EngineStateError,
  InvalidOptionError,
  PeerErrorReport,
  PeerLostError,
  StaleTokenError,
  SwitchoverError,
} from './errors.js';
import type { Guest, OutputSink } from './guests/contract.js';
import type { CheckpointPolicy } from './policy/contract.js';
import { defaultPolicy } from './policy/default-policy.js';
import { type CapturedRun, checkpointMessages, pageMessages } from './protocol/checkpoint-messages.js';
import {
  GOODBYE_REASONS,
  type HelloMessage,
  type McMessage,
  PROTOCOL_VERSION,
  ROLES,
} from './protocol/messages.js';
import {
  FieldRangeError,
  HandshakeError,
  ProtocolError,
  UnexpectedMessageError,
} from './protocol/protocol-errors.js';

/** Where the secondary listens for its primary. */
export interface PeerAddressOption {
  /** @default '127.0.0.1' */
  host?: string;
  port: number;
}

/** Options of `createPrimary()`. */
export interface PrimaryOptions {
  /** The protected workload. Its memory is what checkpoints carry. Required. */
  guest: Guest;
  /**
   * Where released output goes: the application's real sink (a socket writer, for a service). The
   * engine installs its cork queue as the guest's output and calls this for each item once the
   * checkpoint covering it is acknowledged. Required.
   */
  output: OutputSink;
  /** The secondary's data-channel address (see `Secondary.start()`). Required. */
  secondary: PeerAddressOption;
  /** Decides who may act alone when the two lose each other. Required. */
  arbiter: Arbiter;
  /**
   * Stable identity of this node, given to the arbiter and in HELLO.
   * @default `primary-<hostname>-<pid>`
   */
  nodeId?: string;
  /**
   * Epoch length: a checkpoint every `epochMs` milliseconds (sooner when the policy shortens the
   * epoch, later when the previous checkpoint is still in flight).
   * @default 20
   */
  epochMs?: number;
  /**
   * When the guest runs out of work (its request queue empties, see the guest's `'idle'` event) while
   * output of the running epoch waits, the checkpoint is taken after this many milliseconds of
   * idleness instead of at the epoch's end: replies then wait for a checkpoint's round trip, not an
   * epoch. `null` turns it off (epochs end on the timer and the policy alone). Guests that never say
   * they are idle (workers) are unaffected.
   * @default 1
   */
  idleCheckpointMs?: number | null;
  /**
   * The shortest epoch an idle-output checkpoint cuts, milliseconds: bounds the checkpoint rate (and
   * so the share of time the guest stands paused) under request-response load.
   * @default 2
   */
  minEpochMs?: number;
  /**
   * The checkpoint policy, asked every `policyIntervalMs` while protected (see `CheckpointPolicy`).
   * Whatever it decides, no checkpoint larger than the secondary's budget is ever shipped.
   * @default defaultPolicy
   */
  policy?: CheckpointPolicy;
  /**
   * How often the policy is asked, ms.
   * @default max(1, floor(epochMs / 10))
   */
  policyIntervalMs?: number;
  /**
   * Page data per CKPT_PAGES / SYNC_PAGES message, bytes.
   * @default 1048576
   */
  maxMessageBytes?: number;
  /**
   * Live sync passes after which, if the sync still does not converge and the throttle is at its cap
   * (or the guest has no throttle), the last pass runs with the guest paused (stop-and-copy). A pass
   * that does not converge throttles the guest one step up first. At most twice this many passes.
   * @default 8
   */
  maxSyncPasses?: number;
  /**
   * A live sync pass that carried at most this many pages is the last one: the first checkpoint,
   * with the guest paused, carries what was dirtied during it.
   * @default 256
   */
  syncConvergePages?: number;
  /**
   * How long `start()` keeps trying to connect to the secondary and finish the HELLO exchange, ms.
   * @default 10000
   */
  attachTimeoutMs?: number;
  /**
   * Lease asked of the arbiter when this node must act alone, ms; renewed every third of it.
   * @default 5000
   */
  arbiterTtlMs?: number;
  /**
   * The arbitration generation this primary starts under (it acquires it once at start to get its
   * fencing token). A takeover asks for the next one.
   * @default 1
   */
  generation?: number;
  /**
   * How long `close()` waits for the last checkpoint's ACK and the secondary's goodbye, ms.
   * @default 2000
   */
  closeTimeoutMs?: number;
  /**
   * Name of the workload stamped on its output items (io-cork `source`); the same on both nodes.
   * @default 'workload'
   */
  source?: string;
  /** Cork queue bounds (io-cork options other than `source` and `generation`). */
  cork?: Omit<CorkQueueOptions, 'source' | 'generation'>;
  /** Keepalive settings (detector and local heartbeat socket). */
  keepalive?: EngineKeepaliveOptions;
  /** Data channel settings (transport-tcp channel options; the control channel under rdma-sim). */
  channel?: EngineChannelOptions;
  /**
   * Which transport carries checkpoints; the secondary must use the same kind.
   * @default { kind: 'tcp' }
   */
  transport?: EngineTransportOptions;
}

/**
 * - `idle`: created, `start()` not called.
 * - `attaching`: connecting to the secondary and exchanging HELLO.
 * - `syncing`: live sync passes; output is corked from here on.
 * - `protected`: the epoch loop runs; output leaves on ACK.
 * - `arbitrating`: the secondary was lost; output stays corked until the arbiter answers.
 * - `unprotected`: won arbitration; output is released at once (no secondary).
 * - `deposed`: lost arbitration (or the grant); the guest is paused and output stays corked for good.
 * - `handing-over`: `switchover()` drained its last checkpoint and sent HANDOVER; awaiting the reply.
 * - `handed-over`: the secondary took the workload over (a `switchover()`, or the policy decided
 *   `failover`: the last checkpoint was acknowledged and this node went silent); this guest stays
 *   paused, nothing leaves here.
 * - `reprotected`: the `Primary` from `protect()` drives the workload now.
 * - `closed`: `close()` finished.
 */
export type PrimaryState =
  | 'idle'
  | 'attaching'
  | 'syncing'
  | 'protected'
  | 'arbitrating'
  | 'unprotected'
  | 'deposed'
  | 'handing-over'
  | 'handed-over'
  | 'reprotected'
  | 'closed';

/** A checkpoint the secondary acknowledged. */
export interface CheckpointEvent {
  epoch: number;
  pageCount: number;
  /** Page data bytes. */
  bytes: number;
  /** Output items the checkpoint carried (released now). */
  outputItems: number;
  /** Time the guest was paused for this checkpoint, ms. */
  pauseMs: number;
  /** From the end of the pause to the ACK, ms. */
  shipMs: number;
}

/** One message of a checkpoint handed to the channel (for tracing and fault injection in tests). */
export interface ShippingEvent {
  epoch: number;
  kind: McMessage['kind'];
  index: number;
  count: number;
}

/** Events of a Primary. */
export interface PrimaryEvents {
  state: [state: PrimaryState, previous: PrimaryState];
  /** A live sync pass was acknowledged. */
  sync: [info: { pass: number; pages: number; zeroPagesSkipped: number; final: boolean }];
  checkpoint: [event: CheckpointEvent];
  shipping: [event: ShippingEvent];
  /**
   * Checkpoint `epoch` was captured and the guest is still paused: guest memory is exactly what the
   * checkpoint carries until the listener returns. A listener lengthens the pause; for tests and tools.
   */
  capture: [event: { epoch: number; pageCount: number }];
  /** The secondary was lost (data channel, keepalive); arbitration follows. */
  'peer-lost': [error: Error];
  /** The keepalive's view of the secondary changed. */
  peer: [change: StateChange];
  /**
   * The decision changed, or who took it (the policy, or the engine's sync or budget rule): see
   * `PolicyEvent`.
   * Emitted before the decision is applied.
   */
  policy: [event: PolicyEvent];
  /** Something failed that the engine handled (a guest that would not pause, a refused checkpoint). */
  error: [error: Error];
  /** A planned switchover finished: the secondary accepted the handover. */
  switchover: [event: SwitchoverEvent];
}

/** Status of a primary. */
export interface PrimaryStatus extends EngineStatus {
  role: 'primary';
  state: PrimaryState;
  /** Live sync passes done. */
  syncPasses: number;
  /** Epochs stretched because the previous checkpoint was still in flight. */
  stretchedEpochs: number;
  /** Checkpoints taken early by the policy (dirty pages near the secondary's limit, cork backpressure). */
  shortenedEpochs: number;
  /** Checkpoints taken early because the guest went idle with output waiting (`idleCheckpointMs`). */
  idleCheckpoints: number;
  /** Output refused at the cork queue's hard cap (lost; never released). */
  refusedOutputs: number;
  /** The planned switchover, once done (its timings); null before. */
  switchover: SwitchoverEvent | null;
  /** The policy: last decision, throttle, dirty and link rates, budget (see `PolicyStatus`). */
  policy: PolicyStatus;
}

/** The protecting side: runs the guest's epochs and ships checkpoints to the secondary. */
export interface Primary {
  readonly state: PrimaryState;
  /**
   * Connects to the secondary, exchanges HELLO, runs the live sync and the first checkpoint.
   * Resolves once the first checkpoint is acknowledged (state `protected`). Rejects with
   * `AttachError`, `HandshakeError` (from the protocol) or `PeerLostError` if protection could not
   * be established; after a loss during sync the engine still arbitrates (see `state`). After an
   * `AttachError` or `HandshakeError` the state is `idle` again and `start()` may be called again,
   * under the generation and token the first attempt won.
   */
  start(): Promise<void>;
  /** Takes a checkpoint now instead of at the end of the epoch. Resolves when it is acknowledged. */
  checkpoint(): Promise<void>;
  /**
   * Planned handover to the secondary (maintenance), with zero lost output: the guest is stopped at
   * the capture of a last checkpoint, which is shipped and acknowledged (its output released here),
   * then a HANDOVER message tells the secondary to take over at once, without waiting for its
   * failure detector. The secondary asks the arbiter for the next generation (this node holds no
   * grant while protected) and re-emits the last checkpoint's output, which receivers drop as
   * duplicates. Everything the guest output before the call is released here; everything after is
   * the secondary's. Only in state `protected`. Resolves when the secondary accepted (state
   * `handed-over`); rejects with `SwitchoverError` when it did not confirm within `closeTimeoutMs`
   * after the last ACK, or `PeerLostError` when the secondary was lost before the last ACK (then the
   * engine arbitrates as for any loss). The guest stays paused in every case once the last
   * checkpoint was captured.
   */
  switchover(): Promise<SwitchoverEvent>;
  /**
   * Protects this node again after it lost its secondary and won arbitration (state `unprotected`),
   * exactly like `Secondary.protect()`: returns a new `Primary` (not started) over this node's guest,
   * output sink, arbiter and counters (output seq, epochs, generation, fencing token), syncing to the
   * secondary at `options.secondary`. This primary becomes `reprotected` once the new one took the
   * workload over; a failed attach leaves it `unprotected`, serving alone.
   */
  protect(options: ProtectOptions): Primary;
  status(): PrimaryStatus;
  /**
   * Ends protection: a last checkpoint releases what is corked, a GOODBYE tells the secondary not to
   * take over, then the channel and keepalive close. The guest keeps running, its output going
   * straight to `output`. Idempotent.
   */
  close(): Promise<void>;
  on<E extends keyof PrimaryEvents>(event: E, listener: (...args: PrimaryEvents[E]) => void): this;
  once<E extends keyof PrimaryEvents>(event: E, listener: (...args: PrimaryEvents[E]) => void): this;
  off<E extends keyof PrimaryEvents>(event: E, listener: (...args: PrimaryEvents[E]) => void): this;
}

interface InFlight {
  epoch: number;
  captures: Capture[];
  pageCount: number;
  bytes: number;
  outputItems: number;
  pauseMs: number;
  shippedAt: bigint;
}

interface Resolved {
  guest: Guest;
  output: OutputSink;
  host: string;
  port: number;
  arbiter: Arbiter;
  nodeId: string;
  epochMs: number;
  idleCheckpointMs: number | null;
  minEpochMs: number;
  policy: CheckpointPolicy;
  policyIntervalMs: number;
  maxMessageBytes: number;
  maxSyncPasses: number;
  syncConvergePages: number;
  attachTimeoutMs: number;
  arbiterTtlMs: number;
  generation: number;
  closeTimeoutMs: number;
  source: string;
  cork: Omit<CorkQueueOptions, 'source' | 'generation'>;
  keepalive: EngineKeepaliveOptions;
  channel: EngineChannelOptions;
  transport: EngineTransportOptions;
}

function resolveOptions(options: PrimaryOptions): Resolved {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError('options', 'must be an object');
  const guest = options.guest as Guest | undefined;
  if (
    guest === null ||
    typeof guest !== 'object' ||
    typeof guest.pause !== 'function' ||
    typeof guest.setOutput !== 'function' ||
    guest.memory === undefined
  ) {
    throw new InvalidOptionError('guest', 'must be a Guest (createInProcessGuest, createWorkerGuest)');
  }
  if (typeof options.output !== 'function') throw new InvalidOptionError('output', 'must be a function');
  const secondary = options.secondary as PeerAddressOption | undefined;
  if (secondary === null || typeof secondary !== 'object')
    throw new InvalidOptionError('secondary', 'must be { host?, port }');
  const port = numberOption('secondary.port', secondary.port, Number.NaN, 1, 65535);
  if (Number.isNaN(port)) throw new InvalidOptionError('secondary.port', 'is required');
  const maxMessageBytes = numberOption(
    'maxMessageBytes',
    options.maxMessageBytes,
    DEFAULT_MAX_MESSAGE_BYTES,
    guest.memory.pageSizeBytes,
    64 * 1024 * 1024 - 65536,
  );
  if (options.policy !== undefined && typeof options.policy !== 'function')
    throw new InvalidOptionError('policy', 'must be a function (input) => decision');
  const epochMs = numberOption('epochMs', options.epochMs, DEFAULT_EPOCH_MS, 1, 3_600_000);
  const idleCheckpointMs =
    options.idleCheckpointMs === null
      ? null
      : numberOption(
          'idleCheckpointMs',
          options.idleCheckpointMs,
          DEFAULT_IDLE_CHECKPOINT_MS,
          0,
          3_600_000,
          true,
        );
  const minEpochMs = numberOption('minEpochMs', options.minEpochMs, DEFAULT_MIN_EPOCH_MS, 0, 3_600_000, true);
  return {
    idleCheckpointMs,
    minEpochMs,
    guest,
    output: options.output,
    host: stringOption('secondary.host', secondary.host, '127.0.0.1'),
    port,
    arbiter: arbiterOption(options.arbiter),
    nodeId: stringOption('nodeId', options.nodeId, `primary-${hostname()}-${process.pid}`),
    epochMs,
    policy: options.policy ?? defaultPolicy,
    policyIntervalMs: numberOption(
      'policyIntervalMs',
      options.policyIntervalMs,
      Math.max(1, Math.floor(epochMs / POLICY_CHECKS_PER_EPOCH)),
      1,
      3_600_000,
    ),
    maxMessageBytes,
    maxSyncPasses: numberOption('maxSyncPasses', options.maxSyncPasses, DEFAULT_MAX_SYNC_PASSES, 1, 1000),
    syncConvergePages: numberOption(
      'syncConvergePages',
      options.syncConvergePages,
      DEFAULT_SYNC_CONVERGE_PAGES,
      0,
    ),
    attachTimeoutMs: numberOption('attachTimeoutMs', options.attachTimeoutMs, DEFAULT_ATTACH_TIMEOUT_MS, 1),
    arbiterTtlMs: numberOption('arbiterTtlMs', options.arbiterTtlMs, DEFAULT_ARBITER_TTL_MS, 10),
    generation: numberOption('generation', options.generation, 1, 1),
    closeTimeoutMs: numberOption(
      'closeTimeoutMs',
      options.closeTimeoutMs,
      DEFAULT_ENGINE_CLOSE_TIMEOUT_MS,
      0,
    ),
    source: stringOption('source', options.source, DEFAULT_WORKLOAD_SOURCE),
    cork: passThrough('cork', options.cork),
    keepalive: passThrough('keepalive', options.keepalive),
    channel: passThrough('channel', options.channel),
    transport: transportOption(options.transport),
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class PrimaryEngine extends EventEmitter implements Primary {
  readonly #o: Resolved;
  readonly #memory: Guest['memory'];
  readonly #path: OutputPath;
  #state: PrimaryState = 'idle';
  #channel: MessageChannel | null = null;
  #keepaliveOptions: KeepaliveOptions | null = null;
  #keepalive: Keepalive | null = null;
  #peerHello: HelloMessage | null = null;
  #token = 0;
  #generation: number;
  #lease: GrantLease | null = null;
  /** The epoch running now: its output is corked under this number, its writes go into checkpoint #epoch. */
  #epoch = 1;
  #acked = 0;
  #inFlight: InFlight[] = [];
  #maxInFlight = 1;
  #maxCheckpointBytes = 0;
  /**
   * After a lowered BUDGET, the epoch that was running when it arrived (and any before it) may still
   * be shipped under the budget before: its pages were dirtied under it, and the secondary accepts it
   * (see BudgetSchedule). Later epochs get the new one, which the guest's dirty quota already follows.
   */
  #budgetGrace: { bytes: number; throughEpoch: number } | null = null;
  #capturing = false;
  #pendingTick = false;
  #epochTimer: NodeJS.Timeout | null = null;
  readonly #runner: PolicyRunner;
  /** Bytes of a capture held back by the budget rule (the guest waits, paused); 0 normally. */
  #blockedBytes = 0;
  /** The guest must stay paused after a capture (stop-and-copy sync pass, hand-over). */
  #holdGuest = false;
  #handingOver = false;
  #epochStartedAt = process.hrtime.bigint();
  #syncPasses = 0;
  #syncWaiter: { pass: number; resolve: () => void; reject: (e: Error) => void } | null = null;
  #helloWaiter: { resolve: (h: HelloMessage) => void; reject: (e: Error) => void } | null = null;
  #firstCheckpoint: { resolve: () => void; reject: (e: Error) => void } | null = null;
  #goodbyeWaiter: (() => void) | null = null;
  #handoverWaiter: ((accepted: boolean) => void) | null = null;
  #ackWaiters: Array<{ epoch: number; resolve: () => void; reject: (e: Error) => void }> = [];
  #lostHandled = false;
  readonly #pause = new SampleWindow();
  readonly #sizes = new SampleWindow();
  readonly #rate = new RateMeter();
  #stretched = 0;
  #shortened = 0;
  #idleCheckpoints = 0;
  #idleTimer: NodeJS.Timeout | null = null;
  /** `OutputPath.appended` when the running epoch opened: more means its output waits. */
  #appendedAtEpochStart = 0;
  readonly #onGuestIdle = () => this.#armIdleCheckpoint();
  /** Set when this primary protects a node that ran alone (re-protection). */
  readonly #resume: SurvivorHandoff | null;
  /** `switchover()` runs: the next capture is the last and leaves the guest paused. */
  #handover = false;
  #finalCaptured = false;
  #switchover: SwitchoverEvent | null = null;
  #protector: Primary | null = null;

  constructor(options: PrimaryOptions, resume: SurvivorHandoff | null = null) {
    super();
    this.#o = resolveOptions(options);
    this.#memory = this.#o.guest.memory;
    this.#generation = this.#o.generation;
    this.#resume = resume;
    if (resume !== null) this.#token = resume.fencingToken;
    const cork = resume?.cork ?? createCorkQueue({ ...this.#o.cork, source: this.#o.source });
    this.#path = new OutputPath(cork, this.#o.output);
    this.#path.onPressure = () => this.#shorten();
    this.#runner = new PolicyRunner(
      {
        memory: this.#memory,
        guest: this.#o.guest,
        epochMs: this.#o.epochMs,
        budgetBytes: () => this.#maxCheckpointBytes,
        busy: () =>
          this.#state !== 'protected' || this.#capturing || this.#handingOver || this.#blockedBytes > 0,
        canCheckpointNow: () => this.#inFlight.length < this.#maxInFlight,
        inFlight: () => {
          let bytes = 0;
          for (const f of this.#inFlight) bytes += f.bytes;
          const oldest = this.#inFlight[0];
          return { bytes, sinceShippedMs: oldest ? elapsedMs(oldest.shippedAt) : 0 };
        },
        epochElapsedMs: () => elapsedMs(this.#epochStartedAt),
        shorten: () => this.#shorten(),
        pauseUntilCheckpoint: () => this.#pauseUntilCheckpoint(),
        failover: (reason) => void this.#handOver(reason),
        report: (err) => this.#report(err),
        emit: (event) => this.emit('policy', event),
      },
      this.#o.policy,
      this.#o.policyIntervalMs,
    );
  }

  get state(): PrimaryState {
    return this.#state;
  }

  #setState(next: PrimaryState): void {
    if (next === this.#state) return;
    const previous = this.#state;
    this.#state = next;
    this.emit('state', next, previous);
  }

  #report(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new EngineStateError(`start() in state ${this.#state}`);
    this.#setState('attaching');
    const o = this.#o;
    const resume = this.#resume;
    if (resume === null) {
      // The token is minted once: a start() retried after a failed attach keeps it, since the
      // arbiter grants a generation only once and no secondary committed anything under it.
      if (this.#token === 0) await this.#mintToken();
    } else {
      // Re-protection: the survivor's counters go on; HELLO announces the epoch the sync ends in.
      this.#epoch = resume.begin(this.#path.append);
    }

    const keepaliveOptions = engineKeepaliveOptions('primary', o.nodeId, o.keepalive, o.channel);
    this.#keepaliveOptions = keepaliveOptions;
    const keepalive = createKeepalive(keepaliveOptions);
    this.#keepalive = keepalive;
    const heartbeat = await keepalive.start();
    keepalive.on('change', (change) => this.emit('peer', change));
    keepalive.on('dead', (change) =>
      this.#lose(new PeerLostError(`keepalive convicted the secondary (${change.reason})`)),
    );
    keepalive.on('error', (err) => this.#report(err));

    try {
      await this.#attach(heartbeat.port);
    } catch (err) {
      await this.#teardownTransport();
      resume?.rollback();
      this.#setState('idle');
      throw err;
    }

    if (resume === null) {
      // From here every output of the guest is corked: epoch 1 collects it until the first checkpoint.
      this.#path.cork.open(this.#epoch);
      o.guest.setOutput(this.#path.append);
    } else {
      // The survivor stops acting alone: its output stays corked until the new secondary ACKs, and
      // its grant goes back to the arbiter so the new secondary can win the next generation at once.
      const held = resume.commit();
      if (held === null) {
        this.#depose();
        throw new ArbitrationLostError(this.#generation + 1);
      }
      await o.arbiter.release(held).catch((err: Error) => this.#report(err));
    }
    // The quota keeps even the first checkpoint (what the last sync pass leaves dirty) in the budget.
    this.#runner.applyDirtyQuota();
    o.guest.on('idle', this.#onGuestIdle);
    this.#setState('syncing');
    const protectedNow = new Promise<void>((resolve, reject) => {
      this.#firstCheckpoint = { resolve, reject };
    });
    // Handled below; this keeps a loss during sync from being an unhandled rejection meanwhile.
    protectedNow.catch(() => undefined);
    try {
      await this.#sync();
    } catch (err) {
      this.#lose(err as Error);
    }
    // A stop-and-copy pass left the guest paused: the first checkpoint's capture resumes it.
    this.#holdGuest = false;
    if ((this.#state as PrimaryState) === 'syncing') void this.#tick();
    await protectedNow;
  }

  /**
   * Wins the configured generation to mint this protection's fencing token, and gives the grant
   * back at once: while protected, neither node acts alone, so whichever survives a failure can take
   * the next generation without waiting out a lease.
   */
  async #mintToken(): Promise<void> {
    const o = this.#o;
    const grant = await o.arbiter.acquire({
      generation: o.generation,
      node: o.nodeId,
      ttlMs: o.arbiterTtlMs,
    });
    if (grant === null) {
      this.#setState('deposed');
      throw new ArbitrationLostError(o.generation);
    }
    await o.arbiter.release(grant);
    this.#token = grant.token;
    this.#generation = grant.generation;
    this.#path.cork.setGeneration(this.#token);
  }

  async #attach(heartbeatPort: number): Promise<void> {
    const o = this.#o;
    const deadline = performance.now() + o.attachTimeoutMs;
    let lastError: unknown;
    let channel: Channel | null = null;
    while (channel === null) {
      const left = deadline - performance.now();
      if (left <= 0) throw new AttachError(`could not reach the secondary at ${o.host}:${o.port}`, lastError);
      try {
        channel = await connect({
          ...o.channel,
          host: o.host,
          port: o.port,
          connectTimeoutMs: Math.ceil(left),
        });
      } catch (err) {
        lastError = err;
        // A refused handshake (the peer's certificate or key does not match) will not get better by
        // retrying: say so now instead of at the attach deadline.
        const code = (err as { code?: unknown }).code;
        if (typeof code === 'string' && (code.startsWith('MC_ERR_TLS_') || code.startsWith('MC_ERR_AUTH_')))
          throw new AttachError(`the secondary at ${o.host}:${o.port} failed authentication (${code})`, err);
        await sleep(Math.min(100, Math.max(1, deadline - performance.now())));
      }
    }
    const ch =
      o.transport.kind === 'rdma-sim'
        ? await this.#overRdmaSim(channel as Channel & MessageChannel, o.transport, deadline)
        : (channel as Channel & MessageChannel);
    this.#channel = ch;
    ch.on('message', (m) => this.#onMessage(m));
    ch.on('close', (err) => this.#onChannelClose(err));
    const hello = new Promise<HelloMessage>((resolve, reject) => {
      this.#helloWaiter = { resolve, reject };
    });
    const timer = setTimeout(
      () => this.#helloWaiter?.reject(new AttachError('the secondary did not answer HELLO in time')),
      Math.max(1, deadline - performance.now()),
    );
    sendMessage(ch, {
      kind: 'HELLO',
      protocolVersion: PROTOCOL_VERSION,
      role: ROLES.primary,
      capabilities: 0,
      pageSize: this.#memory.pageSizeBytes,
      pageCount: this.#memory.pageCount,
      memoryBudgetBytes: 0,
      maxCheckpointBytes: 0,
      maxInFlight: STAGING_SLAB_COUNT,
      fencingToken: this.#token,
      committedEpoch: this.#epoch - 1,
      generation: this.#generation,
      heartbeatPort,
      nodeId: o.nodeId,
    });
    let peer: HelloMessage;
    try {
      peer = await hello;
    } finally {
      clearTimeout(timer);
      this.#helloWaiter = null;
    }
    this.#checkHello(peer);
    this.#peerHello = peer;
    this.#maxInFlight = Math.min(peer.maxInFlight, STAGING_SLAB_COUNT);
    this.#maxCheckpointBytes = peer.maxCheckpointBytes;
    if (peer.heartbeatPort !== 0) {
      this.#keepalive?.setPeer(heartbeatPeer(this.#keepaliveOptions!, ch, peer.heartbeatPort, peer.nodeId));
    }
  }

  #checkHello(peer: HelloMessage): void {
    const m = this.#memory;
    if (peer.protocolVersion !== PROTOCOL_VERSION)
      throw new HandshakeError(
        `the secondary speaks protocol ${peer.protocolVersion}, this node ${PROTOCOL_VERSION}`,
      );
    if (peer.role !== ROLES.secondary)
      throw new HandshakeError(`the peer is not a secondary (role ${peer.role})`);
    if (peer.pageSize !== m.pageSizeBytes || peer.pageCount !== m.pageCount) {
      throw new HandshakeError(
        `the secondary holds ${peer.pageCount} pages of ${peer.pageSize} bytes; the guest has ${m.pageCount} of ${m.pageSizeBytes}`,
      );
    }
    if (peer.fencingToken > this.#token)
      throw new HandshakeError(
        `the secondary has seen token ${peer.fencingToken}; this node holds ${this.#token}`,
      );
    if (peer.committedEpoch !== 0)
      throw new HandshakeError(`the secondary already holds epoch ${peer.committedEpoch} of another session`);
    if (peer.maxInFlight < 1) throw new HandshakeError('the secondary allows no checkpoint in flight');
    if (peer.maxCheckpointBytes < m.pageSizeBytes)
      throw new HandshakeError(
        `the secondary accepts checkpoints of ${peer.maxCheckpointBytes} bytes, under one page`,
      );
  }

  /**
   * Live sync: whole memory, then what was dirtied meanwhile, until a pass is small (at most
   * `syncConvergePages`, and under half the budget, since the first checkpoint carries what the last
   * pass leaves dirty). A pass that does not converge throttles the guest one step up; once that cannot
   * help any more, the last pass runs with the guest paused.
   */
  async #sync(): Promise<void> {
    const o = this.#o;
    const m = this.#memory;
    m.markDirty(0, m.sizeBytes);
    let previousPages = 0;
    for (let pass = 1; ; pass++) {
      if (this.#state !== 'syncing') throw new PeerLostError('the secondary was lost during sync');
      if (!this.#holdGuest && pass > o.maxSyncPasses && this.#stopAndCopyDue(pass))
        await this.#holdForSync(pass);
      const capture = m.capture();
      // The dirty log is empty again: a guest waiting on its quota goes on.
      this.#runner.applyDirtyQuota();
      try {
        const runs = capturedRuns(capture);
        // Pages the store has never seen are zero there: a first pass leaves zero pages out.
        const pages = pageMessages('SYNC_PAGES', pass, runs, m.pageSizeBytes, o.maxMessageBytes, pass === 1);
        const smallPages = Math.min(
          o.syncConvergePages,
          Math.floor((this.#maxCheckpointBytes * SHORTEN_EPOCH_FRACTION) / m.pageSizeBytes),
        );
        const final = capture.complete && (pages.pageCount <= smallPages || this.#holdGuest);
        const acked = new Promise<void>((resolve, reject) => {
          this.#syncWaiter = { pass, resolve, reject };
        });
        // Awaited below; a loss while the pass is still being sent must not go unhandled meanwhile.
        acked.catch(() => undefined);
        const channel = this.#requireChannel();
        await sendAll(channel, [
          { kind: 'SYNC_BEGIN', pass, fencingToken: this.#token, pageCount: pages.pageCount },
          ...pages.messages,
          { kind: 'SYNC_END', pass, final: final ? 1 : 0, pagesSent: pages.pageCount },
        ]);
        await acked;
        this.#syncPasses = pass;
        this.emit('sync', { pass, pages: pages.pageCount, zeroPagesSkipped: pages.zeroPagesSkipped, final });
        if (final) return;
        if (pass >= 2 && pages.pageCount > previousPages * SYNC_NON_CONVERGENCE_RATIO)
          this.#runner.syncThrottleUp(pages.pageCount, previousPages);
        previousPages = pages.pageCount;
      } finally {
        this.#syncWaiter = null;
        capture.release();
      }
    }
  }

  /** Sets up the one-sided page path on the freshly connected control channel. */
  async #overRdmaSim(
    control: Channel & MessageChannel,
    transport: RdmaSimTransportOptions,
    deadline: number,
  ): Promise<MessageChannel> {
    const guestBuffer = this.#memory.bytes.buffer;
    try {
      if (!(guestBuffer instanceof SharedArrayBuffer))
        throw new AttachError('the rdma-sim transport needs guest memory in a SharedArrayBuffer');
      return await connectRdmaSim(control, {
        transport,
        guestBuffer,
        maxFrameBytes: maxPageFrameBytes(this.#o.maxMessageBytes, this.#memory.pageSizeBytes),
        timeoutMs: Math.max(1, Math.ceil(deadline - performance.now())),
      });
    } catch (err) {
      control.destroy();
      throw err instanceof AttachError ? err : new AttachError('could not set up the RDMA link', err);
    }
  }

  /** The largest checkpoint the secondary accepts for `epoch`, bytes. */
  #budgetFor(epoch: number): number {
    const grace = this.#budgetGrace;
    if (grace === null || epoch > grace.throughEpoch) return this.#maxCheckpointBytes;
    return Math.max(grace.bytes, this.#maxCheckpointBytes);
  }

  /** Whether throttling cannot make the sync converge any more (at the cap, or no throttle). */
  #stopAndCopyDue(pass: number): boolean {
    return (
      this.#runner.throttlePercent >= THROTTLE_MAX_PERCENT ||
      typeof this.#o.guest.throttle !== 'function' ||
      pass > 2 * this.#o.maxSyncPasses
    );
  }

  /** Pauses the guest for a last sync pass (stop-and-copy); it resumes after the first checkpoint's capture. */
  async #holdForSync(pass: number): Promise<void> {
    try {
      await this.#o.guest.pause();
    } catch (err) {
      // It would not pause in time: go on with live passes.
      this.#report(err as Error);
      return;
    }
    this.#holdGuest = true;
    this.#runner.recordEngineDecision(
      { kind: 'pause', reason: `the sync does not converge: pass ${pass} runs with the guest paused` },
      'sync',
    );
  }

  #requireChannel(): MessageChannel {
    const channel = this.#channel;
    if (channel === null || channel.closed) throw new PeerLostError('the data channel is closed');
    return channel;
  }

  #onMessage(frame: { type: number; payload: Uint8Array }): void {
    this.#keepalive?.evidenceOfLife('bytes');
    let message: McMessage;
    try {
      message = receiveMessage(frame);
      this.#handle(message);
    } catch (err) {
      this.#violation(err as Error);
    }
  }

  #handle(message: McMessage): void {
    switch (message.kind) {
      case 'HELLO':
        if (this.#helloWaiter === null) throw new UnexpectedMessageError('a second HELLO');
        this.#helloWaiter.resolve(message);
        return;
      case 'SYNC_ACK': {
        const waiter = this.#syncWaiter;
        if (waiter === null || waiter.pass !== message.pass)
          throw new UnexpectedMessageError(`SYNC_ACK of pass ${message.pass} is not awaited`);
        waiter.resolve();
        return;
      }
      case 'ACK':
        this.#onAck(message.epoch, message.fencingToken);
        return;
      case 'NACK':
        throw new PeerErrorReport(`NACK ${message.reason}`, `checkpoint ${message.epoch}: ${message.detail}`);
      case 'ERROR':
        if (this.#helloWaiter !== null && message.code === 'MC_ERR_PROTOCOL_HANDSHAKE') {
          this.#helloWaiter.reject(
            new HandshakeError(`the secondary refused the session: ${message.detail}`),
          );
          return;
        }
        throw new PeerErrorReport(message.code, message.detail);
      case 'GOODBYE':
        if (this.#handoverWaiter && message.reason === GOODBYE_REASONS.handoverAccepted) {
          this.#handoverWaiter(true);
          return;
        }
        if (this.#goodbyeWaiter) {
          this.#goodbyeWaiter();
          return;
        }
        throw new PeerLostError(`the secondary said goodbye: ${message.detail}`);
      case 'BUDGET':
        if (message.maxCheckpointBytes < this.#memory.pageSizeBytes)
          throw new FieldRangeError(
            'BUDGET maxCheckpointBytes',
            message.maxCheckpointBytes,
            `one page (${this.#memory.pageSizeBytes} bytes) and up`,
          );
        {
          const before = this.#budgetFor(this.#epoch);
          if (message.maxCheckpointBytes < before)
            this.#budgetGrace = { bytes: before, throughEpoch: this.#epoch };
        }
        this.#maxCheckpointBytes = message.maxCheckpointBytes;
        if (this.#state === 'syncing' || this.#state === 'protected') this.#runner.applyDirtyQuota();
        if (this.#blockedBytes > 0 && this.#blockedBytes <= this.#budgetFor(this.#epoch)) {
          // The capture held back fits now: take it again (the guest is still paused).
          this.#blockedBytes = 0;
          void this.#tick();
        }
        return;
      default:
        throw new UnexpectedMessageError(`${message.kind} is not sent to a primary`);
    }
  }

  #violation(error: Error): void {
    // During HELLO the attach fails with it (start() rejects); later the session is lost.
    this.#helloWaiter?.reject(error);
    const channel = this.#channel;
    if (channel && !channel.closed) {
      if (error instanceof ProtocolError) {
        try {
          sendMessage(channel, { kind: 'ERROR', code: error.code, detail: error.message.slice(0, 1000) });
        } catch {
          // The channel is failing anyway.
        }
      }
      channel.destroy();
    }
    this.#lose(error);
  }

  #onChannelClose(error: Error | undefined): void {
    if (this.#channel === null) return;
    this.#keepalive?.dataChannelLost(error ? 'reset' : 'eof');
    this.#helloWaiter?.reject(new AttachError('the secondary closed the connection during HELLO', error));
    this.#syncWaiter?.reject(new PeerLostError('the data channel closed during sync', error));
    this.#goodbyeWaiter?.();
    this.#handoverWaiter?.(false);
    if (this.#state === 'syncing' || this.#state === 'protected')
      this.#lose(new PeerLostError('the data channel to the secondary closed', error));
  }

  #onAck(epoch: number, token: number): void {
    const head = this.#inFlight[0];
    if (head === undefined || head.epoch !== epoch)
      throw new UnexpectedMessageError(
        `ACK ${epoch} does not match the oldest checkpoint in flight (${head?.epoch ?? 'none'})`,
      );
    if (token < this.#token) throw new StaleTokenError(`ACK ${epoch}`, token, this.#token);
    if (token !== this.#token)
      throw new UnexpectedMessageError(`ACK ${epoch} carries token ${token}, not ${this.#token}`);
    this.#inFlight.shift();
    for (const capture of head.captures) capture.release();
    // Exactly this epoch's ACK releases its output (and anything earlier, already released).
    this.#path.cork.release(epoch);
    this.#acked = epoch;
    this.#keepalive?.evidenceOfLife('ack');
    const shipMs = elapsedMs(head.shippedAt);
    this.#rate.add(head.bytes);
    this.#runner.onAck(head.bytes, shipMs);
    this.emit('checkpoint', {
      epoch,
      pageCount: head.pageCount,
      bytes: head.bytes,
      outputItems: head.outputItems,
      pauseMs: head.pauseMs,
      shipMs,
    });
    for (const waiter of this.#ackWaiters.filter((w) => w.epoch <= epoch)) waiter.resolve();
    this.#ackWaiters = this.#ackWaiters.filter((w) => w.epoch > epoch);
    if (this.#firstCheckpoint) {
      const first = this.#firstCheckpoint;
      this.#firstCheckpoint = null;
      this.#setState('protected');
      this.#startTimers();
      first.resolve();
    }
    if (this.#pendingTick) {
      this.#pendingTick = false;
      this.#stretched++;
      void this.#tick();
    }
  }

  #startTimers(): void {
    this.#scheduleEpoch();
    this.#runner.start();
  }

  #scheduleEpoch(): void {
    if (this.#epochTimer) clearTimeout(this.#epochTimer);
    const due = this.#o.epochMs - elapsedMs(this.#epochStartedAt);
    this.#epochTimer = setTimeout(
      () => {
        this.#epochTimer = null;
        void this.#tick();
      },
      Math.max(0, due),
    );
  }

  /**
   * The guest ran out of work. If output of the running epoch waits, checkpoint once it has stayed
   * idle `idleCheckpointMs` (and the epoch is at least `minEpochMs` old), instead of holding the
   * replies until the epoch timer: a request-response client would otherwise wait an epoch per reply.
   */
  #armIdleCheckpoint(): void {
    const o = this.#o;
    if (o.idleCheckpointMs === null || this.#idleTimer !== null || this.#state !== 'protected') return;
    if (this.#path.appended === this.#appendedAtEpochStart) return;
    const delay = Math.max(o.idleCheckpointMs, o.minEpochMs - elapsedMs(this.#epochStartedAt));
    if (delay >= o.epochMs - elapsedMs(this.#epochStartedAt)) return; // the timer comes first anyway
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = null;
      if (this.#state !== 'protected' || this.#capturing || this.#pendingTick) return;
      // Work arrived meanwhile: its end will say idle again.
      if ((o.guest.queuedRequests ?? 0) > 0) return;
      if (this.#path.appended === this.#appendedAtEpochStart) return;
      this.#idleCheckpoints++;
      void this.#tick();
    }, delay);
  }

  #shorten(): void {
    if (this.#state !== 'protected' || this.#capturing || this.#pendingTick) return;
    this.#shortened++;
    void this.#tick();
  }

  /** The policy's `pause`: the guest stops now and runs again once the next checkpoint is captured. */
  #pauseUntilCheckpoint(): void {
    this.#o.guest.pause().catch((err: Error) => this.#report(err));
    if (this.#capturing || this.#inFlight.length >= this.#maxInFlight) this.#pendingTick = true;
    else void this.#tick();
  }

  /**
   * The policy's `failover`: pause the guest, ship everything it did in one last checkpoint, and once
   * that is acknowledged (its output released) go silent without a GOODBYE, so that the secondary
   * convicts this node, wins arbitration and takes over from exactly that checkpoint. The guest stays
   * paused here for good.
   */
  /**
   * The policy decided `failover`: protection is at risk, so the workload goes to the secondary now,
   * as a planned switchover (last checkpoint, its ACK, HANDOVER): the secondary takes over at once
   * instead of waiting for its detector, and no acknowledged output is lost.
   */
  async #handOver(reason: string): Promise<void> {
    if (this.#state !== 'protected' || this.#handingOver) return;
    this.#handingOver = true;
    try {
      await this.switchover();
      // Loudly: this node no longer runs the workload.
      this.#report(new PeerLostError(`handed over to the secondary by the policy: ${reason}`));
    } catch (err) {
      this.#report(err as Error);
    } finally {
      this.#handingOver = false;
    }
  }

  /**
   * The engine's budget rule, whatever the policy decided: a capture larger than the budget is never
   * shipped. A checkpoint is atomic and cannot be split, so its pages are marked dirty again, the
   * guest stays paused (output corked), and the capture is retried when the secondary raises its
   * budget (or the node is closed).
   */
  #holdBack(runs: readonly CapturedRun[], captures: Capture[], bytes: number): void {
    const size = this.#memory.pageSizeBytes;
    for (const run of runs) this.#memory.markDirty(run.firstPage * size, run.pageCount * size);
    for (const capture of captures) capture.release();
    this.#blockedBytes = bytes;
    const budget = this.#budgetFor(this.#epoch);
    this.#runner.onBlocked(bytes, budget);
    this.#report(new CheckpointTooLargeError(this.#epoch, bytes, budget));
  }

  /** One epoch boundary: pause, capture, seal, resume, ship. */
  async #tick(): Promise<void> {
    const first = this.#state === 'syncing';
    if (this.#state !== 'protected' && !first) return;
    if (this.#capturing || this.#finalCaptured || this.#blockedBytes > 0) return;
    if (this.#inFlight.length >= this.#maxInFlight) {
      // Stretch: the next capture waits for the ACK that frees a slot.
      if (!this.#pendingTick) this.#runner.onStretch();
      this.#pendingTick = true;
      return;
    }
    this.#capturing = true;
    const guest = this.#o.guest;
    const started = process.hrtime.bigint();
    try {
      try {
        await guest.pause();
      } catch (err) {
        this.#report(err as Error);
        return;
      }
      if (this.#state !== 'protected' && this.#state !== 'syncing') {
        this.#resumeGuest();
        return;
      }
      let runs: CapturedRun[];
      let captures: Capture[];
      try {
        ({ runs, captures } = this.#captureAll());
      } catch (err) {
        this.#resumeGuest();
        this.#report(err as Error);
        return;
      }
      const epoch = this.#epoch;
      const pageCount = countPages(runs);
      const bytes = pageCount * this.#memory.pageSizeBytes;
      if (bytes > this.#budgetFor(epoch)) {
        this.#holdBack(runs, captures, bytes);
        return;
      }
      this.#runner.onCapture(bytes);
      if (this.listenerCount('capture') > 0) this.emit('capture', { epoch, pageCount });
      const cork = this.#path.cork;
      const batch = cork.seal(epoch);
      const serialized = cork.serialize(epoch);
      this.#epoch = epoch + 1;
      cork.open(this.#epoch);
      this.#appendedAtEpochStart = this.#path.appended;
      this.#epochStartedAt = started;
      this.#runner.applyDirtyQuota();
      // A switchover's last checkpoint: the guest stays paused, its next output is the secondary's.
      if (this.#handover) this.#finalCaptured = true;
      else this.#resumeGuest();
      const pauseMs = elapsedMs(started);
      this.#pause.add(pauseMs);
      this.#keepalive?.setEpoch(epoch);
      this.#sizes.add(bytes);
      const flight: InFlight = {
        epoch,
        captures,
        pageCount,
        bytes,
        outputItems: batch.items,
        pauseMs,
        shippedAt: process.hrtime.bigint(),
      };
      this.#inFlight.push(flight);
      if (this.#state === 'protected' && !this.#finalCaptured) this.#scheduleEpoch();
      await this.#ship(flight, runs, serialized);
    } finally {
      this.#capturing = false;
    }
  }

  #resumeGuest(): void {
    if (this.#holdGuest) return;
    try {
      this.#o.guest.resume();
    } catch (err) {
      this.#report(err as Error);
    }
  }

  /** Captures every dirty page; a capture that did not fit its slab is copied out and continued. */
  #captureAll(): { runs: CapturedRun[]; captures: Capture[] } {
    const runs: CapturedRun[] = [];
    for (;;) {
      const capture = this.#memory.capture();
      const own = capturedRuns(capture);
      if (capture.complete) {
        runs.push(...own);
        return { runs, captures: [capture] };
      }
      // The slab is full: keep a copy of what it holds and capture the rest into it again.
      for (const run of own) runs.push({ ...run, data: run.data.slice() });
      capture.release();
    }
  }

  async #ship(flight: InFlight, runs: CapturedRun[], serialized: Uint8Array): Promise<void> {
    const messages = checkpointMessages(
      { epoch: flight.epoch, fencingToken: this.#token, runs, output: [serialized] },
      this.#memory.pageSizeBytes,
      this.#o.maxMessageBytes,
    );
    const trace = this.listenerCount('shipping') > 0;
    try {
      const channel = this.#requireChannel();
      for (let i = 0; i < messages.length; i++) {
        if (this.#state !== 'protected' && this.#state !== 'syncing') return;
        const message = messages[i]!;
        if (!sendMessage(channel, message)) await waitForDrain(channel);
        if (trace)
          this.emit('shipping', {
            epoch: flight.epoch,
            kind: message.kind,
            index: i,
            count: messages.length,
          });
      }
    } catch (err) {
      this.#lose(err as Error);
    }
  }

  #stopTimers(): void {
    if (this.#epochTimer) clearTimeout(this.#epochTimer);
    this.#epochTimer = null;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    this.#runner.stop();
  }

  /**
   * Protection ended (lost, or closed): lift the throttle and let a guest the policy or the budget
   * rule held paused run again. Its output stays corked or goes direct as the state says.
   */
  #releaseGuest(): void {
    this.#runner.liftThrottle();
    const held = this.#holdGuest || this.#blockedBytes > 0 || this.#runner.pausedByPolicy;
    this.#holdGuest = false;
    this.#blockedBytes = 0;
    if (held && !this.#capturing && this.#o.guest.state === 'paused') this.#resumeGuest();
  }

  /** The secondary is gone: drop what is in flight, keep output corked, ask the arbiter. */
  #lose(error: Error): void {
    if (this.#lostHandled) return;
    if (this.#state !== 'syncing' && this.#state !== 'protected') return;
    this.#lostHandled = true;
    const wasSyncing = this.#state === 'syncing';
    this.#stopTimers();
    this.#pendingTick = false;
    this.#setState('arbitrating');
    this.#releaseGuest();
    this.emit('peer-lost', error);
    const channel = this.#channel;
    if (channel && !channel.closed) channel.destroy();
    this.#dropInFlight(error);
    this.#syncWaiter?.reject(error);
    if (wasSyncing && this.#firstCheckpoint) {
      this.#firstCheckpoint.reject(
        error instanceof PeerLostError ? error : new PeerLostError(error.message, error),
      );
      this.#firstCheckpoint = null;
    }
    void this.#arbitrate();
  }

  async #arbitrate(): Promise<void> {
    const o = this.#o;
    let grant: ArbiterGrant | null = null;
    try {
      grant = await o.arbiter.acquire({
        generation: this.#generation + 1,
        node: o.nodeId,
        ttlMs: o.arbiterTtlMs,
      });
    } catch (err) {
      this.#report(err as Error);
    }
    if (this.#state !== 'arbitrating') return;
    if (grant === null) {
      this.#depose();
      return;
    }
    this.#lease = new GrantLease(
      o.arbiter,
      o.arbiterTtlMs,
      () => {
        if (this.#state === 'unprotected') this.#depose();
      },
      (err) => this.#report(err),
    );
    this.#lease.hold(grant);
    this.#token = grant.token;
    this.#generation = grant.generation;
    this.#path.cork.setGeneration(grant.token);
    this.#path.releaseGate = () => grantIsValid(this.#lease?.grant ?? null);
    this.#path.goDirect();
    this.#setState('unprotected');
    if (this.#finalCaptured) {
      // A switchover that did not complete, and this node won: the workload goes on here.
      this.#finalCaptured = false;
      this.#handover = false;
      this.#resumeGuest();
    }
    await this.#teardownTransport();
  }

  #depose(): void {
    this.#lease?.stop();
    this.#path.goCorked();
    this.#setState('deposed');
    void this.#o.guest.pause().catch(() => undefined);
    void this.#teardownTransport();
  }

  async #teardownTransport(): Promise<void> {
    const channel = this.#channel;
    this.#channel = null;
    if (channel && !channel.closed) channel.destroy();
    const keepalive = this.#keepalive;
    this.#keepalive = null;
    if (keepalive) await keepalive.close().catch(() => undefined);
  }

  checkpoint(): Promise<void> {
    if (this.#state !== 'protected')
      return Promise.reject(new EngineStateError(`checkpoint() in state ${this.#state}`));
    // The running epoch's writes and output go into the next capture: wait for that one's ACK.
    const epoch = this.#epoch;
    const done = new Promise<void>((resolve, reject) => this.#ackWaiters.push({ epoch, resolve, reject }));
    if (!this.#capturing && this.#inFlight.length < this.#maxInFlight) void this.#tick();
    else this.#pendingTick = true;
    return done;
  }

  async switchover(): Promise<SwitchoverEvent> {
    if (this.#state !== 'protected' || this.#handover)
      throw new EngineStateError(
        `switchover() in state ${this.#state}${this.#handover ? ' (already running)' : ''}`,
      );
    const o = this.#o;
    const started = process.hrtime.bigint();
    this.#handover = true;
    this.#stopTimers();
    // The running epoch is the last: its capture leaves the guest paused, its ACK releases its output.
    await this.checkpoint();
    const drainMs = elapsedMs(started);
    const epoch = this.#acked;
    const channel = this.#channel;
    this.#setState('handing-over');
    const accepted = new Promise<boolean>((resolve) => {
      this.#handoverWaiter = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      if (channel === null || channel.closed) throw new PeerLostError('the data channel closed');
      sendMessage(channel, {
        kind: 'HANDOVER',
        epoch,
        fencingToken: this.#token,
        generation: this.#generation,
      });
    } catch (err) {
      this.#handoverWaiter?.(false);
      this.#report(err as Error);
    }
    const ok = await Promise.race([
      accepted,
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), o.closeTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    this.#handoverWaiter = null;
    this.#lostHandled = true;
    await this.#teardownTransport();
    if (!ok) {
      // The secondary may or may not have taken over: the arbiter decides. This node wins only if
      // the secondary did not take the next generation, and then resumes the guest alone.
      this.#setState('arbitrating');
      void this.#arbitrate();
      throw new SwitchoverError(`the secondary did not accept the handover of epoch ${epoch}`);
    }
    this.#setState('handed-over');
    const event: SwitchoverEvent = {
      epoch,
      generation: this.#generation,
      fencingToken: this.#token,
      drainMs,
      durationMs: elapsedMs(started),
    };
    this.#switchover = event;
    this.emit('switchover', event);
    return event;
  }

  protect(options: ProtectOptions): Primary {
    if (this.#state !== 'unprotected' || this.#protector !== null)
      throw new EngineStateError(
        `protect() in state ${this.#state}${this.#protector ? ' (a protecting primary exists)' : ''}`,
      );
    const o = this.#o;
    const handoff = survivorHandoff({
      guest: o.guest,
      output: o.output,
      arbiter: o.arbiter,
      nodeId: o.nodeId,
      generation: this.#generation,
      fencingToken: this.#token,
      path: this.#path,
      serving: () => this.#state === 'unprotected',
      grant: () => this.#lease?.grant ?? null,
      handedOff: () => {
        this.#lease?.stop();
        this.#lease = null;
        this.#setState('reprotected');
      },
      rolledBack: () => {
        this.#protector = null;
      },
    });
    const primary = resumePrimary(options, handoff);
    this.#protector = primary;
    return primary;
  }

  /** Gives back the slabs of checkpoints that will never be acknowledged; fails their waiters. */
  #dropInFlight(error: Error): void {
    for (const flight of this.#inFlight.splice(0)) {
      for (const capture of flight.captures) capture.release();
    }
    for (const waiter of this.#ackWaiters.splice(0)) waiter.reject(error);
  }

  status(): PrimaryStatus {
    const cork = this.#path.cork.metrics();
    const rates = this.#rate.rates();
    return {
      role: 'primary',
      state: this.#state,
      nodeId: this.#o.nodeId,
      epoch: this.#epoch,
      committedEpoch: this.#acked,
      generation: this.#generation,
      fencingToken: this.#token,
      pauseMs: this.#pause.summary(),
      checkpointBytes: this.#sizes.summary(),
      checkpointsPerSecond: rates.perSecond,
      bytesPerSecond: rates.bytesPerSecond,
      inFlight: this.#inFlight.length,
      cork: corkStatus(cork),
      peer: peerStatus(
        this.#keepalive,
        this.#peerHello?.nodeId ?? null,
        this.#channel,
        configuredSecurityMode(this.#o.channel),
      ),
      syncPasses: this.#syncPasses,
      stretchedEpochs: this.#stretched,
      shortenedEpochs: this.#shortened,
      idleCheckpoints: this.#idleCheckpoints,
      refusedOutputs: this.#path.refused,
      switchover: this.#switchover,
      policy: this.#runner.status(),
    };
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    const o = this.#o;
    if (this.#state === 'protected') {
      // A last checkpoint, so what is corked now is released before protection ends.
      await Promise.race([this.checkpoint().catch(() => undefined), sleep(o.closeTimeoutMs)]);
      const channel = this.#channel;
      if (this.#state === 'protected' && channel && !channel.closed) {
        this.#stopTimers();
        const gone = new Promise<void>((resolve) => {
          this.#goodbyeWaiter = resolve;
        });
        this.#lostHandled = true;
        try {
          sendMessage(channel, { kind: 'GOODBYE', reason: 0, detail: 'the primary ends protection' });
          await Promise.race([gone, sleep(o.closeTimeoutMs)]);
        } catch {
          // Closed meanwhile.
        }
        this.#goodbyeWaiter = null;
      }
    }
    this.#lostHandled = true;
    this.#stopTimers();
    o.guest.off('idle', this.#onGuestIdle);
    if (this.#state !== 'handed-over' && this.#state !== 'deposed') this.#releaseGuest();
    const heldGrant = this.#lease?.grant ?? null;
    this.#lease?.stop();
    this.#firstCheckpoint?.reject(new EngineStateError('closed before protection was established'));
    this.#firstCheckpoint = null;
    this.#dropInFlight(new EngineStateError('the primary closed'));
    const channel = this.#channel;
    this.#channel = null;
    if (channel && !channel.closed) await channel.close().catch(() => undefined);
    await this.#teardownTransport();
    if (heldGrant) await o.arbiter.release(heldGrant).catch(() => undefined);
    // The guest goes on unprotected: its output goes straight to the application again.
    // A node that handed its workload to another engine leaves the guest's output alone.
    const handedOver =
      this.#state === 'handed-over' || this.#state === 'handing-over' || this.#state === 'reprotected';
    if (this.#state !== 'deposed' && this.#state !== 'idle' && !handedOver) o.guest.setOutput(o.output);
    this.#setState('closed');
  }
}

function countPages(runs: readonly CapturedRun[]): number {
  let pages = 0;
  for (const run of runs) pages += run.pageCount;
  return pages;
}

/** A capture's run table as runs with views of their pages. */
function capturedRuns(capture: Capture): CapturedRun[] {
  const runs: CapturedRun[] = new Array(capture.runCount);
  const size = capture.pageSizeBytes;
  for (let i = 0; i < capture.runCount; i++) {
    const at = i * 3;
    const pageCount = capture.runs[at + 1]!;
    const offset = capture.runs[at + 2]!;
    runs[i] = {
      firstPage: capture.runs[at]!,
      pageCount,
      data: capture.data.subarray(offset, offset + pageCount * size),
    };
  }
  return runs;
}

/** Creates a primary. Nothing happens until `start()`. Options are validated here. */
export function createPrimary(options: PrimaryOptions): Primary {
  return new PrimaryEngine(options);
}

/**
 * Options of `Secondary.protect()` and `Primary.protect()`: a primary's options without what the
 * survivor already has (its guest, output sink, arbiter, generation, workload name and cork queue);
 * `nodeId` defaults to the survivor's.
 */
export type ProtectOptions = Omit<
  PrimaryOptions,
  'guest' | 'output' | 'arbiter' | 'generation' | 'source' | 'cork'
>;

/** A primary over a survivor's workload and counters (used by `Secondary.protect()`). */
export function resumePrimary(options: ProtectOptions, handoff: SurvivorHandoff): Primary {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError('options', 'must be an object');
  return new PrimaryEngine(
    {
      ...options,
      guest: handoff.guest,
      output: handoff.output,
      arbiter: handoff.arbiter,
      nodeId: options.nodeId ?? handoff.nodeId,
      generation: handoff.generation,
      source: handoff.cork.source,
    },
    handoff,
  );
}
