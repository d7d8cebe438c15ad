import { EventEmitter } from 'node:events';
import { type Clock, monotonicMs } from './clock.js';
import {
  DETECT_MULTIPLIER,
  FLAP_HOLD_MS,
  FLAP_WINDOW_MS,
  HANG_TIMEOUT_MS,
  HEARTBEAT_INTERVAL_MS,
  LATE_FACTOR,
  MAX_FLAP_HOLD_MS,
  PHI_ACCEPTABLE_PAUSE_MS,
  PHI_MIN_STD_DEV_MS,
  PHI_THRESHOLD,
  PHI_WINDOW_SIZE,
  STARTUP_TIMEOUT_MS,
  SUSPECT_FRACTION,
} from './constants.js';
import { InvalidArgumentError, InvalidOptionError } from './errors.js';
import type { Heartbeat, PeerRole } from './heartbeat-codec.js';
import { InterArrivalWindow } from './inter-arrival-window.js';
import { choiceOption, describe, numberOption } from './option-validation.js';
import { phi as phiOf } from './phi.js';

/** What the detector believes about the peer. `pending` until the first sign of life. */
export type PeerState = 'pending' | 'alive' | 'suspect' | 'dead';

/** Which rule convicts: BFD's fixed deadline, or phi accrual fitted to the observed heartbeats. */
export type DetectionRule = 'deadline' | 'phi';

/** Why the state changed. */
export type TransitionReason =
  /** A heartbeat arrived (to alive). */
  | 'heartbeat'
  /** Evidence of life from the data channel (to alive). */
  | 'evidence'
  /** This process itself stalled; the clocks were re-armed instead of convicting (to alive, no flap). */
  | 'rearmed'
  /** The peer restarted with a new incarnation (to alive, no flap). */
  | 'restart'
  /** No heartbeat and no other sign of life for too long, by the active rule (to suspect, dead). */
  | 'silence'
  /** Heartbeats arrive but the peer's main-loop progress counter has stopped (to suspect, dead). */
  | 'hung'
  /** The data channel was reset or reached EOF with no sign of life since (to suspect). */
  | 'data-channel'
  /** The peer announced that it is leaving (to dead). */
  | 'goodbye'
  /** Never a sign of life within the startup timeout (to dead). */
  | 'never-heard';

/**
 * Evidence of life from the data channel. `ack` is a reply the peer's application produced, so it also
 * proves the peer's main loop runs; `bytes` only proves that its host and the link carry data (a stopped
 * process's kernel keeps draining its socket buffer).
 */
export type EvidenceKind = 'ack' | 'bytes';

/** How the data channel ended. */
export type DataChannelLoss = 'reset' | 'eof' | 'error';

/** One heartbeat as received: its content and the receiver's monotonic arrival time. */
export interface HeartbeatArrival extends Heartbeat {
  /** Receiver's monotonic time at arrival, in milliseconds (the clock the detector uses). */
  atMs: number;
}

/** Payload of every state-change event. */
export interface StateChange {
  from: PeerState;
  to: PeerState;
  reason: TransitionReason;
  /** Monotonic time of the change, milliseconds. */
  atMs: number;
  /** Time since the last sign of life (heartbeat or data-channel evidence), milliseconds. */
  heartbeatAgeMs: number;
  /** Time since the peer's main loop was last seen making progress, milliseconds. */
  progressAgeMs: number;
  /** Phi at the time of the change, whatever the rule. */
  phi: number;
  /** Hold in suspect that flap damping imposed on this peer at the time of the change, milliseconds. */
  suspectHoldMs: number;
}

/** Payload of `flap`: the peer recovered after being suspected or convicted. */
export interface FlapEvent {
  atMs: number;
  /** Recoveries within the flap window, this one included. */
  recentFlaps: number;
  /** How long the peer will now be held in suspect before a conviction, milliseconds. */
  suspectHoldMs: number;
}

/** Payload of `self-pause`: this process stalled, so the detector re-armed instead of convicting. */
export interface SelfPauseEvent {
  atMs: number;
  /** How long the stall (or the backward clock jump) was, milliseconds. */
  stalledMs: number;
  /** `stall`: evaluations were too far apart; `clock`: time went backwards; `reported`: via `selfPause()`. */
  cause: 'stall' | 'clock' | 'reported';
}

/** Payload of `restart`: heartbeats now come from a new incarnation of the peer. */
export interface RestartEvent {
  atMs: number;
  incarnation: number;
  previousIncarnation: number;
}

/** Events of a {@link FailureDetector}. */
export interface FailureDetectorEvents {
  /** Every state change. */
  change: [StateChange];
  alive: [StateChange];
  suspect: [StateChange];
  dead: [StateChange];
  flap: [FlapEvent];
  'self-pause': [SelfPauseEvent];
  restart: [RestartEvent];
  /** Every heartbeat recorded (stale ones excepted): for tracing and replaying a link's behaviour. */
  heartbeat: [HeartbeatArrival];
}

/** What the peer last said about itself. */
export interface PeerInfo {
  role: PeerRole;
  epoch: number;
  incarnation: number;
  sequence: number;
  progress: number;
  /** The peer's own heartbeat interval, milliseconds. */
  intervalMs: number;
}

/** A snapshot of the detector; every figure is computed whatever the rule. */
export interface DetectorStatus {
  state: PeerState;
  rule: DetectionRule;
  /** Reason of the last state change (undefined while pending). */
  reason: TransitionReason | undefined;
  /** Monotonic time of the last state change, milliseconds. */
  sinceMs: number;
  /** Time since the last sign of life (heartbeat or data evidence, reset by a re-arm), milliseconds. */
  heartbeatAgeMs: number;
  /** Time since the last heartbeat itself, milliseconds; NaN before the first. */
  lastHeartbeatAgeMs: number;
  /** Time since the peer's main loop was last seen making progress, milliseconds. */
  progressAgeMs: number;
  /** Phi accrual suspicion level now. */
  phi: number;
  /** Conviction level now: 1 means the active rule (or the hang rule) convicts. */
  level: number;
  /** Deadline of the deadline rule: multiplier x expected interval, milliseconds. */
  detectionTimeMs: number;
  /** Interval the peer is expected to send at: the larger of ours and the one it advertises, milliseconds. */
  expectedIntervalMs: number;
  /** Mean of the recent inter-arrival times, milliseconds (NaN before two heartbeats). */
  meanIntervalMs: number;
  /** Standard deviation of the recent inter-arrival times, milliseconds (NaN before two heartbeats). */
  stdDevMs: number;
  /** Inter-arrival samples in the phi window. */
  samples: number;
  heartbeatsReceived: number;
  /** Heartbeats that arrived more than 2 expected intervals after the previous one. */
  heartbeatsLate: number;
  /** Heartbeats never received, from gaps in the sequence numbers. */
  heartbeatsMissed: number;
  /** Heartbeats older than one already seen (reordered or replayed), ignored. */
  heartbeatsStale: number;
  evidenceAcks: number;
  evidenceBytes: number;
  dataChannelLosses: number;
  suspicions: number;
  convictions: number;
  /** Recoveries after a suspicion or conviction (flaps), over the detector's life. */
  flaps: number;
  /** Flaps within the flap window. */
  recentFlaps: number;
  /** Current hold in suspect imposed by flap damping, milliseconds. */
  suspectHoldMs: number;
  selfPauses: number;
  restarts: number;
  /**
   * Queueing delay of the last heartbeat above the smallest one seen from this incarnation,
   * milliseconds: how much the path is backed up (the clock offset between hosts cancels out).
   */
  queueDelayMs: number;
  /** What the peer last said about itself; undefined before the first heartbeat. */
  peer: PeerInfo | undefined;
}

/** Options of {@link createFailureDetector}. */
export interface FailureDetectorOptions {
  /**
   * Rule that convicts a silent peer: `deadline` (BFD: `multiplier x intervalMs` without a sign of life)
   * or `phi` (phi accrual over the recent inter-arrival times). Phi is computed and reported either way.
   * @default 'deadline'
   */
  rule?: DetectionRule;
  /**
   * Interval at which the peer is expected to send heartbeats, milliseconds. If the peer advertises a
   * longer one in its heartbeats, that one is used.
   * @default 20
   */
  intervalMs?: number;
  /**
   * Deadline rule: heartbeat intervals without a sign of life before conviction (BFD's detect
   * multiplier). Detection time = `multiplier x intervalMs`.
   * @default 5
   */
  multiplier?: number;
  /**
   * Phi rule: phi at which the peer is convicted.
   * @default 8
   */
  phiThreshold?: number;
  /**
   * Phi rule: floor of the fitted standard deviation of inter-arrival times, milliseconds.
   * @default 10
   */
  minStdDevMs?: number;
  /**
   * Phi rule: pause added to the fitted mean inter-arrival time, milliseconds.
   * @default 40
   */
  acceptablePauseMs?: number;
  /**
   * Phi rule: number of recent inter-arrival times the distribution is fitted to.
   * @default 100
   */
  windowSize?: number;
  /**
   * Fraction of the conviction level at which the peer becomes suspect (0 < f < 1): with the defaults,
   * suspect after 50 ms of silence, dead after 100 ms.
   * @default 0.5
   */
  suspectFraction?: number;
  /**
   * A peer whose heartbeats arrive but whose main-loop progress counter has not moved for this long is
   * convicted as hung, milliseconds. `Infinity` disables the hang rule.
   * @default 500
   */
  hangTimeoutMs?: number;
  /**
   * Flap damping: hold in suspect before a conviction after one recent flap, milliseconds; every further
   * recent flap doubles it.
   * @default 100
   */
  flapHoldMs?: number;
  /**
   * Flap damping: the longest hold in suspect, milliseconds.
   * @default 3200
   */
  maxFlapHoldMs?: number;
  /**
   * Flap damping: how long a flap counts as recent, milliseconds.
   * @default 30000
   */
  flapWindowMs?: number;
  /**
   * Self-pause guard: if two evaluations are further apart than this (this process was stalled, or the
   * clock jumped), the detector re-arms instead of convicting, milliseconds.
   * @default multiplier x intervalMs (the detection window, 100 ms with the defaults)
   */
  selfPauseMs?: number;
  /**
   * A peer never heard from is convicted (reason `never-heard`) after this long, milliseconds;
   * `Infinity` waits forever.
   * @default 10000
   */
  startupTimeoutMs?: number;
  /**
   * Monotonic clock in milliseconds. Tests pass a fake one.
   * @default CLOCK_MONOTONIC via process.hrtime()
   */
  clock?: Clock;
}

/** Options after validation, defaults filled in. */
export type ResolvedFailureDetectorOptions = Required<FailureDetectorOptions>;

const NONE = Number.NEGATIVE_INFINITY;
const POSITIVE = { above: 0 } as const;
const POSITIVE_OR_INFINITE = { above: 0, max: Number.POSITIVE_INFINITY } as const;

/** Validates every detector option and fills in the defaults; throws InvalidOptionError naming the option. */
export function resolveFailureDetectorOptions(
  options: FailureDetectorOptions = {},
): ResolvedFailureDetectorOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('options', `must be an object, got ${describe(options)}`);
  }
  const intervalMs = numberOption('intervalMs', options.intervalMs, HEARTBEAT_INTERVAL_MS, {
    above: 0,
    max: 60_000,
  });
  const multiplier = numberOption('multiplier', options.multiplier, DETECT_MULTIPLIER, {
    min: 1,
    max: 1_000,
  });
  const flapHoldMs = numberOption('flapHoldMs', options.flapHoldMs, FLAP_HOLD_MS, { min: 0 });
  const maxFlapHoldMs = numberOption('maxFlapHoldMs', options.maxFlapHoldMs, MAX_FLAP_HOLD_MS, { min: 0 });
  if (maxFlapHoldMs < flapHoldMs) {
    throw new InvalidOptionError(
      'maxFlapHoldMs',
      `must be >= flapHoldMs (${flapHoldMs}), got ${maxFlapHoldMs}`,
    );
  }
  const clock = options.clock ?? monotonicMs;
  if (typeof clock !== 'function')
    throw new InvalidOptionError('clock', `must be a function, got ${describe(clock)}`);
  return {
    rule: choiceOption('rule', options.rule, 'deadline', ['deadline', 'phi']),
    intervalMs,
    multiplier,
    phiThreshold: numberOption('phiThreshold', options.phiThreshold, PHI_THRESHOLD, POSITIVE),
    minStdDevMs: numberOption('minStdDevMs', options.minStdDevMs, PHI_MIN_STD_DEV_MS, POSITIVE),
    acceptablePauseMs: numberOption('acceptablePauseMs', options.acceptablePauseMs, PHI_ACCEPTABLE_PAUSE_MS, {
      min: 0,
    }),
    windowSize: numberOption('windowSize', options.windowSize, PHI_WINDOW_SIZE, {
      integer: true,
      min: 2,
      max: 100_000,
    }),
    suspectFraction: numberOption('suspectFraction', options.suspectFraction, SUSPECT_FRACTION, {
      above: 0,
      max: 1,
    }),
    hangTimeoutMs: numberOption(
      'hangTimeoutMs',
      options.hangTimeoutMs,
      HANG_TIMEOUT_MS,
      POSITIVE_OR_INFINITE,
    ),
    flapHoldMs,
    maxFlapHoldMs,
    flapWindowMs: numberOption('flapWindowMs', options.flapWindowMs, FLAP_WINDOW_MS, POSITIVE),
    selfPauseMs: numberOption('selfPauseMs', options.selfPauseMs, multiplier * intervalMs, POSITIVE),
    startupTimeoutMs: numberOption(
      'startupTimeoutMs',
      options.startupTimeoutMs,
      STARTUP_TIMEOUT_MS,
      POSITIVE_OR_INFINITE,
    ),
    clock,
  };
}

interface Levels {
  heartbeatAgeMs: number;
  progressAgeMs: number;
  phi: number;
  /** max(silence level, hang level); 1 convicts. */
  level: number;
  suspect: boolean;
  dead: boolean;
  reason: TransitionReason;
}

/**
 * Decides whether the peer is alive, suspect or dead from heartbeat arrivals and data-channel evidence.
 * Pure logic on a clock: it opens no socket and runs no timer. Feed it with {@link FailureDetector.heartbeat}
 * and {@link FailureDetector.evidenceOfLife}, and call {@link FailureDetector.evaluate} regularly (the
 * keepalive does so every 5 ms); state changes are emitted from `evaluate()` and `dataChannelLost()`.
 */
export class FailureDetector extends EventEmitter<FailureDetectorEvents> {
  readonly options: Readonly<ResolvedFailureDetectorOptions>;
  readonly #clock: Clock;
  readonly #window: InterArrivalWindow;
  #state: PeerState = 'pending';
  #reason: TransitionReason | undefined;
  #sinceMs: number;
  #suspectSinceMs = NONE;
  #deadSinceMs = NONE;
  #rearmAtMs: number;
  #lastEvaluateAtMs: number | undefined;
  #lastHeartbeatAtMs = NONE;
  #lastEvidenceAtMs = NONE;
  #lastAckAtMs = NONE;
  #lastProgressAtMs = NONE;
  #channelLostAtMs = NONE;
  #goodbye = false;
  #restartPending = false;
  #peer: PeerInfo | undefined;
  #minDelayMs = Number.POSITIVE_INFINITY;
  #queueDelayMs = 0;
  readonly #flapTimes: number[] = [];
  #counters = {
    heartbeatsReceived: 0,
    heartbeatsLate: 0,
    heartbeatsMissed: 0,
    heartbeatsStale: 0,
    evidenceAcks: 0,
    evidenceBytes: 0,
    dataChannelLosses: 0,
    suspicions: 0,
    convictions: 0,
    flaps: 0,
    selfPauses: 0,
    restarts: 0,
  };

  constructor(options: FailureDetectorOptions = {}) {
    super();
    this.options = Object.freeze(resolveFailureDetectorOptions(options));
    this.#clock = this.options.clock;
    this.#window = new InterArrivalWindow(this.options.windowSize);
    const now = this.#clock();
    this.#sinceMs = now;
    this.#rearmAtMs = now;
  }

  /** The current state (as of the last `evaluate()`). */
  get state(): PeerState {
    return this.#state;
  }

  /**
   * Records one heartbeat. A heartbeat whose sequence number is not above the last one of the same
   * incarnation (reordered or replayed) is counted as stale and ignored; a new incarnation resets the
   * statistics and the flap history (the peer restarted). Does not change the state by itself: the next
   * `evaluate()` does.
   */
  heartbeat(arrival: HeartbeatArrival): void {
    if (!Number.isFinite(arrival.atMs))
      throw new InvalidArgumentError(`arrival atMs must be finite: ${arrival.atMs}`);
    const previous = this.#peer;
    if (previous !== undefined && previous.incarnation !== arrival.incarnation) {
      this.#restart(arrival, previous.incarnation);
    } else if (previous !== undefined && arrival.sequence <= previous.sequence) {
      this.#counters.heartbeatsStale++;
      return;
    }
    const c = this.#counters;
    c.heartbeatsReceived++;
    const expected = Math.max(this.options.intervalMs, arrival.intervalMs);
    const lastAt = this.#lastHeartbeatAtMs;
    if (lastAt !== NONE && arrival.atMs >= lastAt) {
      const gap = arrival.atMs - lastAt;
      // A gap that spans a re-arm measures our own stall, not the peer's rhythm.
      if (!(lastAt < this.#rearmAtMs && this.#rearmAtMs <= arrival.atMs)) {
        this.#window.add(gap);
        if (gap > LATE_FACTOR * expected) c.heartbeatsLate++;
      }
    }
    if (this.#peer !== undefined)
      c.heartbeatsMissed += Math.max(0, arrival.sequence - this.#peer.sequence - 1);
    if (this.#peer === undefined || this.#peer.progress !== arrival.progress) {
      this.#lastProgressAtMs = Math.max(this.#lastProgressAtMs, arrival.atMs);
    }
    this.#lastHeartbeatAtMs = Math.max(lastAt, arrival.atMs);
    const delay = arrival.atMs - arrival.senderTimeMs;
    this.#minDelayMs = Math.min(this.#minDelayMs, delay);
    this.#queueDelayMs = delay - this.#minDelayMs;
    if (arrival.goodbye) this.#goodbye = true;
    this.#peer = {
      role: arrival.role,
      epoch: arrival.epoch,
      incarnation: arrival.incarnation,
      sequence: arrival.sequence,
      progress: arrival.progress,
      intervalMs: arrival.intervalMs,
    };
    this.emit('heartbeat', arrival);
  }

  /**
   * Records evidence of life from the data channel at `atMs` (now by default). Its absence never counts
   * against the peer. `ack` also counts as main-loop progress; `bytes` does not.
   */
  evidenceOfLife(kind: EvidenceKind = 'ack', atMs: number = this.#clock()): void {
    if (kind !== 'ack' && kind !== 'bytes') throw new InvalidArgumentError(`evidence kind ${describe(kind)}`);
    this.#lastEvidenceAtMs = Math.max(this.#lastEvidenceAtMs, atMs);
    if (kind === 'ack') {
      this.#counters.evidenceAcks++;
      this.#lastAckAtMs = Math.max(this.#lastAckAtMs, atMs);
    } else {
      this.#counters.evidenceBytes++;
    }
  }

  /**
   * The data channel was reset or reached EOF: an alive peer becomes suspect at once. It stays suspect
   * until a sign of life newer than the loss, and is convicted by the active rule if none comes.
   */
  dataChannelLost(reason: DataChannelLoss = 'reset', atMs: number = this.#clock()): void {
    if (reason !== 'reset' && reason !== 'eof' && reason !== 'error') {
      throw new InvalidArgumentError(`data channel loss ${describe(reason)}`);
    }
    this.#counters.dataChannelLosses++;
    this.#channelLostAtMs = Math.max(this.#channelLostAtMs, atMs);
    if (this.#state === 'alive') this.#transition('suspect', 'data-channel', atMs, this.#levels(atMs));
  }

  /**
   * Reports that this process was stalled for `stalledMs` (for example the heartbeat receiver's own
   * thread). A stall longer than `selfPauseMs` re-arms the detector. Returns whether it did.
   */
  selfPause(stalledMs: number, atMs: number = this.#clock()): boolean {
    if (!(stalledMs > this.options.selfPauseMs)) return false;
    this.#rearm(atMs, stalledMs, 'reported');
    return true;
  }

  /**
   * Restarts every clock as if the peer had just been heard at `atMs` (now by default), without counting
   * a self-pause: the keepalive calls it when its socket starts, so that the time spent before does not
   * count against the peer.
   */
  rearm(atMs: number = this.#clock()): void {
    this.#rearmAtMs = atMs;
    this.#lastEvaluateAtMs = undefined;
  }

  /**
   * Applies the rules at `nowMs` (now by default), emits the resulting state changes, and returns the
   * state. Two evaluations further apart than `selfPauseMs`, or time running backwards, re-arm the
   * detector first (the self-pause guard).
   */
  evaluate(nowMs: number = this.#clock()): PeerState {
    const last = this.#lastEvaluateAtMs;
    if (last !== undefined) {
      if (nowMs < last) this.#rearm(nowMs, last - nowMs, 'clock');
      else if (nowMs - last > this.options.selfPauseMs) this.#rearm(nowMs, nowMs - last, 'stall');
    }
    this.#lastEvaluateAtMs = nowMs;
    const levels = this.#levels(nowMs);
    const lifeAt = Math.max(this.#lastHeartbeatAtMs, this.#lastEvidenceAtMs);
    const lifeReason: TransitionReason = this.#restartPending
      ? 'restart'
      : this.#lastHeartbeatAtMs >= this.#lastEvidenceAtMs
        ? 'heartbeat'
        : 'evidence';
    switch (this.#state) {
      case 'pending':
        if (lifeAt !== NONE) this.#recover(nowMs, levels, lifeReason, false);
        else if (nowMs - this.#rearmAtMs >= this.options.startupTimeoutMs) {
          this.#transition('dead', 'never-heard', nowMs, levels);
        }
        break;
      case 'alive':
        if (levels.suspect) {
          this.#transition('suspect', levels.reason, nowMs, levels);
          this.#maybeConvict(nowMs, levels);
        }
        break;
      case 'suspect':
        if (!levels.suspect) {
          const byLife = lifeAt > this.#suspectSinceMs;
          this.#recover(nowMs, levels, byLife ? lifeReason : 'rearmed', byLife && !this.#restartPending);
        } else {
          this.#maybeConvict(nowMs, levels);
        }
        break;
      case 'dead':
        // A re-arm lowers the levels too, but only a sign of life raises the dead.
        if (!levels.suspect && lifeAt > this.#deadSinceMs) {
          this.#recover(nowMs, levels, lifeReason, !this.#restartPending);
        }
        break;
    }
    return this.#state;
  }

  /** A snapshot at `nowMs` (now by default); does not change the state. */
  status(nowMs: number = this.#clock()): DetectorStatus {
    const levels = this.#levels(nowMs);
    const samples = this.#window.size;
    return {
      state: this.#state,
      rule: this.options.rule,
      reason: this.#reason,
      sinceMs: this.#sinceMs,
      heartbeatAgeMs: levels.heartbeatAgeMs,
      lastHeartbeatAgeMs: this.#lastHeartbeatAtMs === NONE ? Number.NaN : nowMs - this.#lastHeartbeatAtMs,
      progressAgeMs: levels.progressAgeMs,
      phi: levels.phi,
      level: levels.level,
      detectionTimeMs: this.#detectionTimeMs(),
      expectedIntervalMs: this.#expectedIntervalMs(),
      meanIntervalMs: samples >= 2 ? this.#window.mean() : Number.NaN,
      stdDevMs: samples >= 2 ? this.#window.stdDev() : Number.NaN,
      samples,
      ...this.#counters,
      recentFlaps: this.#recentFlaps(nowMs),
      suspectHoldMs: this.#holdMs(nowMs),
      queueDelayMs: this.#queueDelayMs,
      peer: this.#peer === undefined ? undefined : { ...this.#peer },
    };
  }

  #expectedIntervalMs(): number {
    return Math.max(this.options.intervalMs, this.#peer?.intervalMs ?? 0);
  }

  #detectionTimeMs(): number {
    return this.options.multiplier * this.#expectedIntervalMs();
  }

  #levels(nowMs: number): Levels {
    const o = this.options;
    const lastLifeAt = Math.max(this.#lastHeartbeatAtMs, this.#lastEvidenceAtMs);
    const heartbeatAgeMs = Math.max(0, nowMs - Math.max(lastLifeAt, this.#rearmAtMs));
    const progressAt = Math.max(this.#lastProgressAtMs, this.#lastAckAtMs, this.#rearmAtMs);
    const progressAgeMs = lastLifeAt === NONE ? 0 : Math.max(0, nowMs - progressAt);
    const expected = this.#expectedIntervalMs();
    const fitted = this.#window.size >= 2;
    const mean = (fitted ? this.#window.mean() : expected) + o.acceptablePauseMs;
    const stdDev = Math.max(fitted ? this.#window.stdDev() : expected / 4, o.minStdDevMs);
    const phi = phiOf(heartbeatAgeMs, mean, stdDev);
    const silence = o.rule === 'deadline' ? heartbeatAgeMs / this.#detectionTimeMs() : phi / o.phiThreshold;
    const hang = progressAgeMs / o.hangTimeoutMs;
    const level = Math.max(silence, hang);
    const channel = this.#channelLostAtMs !== NONE && this.#channelLostAtMs > lastLifeAt;
    const suspectByLevel = level >= o.suspectFraction;
    let reason: TransitionReason;
    if (this.#goodbye) reason = 'goodbye';
    else if (suspectByLevel) reason = silence >= hang ? 'silence' : 'hung';
    else reason = 'data-channel';
    return {
      heartbeatAgeMs,
      progressAgeMs,
      phi,
      level,
      suspect: suspectByLevel || channel || this.#goodbye,
      dead: level >= 1 || this.#goodbye,
      reason,
    };
  }

  #maybeConvict(nowMs: number, levels: Levels): void {
    if (!levels.dead) return;
    if (levels.reason !== 'goodbye' && nowMs - this.#suspectSinceMs < this.#holdMs(nowMs)) return;
    this.#transition('dead', levels.reason, nowMs, levels);
  }

  #recover(nowMs: number, levels: Levels, reason: TransitionReason, isFlap: boolean): void {
    this.#restartPending = false;
    this.#transition('alive', reason, nowMs, levels);
    if (!isFlap) return;
    this.#flapTimes.push(nowMs);
    this.#counters.flaps++;
    const recentFlaps = this.#recentFlaps(nowMs);
    this.emit('flap', { atMs: nowMs, recentFlaps, suspectHoldMs: this.#holdMs(nowMs) });
  }

  #recentFlaps(nowMs: number): number {
    const horizon = nowMs - this.options.flapWindowMs;
    while (this.#flapTimes.length > 0 && this.#flapTimes[0]! <= horizon) this.#flapTimes.shift();
    return this.#flapTimes.length;
  }

  #holdMs(nowMs: number): number {
    const recent = this.#recentFlaps(nowMs);
    if (recent === 0) return 0;
    // Capping the exponent keeps 2 ** n finite however long a peer keeps flapping.
    return Math.min(this.options.maxFlapHoldMs, this.options.flapHoldMs * 2 ** Math.min(recent - 1, 60));
  }

  #rearm(atMs: number, stalledMs: number, cause: SelfPauseEvent['cause']): void {
    if (cause === 'clock') this.#clampTimesTo(atMs);
    this.#rearmAtMs = Math.max(this.#rearmAtMs, atMs);
    this.#counters.selfPauses++;
    this.emit('self-pause', { atMs, stalledMs, cause });
  }

  /** After time ran backwards, nothing may have happened "in the future": pull every stamp back to now. */
  #clampTimesTo(nowMs: number): void {
    const clamp = (t: number) => Math.min(t, nowMs);
    this.#rearmAtMs = clamp(this.#rearmAtMs);
    this.#lastHeartbeatAtMs = clamp(this.#lastHeartbeatAtMs);
    this.#lastEvidenceAtMs = clamp(this.#lastEvidenceAtMs);
    this.#lastAckAtMs = clamp(this.#lastAckAtMs);
    this.#lastProgressAtMs = clamp(this.#lastProgressAtMs);
    this.#channelLostAtMs = clamp(this.#channelLostAtMs);
    this.#suspectSinceMs = clamp(this.#suspectSinceMs);
    this.#deadSinceMs = clamp(this.#deadSinceMs);
    this.#sinceMs = clamp(this.#sinceMs);
    for (let i = 0; i < this.#flapTimes.length; i++) this.#flapTimes[i] = clamp(this.#flapTimes[i]!);
  }

  #restart(arrival: HeartbeatArrival, previousIncarnation: number): void {
    this.#window.clear();
    this.#flapTimes.length = 0;
    this.#lastHeartbeatAtMs = NONE;
    this.#lastProgressAtMs = NONE;
    this.#minDelayMs = Number.POSITIVE_INFINITY;
    this.#goodbye = false;
    this.#peer = undefined;
    this.#restartPending = true;
    this.#counters.restarts++;
    this.emit('restart', { atMs: arrival.atMs, incarnation: arrival.incarnation, previousIncarnation });
  }

  #transition(to: PeerState, reason: TransitionReason, atMs: number, levels: Levels): void {
    const from = this.#state;
    this.#state = to;
    this.#reason = reason;
    this.#sinceMs = atMs;
    if (to === 'suspect') {
      this.#suspectSinceMs = atMs;
      this.#counters.suspicions++;
    } else if (to === 'dead') {
      this.#deadSinceMs = atMs;
      this.#counters.convictions++;
    }
    const change: StateChange = {
      from,
      to,
      reason,
      atMs,
      heartbeatAgeMs: levels.heartbeatAgeMs,
      progressAgeMs: levels.progressAgeMs,
      phi: levels.phi,
      suspectHoldMs: this.#holdMs(atMs),
    };
    this.emit('change', change);
    if (to !== 'pending') this.emit(to, change);
  }
}

/**
 * Creates a failure detector for one peer. Every option is validated here; a bad one throws
 * `InvalidOptionError` (`MC_ERR_INVALID_OPTION`) naming it.
 */
export function createFailureDetector(options: FailureDetectorOptions = {}): FailureDetector {
  return new FailureDetector(options);
}
