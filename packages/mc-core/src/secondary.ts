import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import {
  type CheckpointStore,
  type CheckpointStoreOptions,
  createCheckpointStore,
  type PageCodec,
  pageCodecName,
} from '@microcheckpoint/checkpoint-store';
import {
  type CorkQueueOptions,
  createCorkQueue,
  type DecodedBatch,
  decodeBatch,
} from '@microcheckpoint/io-cork';
import { createKeepalive, type Keepalive, type StateChange } from '@microcheckpoint/keepalive';
import { type Channel, createServer, type Server } from '@microcheckpoint/transport-tcp';
import { type Arbiter, type ArbiterGrant, grantIsValid } from './arbiter/contract.js';
import {
  DEFAULT_ARBITER_TTL_MS,
  DEFAULT_ATTACH_TIMEOUT_MS,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_WORKLOAD_SOURCE,
  STAGING_SLAB_COUNT,
} from './constants.js';
import { BudgetSchedule } from './engine/budget-schedule.js';
import { type MessageChannel, receiveMessage, sendMessage } from './engine/channel.js';
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
import { acceptRdmaSim } from './engine/rdma-sim-link.js';
import { survivorHandoff } from './engine/reprotect.js';
import { type EngineTransportOptions, transportOption } from './engine/transport-option.js';
import { EngineStateError, InvalidArgumentError, InvalidOptionError, PeerErrorReport } from './errors.js';
import type { GuestMemory } from './guest-memory.js';
import type { Guest, OutputSink } from './guests/contract.js';
import { type Primary, type ProtectOptions, resumePrimary } from './primary.js';
import { RAW_CODEC, ZERO_CODEC } from './protocol/checkpoint-messages.js';
import {
  CheckpointReceiver,
  type CheckpointSink,
  type ReceiverLimits,
} from './protocol/checkpoint-receiver.js';
import {
  GOODBYE_REASONS,
  type HandoverMessage,
  type HelloMessage,
  type McMessage,
  type PagesMessage,
  PROTOCOL_VERSION,
  ROLES,
} from './protocol/messages.js';
import {
  CheckpointProtocolError,
  HandshakeError,
  ProtocolError,
  UnexpectedMessageError,
} from './protocol/protocol-errors.js';

/** What the takeover handler gets: the restored memory and who this node now is. */
export interface TakeoverContext {
  /** The secondary's memory, now holding the image of `epoch`. */
  readonly memory: GuestMemory;
  /** The last committed epoch: the state the workload resumes from. */
  readonly epoch: number;
  /** The generation won from the arbiter, and its fencing token. */
  readonly generation: number;
  readonly fencingToken: number;
}

/** What the takeover handler returns: the workload running on the restored memory. */
export interface TakeoverResult {
  /** A guest over `context.memory` (for a service: listening on this node's own address). */
  guest: Guest;
  /** Where the survivor's output goes from now on (it runs unprotected: released at once). */
  output: OutputSink;
  /**
   * Where re-emitted output goes: every output of committed checkpoints that the dead primary may
   * not have released, with its original seq. Receivers drop duplicates by seq (io-cork's dedup
   * filter). For output addressed to connections that died with the primary, pass a sink that
   * drops it.
   * @default output
   */
  reemit?: OutputSink;
}

/** Starts the workload on the restored memory after this node won arbitration. */
export type TakeoverHandler = (context: TakeoverContext) => TakeoverResult | Promise<TakeoverResult>;

/** Options of `createSecondary()`. */
export interface SecondaryOptions {
  /**
   * The memory the workload runs on after a takeover; same page size and page count as the
   * primary's guest. Required.
   */
  memory: GuestMemory;
  /** Decides whether this node may take over. Required. */
  arbiter: Arbiter;
  /** Starts the workload after a takeover. Required. */
  takeover: TakeoverHandler;
  /**
   * Data channel address to listen on for the primary.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Data channel port; 0 picks a free one (read it from `start()`).
   * @default 0
   */
  port?: number;
  /**
   * Stable identity of this node, given to the arbiter and in HELLO.
   * @default `secondary-<hostname>-<pid>`
   */
  nodeId?: string;
  /**
   * Checkpoints the primary may ship before the oldest is acknowledged: 1 or 2 (its two slabs).
   * @default 1
   */
  maxInFlight?: number;
  /**
   * The budget: largest checkpoint accepted, bytes of page data (one page to `memory.sizeBytes`).
   * Advertised in HELLO; the primary's policy and dirty quota keep every checkpoint under it. Changed
   * at run time with `setBudget()`.
   * @default memory.sizeBytes
   */
  maxCheckpointBytes?: number;
  /**
   * How long a connected primary has to send its HELLO, ms.
   * @default 10000
   */
  attachTimeoutMs?: number;
  /**
   * Lease asked of the arbiter at takeover, ms; renewed every third of it.
   * @default 5000
   */
  arbiterTtlMs?: number;
  /**
   * Name of the workload on its output items; must equal the primary's.
   * @default 'workload'
   */
  source?: string;
  /**
   * Checkpoint store settings (RAM budget, offload directory, codecs, background CPU share). The page
   * geometry comes from `memory`; the store stages a whole image during the initial sync.
   */
  store?: Omit<CheckpointStoreOptions, 'pageSize' | 'pageCount' | 'maxCheckpointBytes'>;
  /** Cork queue bounds (io-cork options other than `source` and `generation`). */
  cork?: Omit<CorkQueueOptions, 'source' | 'generation'>;
  /** Keepalive settings (detector and local heartbeat socket). */
  keepalive?: EngineKeepaliveOptions;
  /** Data channel settings (transport-tcp channel options; the control channel under rdma-sim). */
  channel?: EngineChannelOptions;
  /**
   * Which transport carries checkpoints; the primary must use the same kind. Under `rdma-sim` the
   * primary's page messages land in a receive ring of `ringBytes` here, written one-sided.
   * @default { kind: 'tcp' }
   */
  transport?: EngineTransportOptions;
  /**
   * Touch every page of `memory` once in `start()` and check that it is all zero, so the takeover
   * neither pays the page faults of writing a fresh memory nor rewrites zero pages: it writes only
   * the pages the store ever received (measured on 64 MiB: 69 ms untouched, 21 ms prefaulted, a few
   * ms for a sparse image). The memory's whole size is resident from then on, as it must be to take
   * over anyway. Nothing else may write `memory` before a takeover.
   * @default true
   */
  prefault?: boolean;
}

/**
 * Writes every OS page of `bytes` once (each byte written back unchanged), a slice per event-loop
 * turn, and tells whether the memory is all zero (then a takeover restores only the pages the
 * store ever received).
 */
async function prefault(bytes: Uint8Array, pageSize: number): Promise<boolean> {
  const step = Math.min(pageSize, 4096);
  const slice = 16 * 1024 * 1024;
  const zeros = Buffer.alloc(Math.min(slice, bytes.length));
  let zero = true;
  for (let start = 0; start < bytes.length; start += slice) {
    const end = Math.min(bytes.length, start + slice);
    // A read alone would map the shared zero page; the write is what makes the page the process's own.
    for (let i = start; i < end; i += step) bytes[i] = bytes[i]!;
    if (zero) zero = Buffer.compare(bytes.subarray(start, end), zeros.subarray(0, end - start)) === 0;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return zero;
}

/**
 * - `idle`: created. `listening`: waiting for a primary.
 * - `syncing`: receiving the live sync. `protecting`: committing and acknowledging checkpoints.
 * - `detached`: the data channel is gone but the primary's heartbeats are not: nothing to do.
 * - `arbitrating`: the primary was convicted; asking the arbiter.
 * - `serving`: took over; the workload runs here, unprotected (until `protect()`).
 * - `reprotected`: the `Primary` from `protect()` drives the workload now, protected by a new secondary.
 * - `passive`: lost arbitration, or nothing was ever committed: this node does not serve.
 * - `stopped`: the primary ended protection with a GOODBYE. `closed`: `close()` finished.
 */
export type SecondaryState =
  | 'idle'
  | 'listening'
  | 'syncing'
  | 'protecting'
  | 'detached'
  | 'arbitrating'
  | 'serving'
  | 'reprotected'
  | 'passive'
  | 'stopped'
  | 'closed';

/** A committed checkpoint. */
export interface CommitEvent {
  epoch: number;
  pageCount: number;
  bytes: number;
  outputItems: number;
}

/** The takeover, done. */
export interface TakeoverEvent {
  epoch: number;
  generation: number;
  fencingToken: number;
  /** Outputs of committed checkpoints re-emitted. */
  reemitted: number;
  /** Time to write the committed image into memory, ms. */
  restoreMs: number;
  /** From the conviction of the primary (or its HANDOVER) to the workload running here, ms. */
  durationMs: number;
  /** `failure`: the detector convicted the primary; `handover`: the primary's planned switchover. */
  trigger: 'failure' | 'handover';
}

/** Events of a Secondary. */
export interface SecondaryEvents {
  state: [state: SecondaryState, previous: SecondaryState];
  commit: [event: CommitEvent];
  takeover: [event: TakeoverEvent];
  /** Why this node went passive. */
  passive: [reason: string];
  peer: [change: StateChange];
  /** A protocol violation or a failure handled by the engine (the session it ended, if any). */
  error: [error: Error];
}

/** Status of a secondary. */
export interface SecondaryStatus extends EngineStatus {
  role: 'secondary';
  state: SecondaryState;
  /** Pages received during the live sync. */
  syncPages: number;
  /** The checkpoint store's statistics (null once closed). */
  store: ReturnType<CheckpointStore['stats']> | null;
  /** The budget advertised now: the largest checkpoint accepted, bytes (see `setBudget()`). */
  maxCheckpointBytes: number;
}

/** What `Secondary.setBudget()` did. */
export interface BudgetChange {
  /** The budget now advertised, bytes. */
  maxCheckpointBytes: number;
  /**
   * The first epoch the new budget binds. A raised budget binds at once; a lowered one binds once the
   * checkpoints the primary may already have captured under the old one are committed.
   */
  fromEpoch: number;
}

/** The protecting peer: receives, commits and acknowledges checkpoints, and takes over. */
export interface Secondary {
  readonly state: SecondaryState;
  /** Starts listening for the primary; resolves with the data channel's address. */
  start(): Promise<{ host: string; port: number }>;
  status(): SecondaryStatus;
  /**
   * Writes the committed image into `target` (at least the memory's size; copies). Returns the
   * committed epoch, or null before the first commit (then `target` is filled with zeros).
   */
  materialize(target: Uint8Array): number | null;
  /**
   * Protects the workload this node took over: returns a `Primary` (not started) over the
   * survivor's guest, output sink and arbiter that syncs to the secondary at `options.secondary`
   * while the guest runs, then micro-checkpoints to it. Its `start()` continues this node's counters
   * (epochs, output seq, generation and fencing token: nothing restarts), keeps the output corked
   * from the HELLO exchange until the first checkpoint's ACK, and gives this node's grant back to
   * the arbiter once the new secondary answered (from then on neither node acts alone, exactly as
   * in a first protection). If `start()` fails to attach, this node goes on serving alone. State
   * `reprotected` from the moment the primary took over the workload. Only in state `serving`.
   */
  protect(options: ProtectOptions): Primary;
  /**
   * Changes the largest checkpoint this node accepts, bytes of page data (from one page to the
   * memory's size), at run time: the primary is told with a BUDGET message and its policy keeps every
   * later checkpoint under it. Throws `MC_ERR_INVALID_ARGUMENT` outside that range.
   */
  setBudget(maxCheckpointBytes: number): BudgetChange;
  /** Stops listening, ends any session, closes the keepalive and the store. Idempotent. */
  close(): Promise<void>;
  on<E extends keyof SecondaryEvents>(event: E, listener: (...args: SecondaryEvents[E]) => void): this;
  once<E extends keyof SecondaryEvents>(event: E, listener: (...args: SecondaryEvents[E]) => void): this;
  off<E extends keyof SecondaryEvents>(event: E, listener: (...args: SecondaryEvents[E]) => void): this;
}

interface Resolved {
  memory: GuestMemory;
  arbiter: Arbiter;
  takeover: TakeoverHandler;
  host: string;
  port: number;
  nodeId: string;
  maxInFlight: number;
  maxCheckpointBytes: number;
  attachTimeoutMs: number;
  arbiterTtlMs: number;
  source: string;
  store: Omit<CheckpointStoreOptions, 'pageSize' | 'pageCount' | 'maxCheckpointBytes'>;
  cork: Omit<CorkQueueOptions, 'source' | 'generation'>;
  keepalive: EngineKeepaliveOptions;
  channel: EngineChannelOptions;
  transport: EngineTransportOptions;
  prefault: boolean;
}

function resolveOptions(options: SecondaryOptions): Resolved {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError('options', 'must be an object');
  const memory = options.memory as GuestMemory | undefined;
  if (
    memory === null ||
    typeof memory !== 'object' ||
    typeof memory.restorePages !== 'function' ||
    !(memory.bytes instanceof Uint8Array)
  ) {
    throw new InvalidOptionError('memory', 'must be a GuestMemory from createGuestMemory()');
  }
  if (typeof options.takeover !== 'function') throw new InvalidOptionError('takeover', 'must be a function');
  return {
    memory,
    arbiter: arbiterOption(options.arbiter),
    takeover: options.takeover,
    host: stringOption('host', options.host, '127.0.0.1'),
    port: numberOption('port', options.port, 0, 0, 65535),
    nodeId: stringOption('nodeId', options.nodeId, `secondary-${hostname()}-${process.pid}`),
    maxInFlight: numberOption(
      'maxInFlight',
      options.maxInFlight,
      DEFAULT_MAX_IN_FLIGHT,
      1,
      STAGING_SLAB_COUNT,
    ),
    maxCheckpointBytes: numberOption(
      'maxCheckpointBytes',
      options.maxCheckpointBytes,
      memory.sizeBytes,
      memory.pageSizeBytes,
    ),
    attachTimeoutMs: numberOption('attachTimeoutMs', options.attachTimeoutMs, DEFAULT_ATTACH_TIMEOUT_MS, 1),
    arbiterTtlMs: numberOption('arbiterTtlMs', options.arbiterTtlMs, DEFAULT_ARBITER_TTL_MS, 10),
    source: stringOption('source', options.source, DEFAULT_WORKLOAD_SOURCE),
    store: passThrough('store', options.store),
    cork: passThrough('cork', options.cork),
    keepalive: passThrough('keepalive', options.keepalive),
    channel: passThrough('channel', options.channel),
    transport: transportOption(options.transport),
    prefault: booleanOption('prefault', options.prefault, true),
  };
}

function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, 'must be a boolean');
  return value;
}

/** Where the session is in the protocol. */
type Phase = 'hello' | 'hello-reply' | 'sync' | 'first-checkpoint' | 'checkpoints' | 'ended';

class SecondaryEngine extends EventEmitter implements Secondary {
  readonly #o: Resolved;
  readonly #store: CheckpointStore;
  #storeClosed = false;
  readonly #cork;
  #server: Server | null = null;
  #channel: MessageChannel | null = null;
  #keepalive: Keepalive | null = null;
  #state: SecondaryState = 'idle';
  #phase: Phase = 'hello';
  #peer: HelloMessage | null = null;
  #receiver: CheckpointReceiver | null = null;
  #syncEpoch = 1;
  #syncPass = 0;
  #syncPassPages = 0;
  #syncPages = 0;
  #generation = 0;
  #token = 0;
  #lease: GrantLease | null = null;
  #pendingBatch: DecodedBatch | null = null;
  /** Destinations of each held output batch, for re-emission. */
  readonly #batchDestinations = new Map<number, string[]>();
  #helloTimer: NodeJS.Timeout | null = null;
  readonly #sizes = new SampleWindow();
  readonly #rate = new RateMeter();
  #path: OutputPath | null = null;
  /** The workload started at takeover. */
  #served: TakeoverResult | null = null;
  #protector: Primary | null = null;
  /** Pages the store was ever given (the others are zero there). */
  readonly #touched: Uint8Array;
  #touchedCount = 0;
  /** `memory` was verified all zero at start (and nothing else writes it before a takeover). */
  #memoryZero = false;
  /** The advertised checkpoint budget over epochs (HELLO, then `setBudget()`). */
  #budget: BudgetSchedule;
  /** The receiver's limits; the budget for each checkpoint is set at its CKPT_BEGIN. */
  #limits: ReceiverLimits | null = null;

  constructor(options: SecondaryOptions) {
    super();
    this.#o = resolveOptions(options);
    const m = this.#o.memory;
    this.#store = createCheckpointStore({
      ...this.#o.store,
      pageSize: m.pageSizeBytes,
      pageCount: m.pageCount,
      // The live sync stages a whole image before the first commit.
      maxCheckpointBytes: m.sizeBytes,
    });
    this.#cork = createCorkQueue({ ...this.#o.cork, source: this.#o.source });
    this.#touched = new Uint8Array(m.pageCount);
    this.#budget = new BudgetSchedule(this.#o.maxCheckpointBytes);
  }

  #put(page: number, data: Uint8Array, codec: PageCodec): void {
    this.#store.put(page, data, codec);
    if (this.#touched[page] === 0) {
      this.#touched[page] = 1;
      this.#touchedCount++;
    }
  }

  /**
   * Writes the committed image into the memory the workload resumes on. Into a memory known to be
   * zero, only the pages the store ever received are written (they are few in a sparse memory);
   * otherwise the whole image.
   */
  #restore(): void {
    const { bytes, pageSizeBytes: size, pageCount } = this.#o.memory;
    if (!this.#memoryZero || this.#touchedCount > pageCount / 2) {
      this.#store.materialize(bytes);
      return;
    }
    for (let page = 0; page < pageCount; page++) {
      if (this.#touched[page] === 1)
        this.#store.readPage(page, bytes.subarray(page * size, (page + 1) * size));
    }
  }

  get state(): SecondaryState {
    return this.#state;
  }

  #setState(next: SecondaryState): void {
    if (next === this.#state) return;
    const previous = this.#state;
    this.#state = next;
    this.emit('state', next, previous);
  }

  #report(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  async start(): Promise<{ host: string; port: number }> {
    if (this.#state !== 'idle') throw new EngineStateError(`start() in state ${this.#state}`);
    if (this.#o.prefault)
      this.#memoryZero = await prefault(this.#o.memory.bytes, this.#o.memory.pageSizeBytes);
    const server = createServer({ ...this.#o.channel, host: this.#o.host, port: this.#o.port });
    this.#server = server;
    server.on('channel', (channel) => this.#accept(channel as Channel & MessageChannel));
    server.on('channelError', (err) => this.#report(err));
    // A peer refused by TLS or PSK never reaches #accept: say why, so operators can see it.
    server.on('peerRefused', (err) => this.#report(err));
    const address = await server.listen();
    this.#setState('listening');
    return { host: address.address, port: address.port };
  }

  #accept(channel: Channel & MessageChannel): void {
    if (this.#state !== 'listening' || this.#channel !== null) {
      // One protection session per secondary: a second primary is refused.
      channel.on('message', () => undefined);
      try {
        sendMessage(channel, {
          kind: 'ERROR',
          code: 'MC_ERR_PROTOCOL_HANDSHAKE',
          detail: `this secondary is ${this.#state} and takes no new primary`,
        });
      } catch {
        // Already gone.
      }
      void channel.close();
      return;
    }
    this.#channel = channel;
    this.#phase = 'hello';
    channel.on('close', (err) => this.#onChannelClose(channel, err));
    this.#helloTimer = setTimeout(() => {
      if (this.#phase === 'hello') this.#violation(new HandshakeError('no HELLO in time'));
    }, this.#o.attachTimeoutMs);
    const transport = this.#o.transport;
    if (transport.kind === 'tcp') {
      channel.on('message', (frame) => this.#onMessage(frame));
      return;
    }
    // The RDMA link is set up first, on the control channel; the MC session then runs over it.
    acceptRdmaSim(channel, { transport, timeoutMs: this.#o.attachTimeoutMs }).then(
      (link) => {
        if (this.#channel !== channel || channel.closed) {
          link.destroy();
          return;
        }
        this.#channel = link;
        link.on('message', (frame) => this.#onMessage(frame));
        link.on('close', (err) => this.#onChannelClose(link, err));
      },
      (err: Error) => {
        if (this.#channel !== channel) return;
        this.#report(err);
        channel.destroy();
      },
    );
  }

  #onMessage(frame: { type: number; payload: Uint8Array }): void {
    if (this.#phase === 'ended') return;
    this.#keepalive?.evidenceOfLife('bytes');
    try {
      this.#handle(receiveMessage(frame));
    } catch (err) {
      this.#violation(err as Error);
    }
  }

  #handle(message: McMessage): void {
    switch (message.kind) {
      case 'HELLO':
        if (this.#phase !== 'hello') throw new UnexpectedMessageError('a second HELLO');
        this.#onHello(message);
        return;
      case 'SYNC_BEGIN':
        this.#expect('sync', message.kind);
        if (message.pass !== this.#syncPass + 1)
          throw new UnexpectedMessageError(`SYNC_BEGIN of pass ${message.pass} after pass ${this.#syncPass}`);
        if (message.fencingToken !== this.#token)
          throw new CheckpointProtocolError(
            'MC_ERR_CKPT_STALE_TOKEN',
            null,
            `sync under token ${message.fencingToken}, session token ${this.#token}`,
          );
        if (message.pass === 1) this.#store.begin(this.#syncEpoch);
        this.#syncPass = message.pass;
        this.#syncPassPages = 0;
        return;
      case 'SYNC_PAGES':
        this.#expect('sync', message.kind);
        if (message.sequence !== this.#syncPass || this.#store.stagingEpoch === null)
          throw new UnexpectedMessageError(
            `SYNC_PAGES of pass ${message.sequence} outside pass ${this.#syncPass}`,
          );
        this.#syncPages += this.#putSyncPages(message);
        return;
      case 'SYNC_END': {
        this.#expect('sync', message.kind);
        if (message.pass !== this.#syncPass || this.#store.stagingEpoch === null)
          throw new UnexpectedMessageError(`SYNC_END of pass ${message.pass} outside pass ${this.#syncPass}`);
        if (message.pagesSent !== this.#syncPassPages)
          throw new CheckpointProtocolError(
            'MC_ERR_CKPT_MISMATCH',
            null,
            `sync pass ${message.pass} sent ${message.pagesSent} pages, ${this.#syncPassPages} arrived`,
          );
        if (message.final === 1) this.#phase = 'first-checkpoint';
        else if (message.final !== 0) throw new UnexpectedMessageError(`SYNC_END final = ${message.final}`);
        sendMessage(this.#channel!, {
          kind: 'SYNC_ACK',
          pass: message.pass,
          pagesReceived: this.#syncPassPages,
        });
        return;
      }
      case 'CKPT_BEGIN':
        if (this.#phase === 'first-checkpoint') {
          if (message.epoch !== this.#syncEpoch)
            throw new UnexpectedMessageError(
              `the first checkpoint is ${message.epoch}, not ${this.#syncEpoch}`,
            );
        } else this.#expect('checkpoints', message.kind);
        this.#limits!.maxCheckpointBytes = this.#budget.limitFor(message.epoch);
        this.#receiver!.receive(message);
        return;
      case 'CKPT_PAGES':
        this.#expectCheckpoint(message.kind);
        this.#receiver!.receive(message);
        return;
      case 'CKPT_OUTPUT':
        this.#expectCheckpoint(message.kind);
        this.#checkBatch(message.epoch, message.batch);
        this.#receiver!.receive(message);
        return;
      case 'CKPT_END': {
        this.#expectCheckpoint(message.kind);
        const committed = this.#receiver!.receive(message);
        if (committed !== null) this.#committed(committed.epoch, committed.pageCount, committed.dataBytes);
        return;
      }
      case 'GOODBYE':
        this.#goodbye();
        return;
      case 'HANDOVER':
        this.#expect('checkpoints', message.kind);
        this.#onHandover(message);
        return;
      case 'ERROR':
        throw new PeerErrorReport(message.code, message.detail);
      default:
        throw new UnexpectedMessageError(`${message.kind} is not sent to a secondary`);
    }
  }

  /** Planned switchover: the primary stopped after the last committed checkpoint; take over now. */
  #onHandover(message: HandoverMessage): void {
    if (message.fencingToken < this.#token)
      throw new CheckpointProtocolError(
        'MC_ERR_CKPT_STALE_TOKEN',
        message.epoch,
        `HANDOVER under token ${message.fencingToken}, session token ${this.#token}`,
      );
    if (message.fencingToken !== this.#token || message.generation !== this.#generation)
      throw new UnexpectedMessageError(
        `HANDOVER of generation ${message.generation} token ${message.fencingToken}; the session has ${this.#generation}/${this.#token}`,
      );
    const committed = this.#store.committedEpoch;
    if (this.#receiver?.receivingEpoch != null || committed !== message.epoch)
      throw new UnexpectedMessageError(
        `HANDOVER after epoch ${message.epoch}; this node committed ${committed ?? 'none'}`,
      );
    sendMessage(this.#channel!, {
      kind: 'GOODBYE',
      reason: GOODBYE_REASONS.handoverAccepted,
      detail: `taking over at epoch ${message.epoch}`,
    });
    void this.#primaryDead('handover');
  }

  #expect(phase: Phase, kind: string): void {
    if (this.#phase !== phase) throw new UnexpectedMessageError(`${kind} during ${this.#phase}`);
  }

  #expectCheckpoint(kind: string): void {
    if (this.#phase !== 'checkpoints' && this.#phase !== 'first-checkpoint')
      throw new UnexpectedMessageError(`${kind} during ${this.#phase}`);
  }

  #onHello(hello: HelloMessage): void {
    const m = this.#o.memory;
    if (hello.protocolVersion !== PROTOCOL_VERSION)
      throw new HandshakeError(
        `the primary speaks protocol ${hello.protocolVersion}, this node ${PROTOCOL_VERSION}`,
      );
    if (hello.role !== ROLES.primary)
      throw new HandshakeError(`the peer is not a primary (role ${hello.role})`);
    if (hello.pageSize !== m.pageSizeBytes || hello.pageCount !== m.pageCount) {
      throw new HandshakeError(
        `the primary's guest has ${hello.pageCount} pages of ${hello.pageSize} bytes; this memory ${m.pageCount} of ${m.pageSizeBytes}`,
      );
    }
    if (hello.fencingToken < this.#token)
      throw new HandshakeError(`the primary's token ${hello.fencingToken} is older than ${this.#token}`);
    if (hello.generation < 1) throw new HandshakeError('the primary holds no generation');
    if (this.#helloTimer) clearTimeout(this.#helloTimer);
    this.#helloTimer = null;
    this.#peer = hello;
    this.#token = hello.fencingToken;
    this.#generation = hello.generation;
    this.#syncEpoch = hello.committedEpoch + 1;
    this.#cork.setGeneration(hello.fencingToken);
    const syncEpoch = this.#syncEpoch;
    const store = this.#store;
    // The first checkpoint continues the staging the sync filled: one commit of the whole image.
    const sink: CheckpointSink = {
      get committedEpoch() {
        return store.committedEpoch ?? syncEpoch - 1;
      },
      begin: (epoch) => {
        if (store.stagingEpoch !== epoch) store.begin(epoch);
      },
      put: (page, data, codec) => this.#put(page, data, codec ?? 'raw'),
      commit: (epoch) => store.commit(epoch),
      abort: () => store.abort(),
    };
    this.#limits = {
      pageSize: m.pageSizeBytes,
      pageCount: m.pageCount,
      maxCheckpointBytes: this.#budget.currentBytes,
    };
    this.#receiver = new CheckpointReceiver(sink, this.#limits, hello.fencingToken);
    this.#phase = 'hello-reply';
    void this.#replyHello();
  }

  async #replyHello(): Promise<void> {
    const channel = this.#channel;
    const keepaliveOptions = engineKeepaliveOptions(
      'secondary',
      this.#o.nodeId,
      this.#o.keepalive,
      this.#o.channel,
    );
    const keepalive = createKeepalive(keepaliveOptions);
    try {
      const heartbeat = await keepalive.start();
      if (channel === null || channel.closed || this.#channel !== channel) {
        await keepalive.close();
        return;
      }
      this.#keepalive = keepalive;
      keepalive.on('change', (change) => this.emit('peer', change));
      keepalive.on('dead', () => void this.#primaryDead());
      keepalive.on('error', (err) => this.#report(err));
      if (this.#peer!.heartbeatPort !== 0)
        keepalive.setPeer(
          heartbeatPeer(keepaliveOptions, channel, this.#peer!.heartbeatPort, this.#peer!.nodeId),
        );
      sendMessage(channel, {
        kind: 'HELLO',
        protocolVersion: PROTOCOL_VERSION,
        role: ROLES.secondary,
        capabilities: 0,
        pageSize: this.#o.memory.pageSizeBytes,
        pageCount: this.#o.memory.pageCount,
        memoryBudgetBytes: this.#o.store.ramBudgetBytes ?? 0,
        maxCheckpointBytes: this.#budget.currentBytes,
        maxInFlight: this.#o.maxInFlight,
        fencingToken: this.#token,
        committedEpoch: this.#store.committedEpoch ?? 0,
        generation: this.#generation,
        heartbeatPort: heartbeat.port,
        nodeId: this.#o.nodeId,
      });
      this.#phase = 'sync';
      this.#setState('syncing');
    } catch (err) {
      await keepalive.close().catch(() => undefined);
      this.#violation(err as Error);
    }
  }

  #putSyncPages(message: PagesMessage<'SYNC_PAGES'>): number {
    const { pageSizeBytes: pageSize, pageCount } = this.#o.memory;
    if (message.codec !== RAW_CODEC && message.codec !== ZERO_CODEC)
      throw new CheckpointProtocolError(
        'MC_ERR_CKPT_BAD_RUN',
        null,
        `sync pages with codec ${message.codec}`,
      );
    const codec = pageCodecName(message.codec);
    const data = message.data[0] ?? new Uint8Array(0);
    // Check every run before staging any, so a bad message stages nothing.
    let offset = 0;
    for (const run of message.runs) {
      const expected = message.codec === RAW_CODEC ? run.pageCount * pageSize : 0;
      if (run.firstPage + run.pageCount > pageCount || run.encodedBytes !== expected)
        throw new CheckpointProtocolError(
          'MC_ERR_CKPT_BAD_RUN',
          null,
          `sync run ${run.firstPage}+${run.pageCount} (${run.encodedBytes} bytes)`,
        );
      offset += run.encodedBytes;
    }
    if (offset !== data.byteLength)
      throw new CheckpointProtocolError('MC_ERR_CKPT_BAD_RUN', null, 'sync runs do not cover the data');
    offset = 0;
    let pages = 0;
    for (const run of message.runs) {
      for (let i = 0; i < run.pageCount; i++) {
        const bytes =
          message.codec === RAW_CODEC
            ? data.subarray(offset + i * pageSize, offset + (i + 1) * pageSize)
            : data.subarray(0, 0);
        this.#put(run.firstPage + i, bytes, codec);
      }
      offset += run.encodedBytes;
      pages += run.pageCount;
    }
    this.#syncPassPages += pages;
    return pages;
  }

  /** Validates the epoch's output batch before the checkpoint may commit; ingested after the commit. */
  #checkBatch(epoch: number, parts: readonly Uint8Array[]): void {
    const bytes =
      parts.length === 1
        ? parts[0]!
        : Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
    let batch: DecodedBatch;
    try {
      batch = decodeBatch(bytes);
    } catch (err) {
      throw new CheckpointProtocolError('MC_ERR_CKPT_MISMATCH', epoch, 'the output batch does not decode', {
        cause: err,
      });
    }
    const cork = this.#cork;
    const problem =
      batch.epoch !== epoch
        ? `carries epoch ${batch.epoch}`
        : batch.source !== this.#o.source
          ? `is from source ${batch.source}`
          : batch.generation < cork.generation
            ? `carries the stale generation ${batch.generation}`
            : cork.lastEpoch >= 0 && batch.firstSeq !== cork.nextSeq
              ? `starts at seq ${batch.firstSeq}, not ${cork.nextSeq}`
              : null;
    if (problem !== null)
      throw new CheckpointProtocolError(
        'MC_ERR_CKPT_MISMATCH',
        epoch,
        `the output batch of epoch ${epoch} ${problem}`,
      );
    this.#pendingBatch = batch;
  }

  #committed(epoch: number, pageCount: number, bytes: number): void {
    const batch = this.#pendingBatch;
    this.#pendingBatch = null;
    let outputItems = 0;
    if (batch !== null && batch.epoch === epoch) {
      this.#cork.ingest(batch);
      outputItems = batch.itemCount;
      this.#batchDestinations.set(epoch, [...batch.destinations.values()]);
      const held = new Set(this.#cork.heldEpochs);
      for (const e of this.#batchDestinations.keys()) if (!held.has(e)) this.#batchDestinations.delete(e);
    }
    this.#phase = 'checkpoints';
    this.#sizes.add(bytes);
    this.#rate.add(bytes);
    this.#keepalive?.setEpoch(epoch);
    sendMessage(this.#channel!, { kind: 'ACK', epoch, fencingToken: this.#receiver!.fencingToken });
    if (this.#state === 'syncing') this.#setState('protecting');
    this.emit('commit', { epoch, pageCount, bytes, outputItems });
  }

  /** Drops whatever is staged: a checkpoint being received, or an unfinished sync. */
  #abortStaging(): void {
    this.#pendingBatch = null;
    this.#receiver?.abort();
    if (!this.#storeClosed && this.#store.stagingEpoch !== null) this.#store.abort();
  }

  #violation(error: Error): void {
    this.#abortStaging();
    const channel = this.#channel;
    if (channel && !channel.closed) {
      if (error instanceof ProtocolError || error instanceof CheckpointProtocolError) {
        try {
          sendMessage(channel, { kind: 'ERROR', code: error.code, detail: error.message.slice(0, 1000) });
        } catch {
          // The channel is failing anyway.
        }
      }
      channel.destroy();
    }
    this.#report(error);
    this.#endSession();
  }

  #onChannelClose(channel: MessageChannel, error: Error | undefined): void {
    if (channel !== this.#channel) return;
    this.#keepalive?.dataChannelLost(error ? 'reset' : 'eof');
    this.#abortStaging();
    this.#endSession();
  }

  /** The session is over without a takeover (yet): wait for the keepalive's verdict on the primary. */
  #endSession(): void {
    if (this.#helloTimer) clearTimeout(this.#helloTimer);
    this.#helloTimer = null;
    if (this.#phase === 'ended') return;
    const hadHello = this.#phase !== 'hello';
    this.#phase = 'ended';
    if (this.#state === 'syncing' || this.#state === 'protecting') this.#setState('detached');
    else if (this.#state === 'listening' && !hadHello) {
      // A connection that never said HELLO: the next primary may still come.
      this.#channel = null;
      this.#phase = 'hello';
    }
  }

  #goodbye(): void {
    this.#abortStaging();
    this.#phase = 'ended';
    this.#setState('stopped');
    const channel = this.#channel;
    if (channel) void channel.close();
    const keepalive = this.#keepalive;
    this.#keepalive = null;
    if (keepalive) void keepalive.close().catch(() => undefined);
  }

  async #primaryDead(trigger: TakeoverEvent['trigger'] = 'failure'): Promise<void> {
    if (this.#state !== 'syncing' && this.#state !== 'protecting' && this.#state !== 'detached') return;
    const convicted = process.hrtime.bigint();
    this.#setState('arbitrating');
    this.#abortStaging();
    this.#phase = 'ended';
    const channel = this.#channel;
    // After a HANDOVER the acceptance must reach the primary: end the connection gracefully.
    if (channel && !channel.closed) {
      if (trigger === 'handover') void channel.close().catch(() => undefined);
      else channel.destroy();
    }
    const keepalive = this.#keepalive;
    this.#keepalive = null;
    if (keepalive) void keepalive.close().catch(() => undefined);
    const epoch = this.#store.committedEpoch;
    if (epoch === null) {
      this.#passive('the primary died before the first checkpoint was committed');
      return;
    }
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
    if ((this.#state as SecondaryState) !== 'arbitrating') return;
    if (grant === null) {
      this.#passive(`the arbiter gave generation ${this.#generation + 1} to another node`);
      return;
    }
    this.#lease = new GrantLease(
      o.arbiter,
      o.arbiterTtlMs,
      (reason) => {
        if (this.#state !== 'serving') return;
        // Someone newer may hold the workload now: nothing more leaves this node.
        this.#path?.goCorked();
        this.#passive(reason);
      },
      (err) => this.#report(err),
    );
    this.#lease.hold(grant);
    this.#generation = grant.generation;
    this.#token = grant.token;
    try {
      const restoreStarted = process.hrtime.bigint();
      this.#restore();
      const restoreMs = elapsedMs(restoreStarted);
      this.#cork.setGeneration(grant.token);
      const result = await o.takeover({
        memory: o.memory,
        epoch,
        generation: grant.generation,
        fencingToken: grant.token,
      });
      if (
        result === null ||
        typeof result !== 'object' ||
        typeof result.output !== 'function' ||
        typeof result.guest?.setOutput !== 'function'
      )
        throw new InvalidOptionError('takeover', 'must return { guest, output, reemit? }');
      if ((this.#state as SecondaryState) !== 'arbitrating') return;
      const path = new OutputPath(this.#cork, result.output);
      path.releaseGate = () => grantIsValid(this.#lease?.grant ?? null);
      this.#path = path;
      this.#served = result;
      const reemitSink = result.reemit ?? result.output;
      for (const destinations of this.#batchDestinations.values())
        for (const destination of destinations) path.attachReemit(destination, reemitSink);
      const reemitted = this.#cork.reemit();
      this.#cork.open(Math.max(this.#cork.lastEpoch, epoch) + 1);
      path.goDirect();
      result.guest.setOutput(path.append);
      this.#setState('serving');
      this.emit('takeover', {
        epoch,
        generation: grant.generation,
        fencingToken: grant.token,
        reemitted,
        restoreMs,
        durationMs: elapsedMs(convicted),
        trigger,
      });
      // A serving node takes no new primary: protection comes back through protect(), where this
      // node is the primary.
      const server = this.#server;
      this.#server = null;
      if (server) await server.close();
    } catch (err) {
      this.#report(err as Error);
      await this.#o.arbiter.release(grant).catch(() => undefined);
      this.#passive(`takeover failed: ${(err as Error).message}`);
    }
  }

  protect(options: ProtectOptions): Primary {
    const served = this.#served;
    const path = this.#path;
    if (this.#state !== 'serving' || served === null || path === null || this.#protector !== null)
      throw new EngineStateError(
        `protect() in state ${this.#state}${this.#protector ? ' (a protecting primary exists)' : ''}`,
      );
    const handoff = survivorHandoff({
      guest: served.guest,
      output: served.output,
      arbiter: this.#o.arbiter,
      nodeId: this.#o.nodeId,
      generation: this.#generation,
      fencingToken: this.#token,
      path,
      serving: () => this.#state === 'serving',
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

  #passive(reason: string): void {
    this.#lease?.stop();
    this.#setState('passive');
    this.emit('passive', reason);
  }

  materialize(target: Uint8Array): number | null {
    if (this.#storeClosed) throw new EngineStateError('the store is closed');
    return this.#store.materialize(target);
  }

  setBudget(maxCheckpointBytes: number): BudgetChange {
    const m = this.#o.memory;
    if (
      typeof maxCheckpointBytes !== 'number' ||
      !Number.isSafeInteger(maxCheckpointBytes) ||
      maxCheckpointBytes < m.pageSizeBytes ||
      maxCheckpointBytes > m.sizeBytes
    )
      throw new InvalidArgumentError(
        `setBudget: the budget must be an integer from ${m.pageSizeBytes} (one page) to ${m.sizeBytes} bytes, got ${String(maxCheckpointBytes)}`,
      );
    const committed = this.#storeClosed ? 0 : (this.#store.committedEpoch ?? this.#syncEpoch - 1);
    const fromEpoch = this.#budget.set(maxCheckpointBytes, committed, this.#o.maxInFlight);
    const channel = this.#channel;
    const inSession =
      this.#phase === 'sync' || this.#phase === 'first-checkpoint' || this.#phase === 'checkpoints';
    if (inSession && channel && !channel.closed) {
      sendMessage(channel, {
        kind: 'BUDGET',
        memoryBudgetBytes: this.#o.store.ramBudgetBytes ?? 0,
        maxCheckpointBytes,
      });
    }
    return { maxCheckpointBytes, fromEpoch };
  }

  status(): SecondaryStatus {
    const cork = this.#cork.metrics();
    const rates = this.#rate.rates();
    const committed = this.#storeClosed ? null : this.#store.committedEpoch;
    const receiving = this.#receiver?.receivingEpoch ?? null;
    return {
      role: 'secondary',
      state: this.#state,
      nodeId: this.#o.nodeId,
      epoch: receiving ?? committed ?? 0,
      committedEpoch: committed ?? 0,
      generation: this.#generation,
      fencingToken: this.#token,
      pauseMs: new SampleWindow(1).summary(),
      checkpointBytes: this.#sizes.summary(),
      checkpointsPerSecond: rates.perSecond,
      bytesPerSecond: rates.bytesPerSecond,
      inFlight: receiving === null ? 0 : 1,
      cork: corkStatus(cork),
      peer: peerStatus(
        this.#keepalive,
        this.#peer?.nodeId ?? null,
        this.#channel,
        configuredSecurityMode(this.#o.channel),
      ),
      syncPages: this.#syncPages,
      store: this.#storeClosed ? null : this.#store.stats(),
      maxCheckpointBytes: this.#budget.currentBytes,
    };
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    if (this.#helloTimer) clearTimeout(this.#helloTimer);
    const heldGrant = this.#lease?.grant ?? null;
    const serving = this.#state === 'serving';
    this.#lease?.stop();
    this.#abortStaging();
    this.#phase = 'ended';
    const channel = this.#channel;
    if (channel && !channel.closed) {
      try {
        sendMessage(channel, { kind: 'GOODBYE', reason: 0, detail: 'the secondary closes' });
      } catch {
        // Already failing.
      }
      await channel.close().catch(() => undefined);
    }
    const server = this.#server;
    this.#server = null;
    if (server) await server.close().catch(() => undefined);
    const keepalive = this.#keepalive;
    this.#keepalive = null;
    if (keepalive) await keepalive.close().catch(() => undefined);
    if (heldGrant && !serving) await this.#o.arbiter.release(heldGrant).catch(() => undefined);
    if (!this.#storeClosed) {
      this.#storeClosed = true;
      this.#store.close();
    }
    this.#setState('closed');
  }
}

/** Creates a secondary. Nothing happens until `start()`. Options are validated here. */
export function createSecondary(options: SecondaryOptions): Secondary {
  return new SecondaryEngine(options);
}
