import {
  DIRTY_QUOTA_FRACTION,
  DIRTY_RATE_SMOOTHING_MS,
  LINK_RATE_SMOOTHING,
  THROTTLE_MAX_PERCENT,
} from '../constants.js';
import type { GuestMemory } from '../guest-memory.js';
import type { Guest } from '../guests/contract.js';
import {
  type CheckpointPolicy,
  checkDecision,
  type PolicyDecision,
  type PolicyInput,
  sameDecision,
} from '../policy/contract.js';
import { defaultPolicy, throttleUp } from '../policy/default-policy.js';
import { AveragedRate, SmoothedRate } from './rates.js';

/**
 * Who decided:
 * - `policy`: the policy function, while protected.
 * - `sync`: the engine's auto-converge rule during the live sync (a pass that does not converge
 *   throttles the guest one step up; at the cap the last pass runs with the guest paused).
 * - `budget`: the engine's hard rule: a captured checkpoint larger than the budget is not shipped;
 *   the guest stays paused until the secondary raises its budget.
 */
export type PolicySource = 'policy' | 'sync' | 'budget';

/** A change of the decision, or of who took it (the `'policy'` event of a primary). */
export interface PolicyEvent {
  decision: PolicyDecision;
  previous: PolicyDecision;
  source: PolicySource;
  /** What the policy saw (null for decisions taken outside the policy function). */
  input: Readonly<PolicyInput> | null;
  /** The throttle after this decision, percent. */
  throttlePercent: number;
}

/** The policy part of a primary's `status()`. */
export interface PolicyStatus {
  /** The last decision (of the policy function, or of the engine's sync and budget rules). */
  decision: PolicyDecision;
  /** Share of wall time the guest is kept from running, percent. */
  throttlePercent: number;
  /** Page bytes dirty at the last check. */
  dirtyBytes: number;
  /** The last prediction of the next checkpoint's size, bytes. */
  predictedBytes: number;
  /** Smoothed bytes of new dirty pages per second of guest running time. */
  dirtyRateBytesPerSec: number;
  /** Smoothed checkpoint bytes per second from shipping to ACK; 0 before the first measured ACK. */
  linkRateBytesPerSec: number;
  /** The secondary's budget now: the largest checkpoint it accepts, bytes. */
  budgetBytes: number;
  /**
   * The guest's dirty quota, pages: it waits at its safe points while this many pages are dirty
   * (`DIRTY_QUOTA_FRACTION` of the budget); 0 when none is set or the guest has no quota.
   */
  dirtyQuotaPages: number;
  /** Decision changes so far (each was a `'policy'` event). */
  decisionChanges: number;
  /** The guest is paused by a `pause` decision, until the next checkpoint is captured. */
  pausedByPolicy: boolean;
  /**
   * Bytes of a captured checkpoint held back because they exceed the budget (guest paused until the
   * secondary raises it); 0 normally.
   */
  blockedBytes: number;
}

/** What the runner needs from the primary. */
export interface PolicyHost {
  readonly memory: GuestMemory;
  readonly guest: Guest;
  readonly epochMs: number;
  budgetBytes(): number;
  /** True while no decision may be taken (not protected, capturing, handing over, blocked). */
  busy(): boolean;
  canCheckpointNow(): boolean;
  /** Bytes shipped and not acknowledged, and time since the oldest of them was shipped, ms. */
  inFlight(): { bytes: number; sinceShippedMs: number };
  epochElapsedMs(): number;
  shorten(): void;
  pauseUntilCheckpoint(): void;
  failover(reason: string): void;
  report(error: Error): void;
  emit(event: PolicyEvent): void;
}

const PROCEED: PolicyDecision = { kind: 'proceed' };

/**
 * The engine side of the policy: measures (dirty bytes, dirty rate, link rate), asks the policy every
 * `intervalMs`, applies its decisions, and reports every change.
 */
export class PolicyRunner {
  readonly #host: PolicyHost;
  readonly #policy: CheckpointPolicy;
  readonly #intervalMs: number;
  readonly #dirtyRate = new SmoothedRate(DIRTY_RATE_SMOOTHING_MS);
  readonly #linkRate = new AveragedRate(LINK_RATE_SMOOTHING);
  #decision: PolicyDecision = PROCEED;
  #source: PolicySource = 'policy';
  #changes = 0;
  #throttle = 0;
  #throttleChangedAt = performance.now();
  #timer: NodeJS.Timeout | null = null;
  #paused = false;
  #blockedBytes = 0;
  #lastInput: PolicyInput | null = null;
  /** Dirty bytes and time of the last sample (null: the next sample only sets the baseline). */
  #sample: { atMs: number; bytes: number } | null = null;
  #capturedSinceSample = 0;
  #quotaPages = 0;
  /** Epochs cut early, paused for or stretched since the throttle last changed. */
  #strained = 0;

  constructor(host: PolicyHost, policy: CheckpointPolicy, intervalMs: number) {
    this.#host = host;
    this.#policy = policy;
    this.#intervalMs = intervalMs;
  }

  get throttlePercent(): number {
    return this.#throttle;
  }

  get pausedByPolicy(): boolean {
    return this.#paused;
  }

  start(): void {
    this.stop();
    this.#throttleChangedAt = performance.now();
    this.#strained = 0;
    this.#timer = setInterval(() => this.check(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Protection ended: the guest runs at full speed again, without a dirty quota. */
  liftThrottle(): void {
    this.#paused = false;
    this.#blockedBytes = 0;
    if (this.#throttle !== 0) this.#setThrottle(0);
    this.#setQuota(0);
  }

  /**
   * Gives the guest its dirty quota from the budget now; called after every capture too, which tells
   * a guest waiting on its quota to look again.
   */
  applyDirtyQuota(): void {
    const m = this.#host.memory;
    this.#setQuota(
      Math.max(1, Math.floor((this.#host.budgetBytes() * DIRTY_QUOTA_FRACTION) / m.pageSizeBytes)),
    );
  }

  #setQuota(pages: number): void {
    const guest = this.#host.guest;
    if (typeof guest.setDirtyQuota !== 'function') return;
    try {
      guest.setDirtyQuota(pages);
      this.#quotaPages = pages;
    } catch (err) {
      this.#host.report(err as Error);
    }
  }

  /** A checkpoint of `bytes` was captured: the guest runs again, and the dirty log starts empty. */
  onCapture(bytes: number): void {
    this.#paused = false;
    this.#blockedBytes = 0;
    if (this.#sample !== null) this.#capturedSinceSample += bytes;
  }

  /** An epoch was stretched: its checkpoint waits for the ACK of the one before. */
  onStretch(): void {
    this.#strained++;
  }

  /** A checkpoint of `bytes` was acknowledged `shipMs` after it was shipped. */
  onAck(bytes: number, shipMs: number): void {
    // An empty checkpoint measures latency, not bandwidth.
    if (bytes >= this.#host.memory.pageSizeBytes) this.#linkRate.add(bytes, shipMs);
  }

  /** The engine's budget rule held back a capture of `bytes`; the guest stays paused. */
  onBlocked(bytes: number, budget: number): void {
    this.#blockedBytes = bytes;
    this.#record(
      {
        kind: 'pause',
        reason: `a checkpoint of ${bytes} bytes exceeds the budget of ${budget}: the guest waits for a larger budget`,
      },
      'budget',
      null,
    );
  }

  /** Live sync: a pass did not converge; throttle one step up. Returns false at the cap. */
  syncThrottleUp(pages: number, previousPages: number): boolean {
    if (this.#throttle >= THROTTLE_MAX_PERCENT || typeof this.#host.guest.throttle !== 'function')
      return false;
    const percent = throttleUp(this.#throttle);
    if (!this.#setThrottle(percent)) return false;
    this.#record(
      {
        kind: 'throttle',
        percent,
        reason: `sync pass of ${pages} pages after one of ${previousPages}: not converging`,
      },
      'sync',
      null,
    );
    return true;
  }

  /** Records a decision the engine took itself (a stop-and-copy pass of the sync). */
  recordEngineDecision(decision: PolicyDecision, source: PolicySource): void {
    this.#record(decision, source, null);
  }

  /** One policy check: measure, decide, apply. A throttle change is applied, then the policy asked again. */
  check(): void {
    const host = this.#host;
    if (host.busy()) {
      this.#sample = null;
      return;
    }
    for (let round = 0; round < 2; round++) {
      const input = this.#measure();
      const decision = this.#decide(input);
      this.#record(decision, 'policy', input);
      if (!this.#apply(decision)) return;
    }
  }

  status(): PolicyStatus {
    const host = this.#host;
    const dirtyBytes = host.memory.dirtyPageCount() * host.memory.pageSizeBytes;
    return {
      decision: this.#decision,
      throttlePercent: this.#throttle,
      dirtyBytes,
      predictedBytes: this.#lastInput?.predictedBytes ?? dirtyBytes,
      dirtyRateBytesPerSec: this.#dirtyRate.bytesPerSec,
      linkRateBytesPerSec: this.#linkRate.bytesPerSec,
      budgetBytes: host.budgetBytes(),
      dirtyQuotaPages: this.#quotaPages,
      decisionChanges: this.#changes,
      pausedByPolicy: this.#paused,
      blockedBytes: this.#blockedBytes,
    };
  }

  #measure(): PolicyInput {
    const host = this.#host;
    const now = performance.now();
    const dirtyBytes = host.memory.dirtyPageCount() * host.memory.pageSizeBytes;
    // A guest at its dirty quota waits: that time shows the link's pace, not the guest's demand.
    const atQuota = this.#quotaPages > 0 && dirtyBytes >= this.#quotaPages * host.memory.pageSizeBytes;
    const running = host.guest.state === 'running' && !this.#paused && !atQuota;
    if (running && this.#sample !== null) {
      const dirtied = Math.max(0, dirtyBytes - this.#sample.bytes + this.#capturedSinceSample);
      this.#dirtyRate.add(dirtied, now - this.#sample.atMs);
    }
    // Time the guest spends paused is not time it could dirty pages in: start again from here.
    this.#sample = running ? { atMs: now, bytes: dirtyBytes } : null;
    this.#capturedSinceSample = 0;
    const dirtyRate = this.#dirtyRate.bytesPerSec;
    const linkRate = this.#linkRate.bytesPerSec;
    const canCheckpointNow = host.canCheckpointNow();
    let horizonMs = this.#intervalMs;
    if (!canCheckpointNow) {
      const flight = host.inFlight();
      const ackWaitMs =
        linkRate > 0 ? (flight.bytes * 1000) / linkRate - flight.sinceShippedMs : host.epochMs;
      horizonMs += Math.max(0, ackWaitMs);
    }
    const input: PolicyInput = {
      predictedBytes: dirtyBytes + (dirtyRate * horizonMs) / 1000,
      dirtyBytes,
      secondaryBudgetBytes: host.budgetBytes(),
      dirtyRateBytesPerSec: dirtyRate,
      linkRateBytesPerSec: linkRate,
      epochMs: host.epochMs,
      elapsedInEpochMs: host.epochElapsedMs(),
      throttlePercent: this.#throttle,
      msSinceThrottleChange: now - this.#throttleChangedAt,
      strainedEpochsSinceThrottleChange: this.#strained,
      canCheckpointNow,
      atDirtyQuota: atQuota,
      pageSizeBytes: host.memory.pageSizeBytes,
    };
    this.#lastInput = input;
    return input;
  }

  #decide(input: PolicyInput): PolicyDecision {
    if (this.#policy === defaultPolicy) return defaultPolicy(input);
    try {
      return checkDecision(this.#policy(Object.freeze({ ...input })));
    } catch (err) {
      // A policy that fails must not leave the budget unguarded: the default decides this time.
      this.#host.report(err as Error);
      return defaultPolicy(input);
    }
  }

  /** Applies a decision; returns true when the policy should be asked again at once. */
  #apply(decision: PolicyDecision): boolean {
    const host = this.#host;
    switch (decision.kind) {
      case 'proceed':
        return false;
      case 'shorten-epoch':
        this.#strained++;
        host.shorten();
        return false;
      case 'throttle':
        if (decision.percent === this.#throttle) return false;
        return this.#setThrottle(decision.percent);
      case 'pause':
        if (!this.#paused) {
          this.#strained++;
          this.#paused = true;
          host.pauseUntilCheckpoint();
        }
        return false;
      case 'failover':
        this.stop();
        host.failover(decision.reason ?? 'the policy decided to fail over');
        return false;
    }
  }

  /** Throttles the guest; false if it cannot be throttled (no `throttle()`, or it refused). */
  #setThrottle(percent: number): boolean {
    const guest = this.#host.guest;
    if (typeof guest.throttle !== 'function') return false;
    try {
      guest.throttle(percent);
    } catch (err) {
      this.#host.report(err as Error);
      return false;
    }
    this.#throttle = percent;
    this.#throttleChangedAt = performance.now();
    this.#strained = 0;
    return true;
  }

  #record(decision: PolicyDecision, source: PolicySource, input: PolicyInput | null): void {
    const previous = this.#decision;
    const previousSource = this.#source;
    this.#decision = decision;
    this.#source = source;
    if (sameDecision(previous, decision) && source === previousSource) return;
    this.#changes++;
    const throttlePercent =
      decision.kind === 'throttle' && typeof this.#host.guest.throttle === 'function'
        ? decision.percent
        : this.#throttle;
    this.#host.emit({ decision, previous, source, input, throttlePercent });
  }
}
