import { EventEmitter } from 'node:events';
import {
  DEFAULT_MAX_QUEUED_REQUESTS,
  DEFAULT_PAUSE_TIMEOUT_MS,
  DEFAULT_QUEUE_HIGH_WATER_MARK,
  DEFAULT_REQUESTS_PER_TURN,
} from '../constants.js';
import {
  GuestClosedError,
  GuestFailedError,
  GuestQueueFullError,
  GuestStateError,
  InvalidOptionError,
} from '../errors.js';
import type { GuestMemory } from '../guest-memory.js';
import type { Guest, GuestState, OutputSink, PauseOptions } from './contract.js';
import { integerOption, optionsObject } from './options.js';
import { PauseWaiters } from './pause-waiters.js';
import { resumeNeeded } from './resume-rule.js';
import { checkDirtyQuota, checkThrottlePercent, DirtyQuotaGate, ThrottleClock } from './throttle.js';

/** What a request handler may touch: the guest's memory and its output. */
export interface InProcessGuestContext {
  readonly memory: GuestMemory;
  /** Emits output. Only while a request is being handled; the data belongs to the sink afterwards. */
  output(target: number, data: Uint8Array): void;
}

/**
 * Handles one request. All state it keeps must live in guest memory (a checkpoint restores only
 * that). It may return a promise; the guest handles nothing else until it settles, so a pause
 * waits for it. A handler that throws fails the guest.
 */
export type RequestHandler<Request> = (
  request: Request,
  context: InProcessGuestContext,
) => void | Promise<void>;

/** Options of `createInProcessGuest()`. */
export interface InProcessGuestOptions<Request> {
  /** The memory the handler keeps its state in. Required. */
  memory: GuestMemory;
  /** The request handler: the workload. Required. */
  handler: RequestHandler<Request>;
  /** Where output goes until `setOutput()` replaces it. Required. */
  output: OutputSink;
  /**
   * Hard cap on queued requests; `submit()` beyond it throws `MC_ERR_GUEST_QUEUE_FULL`.
   * @default 65536
   */
  maxQueuedRequests?: number;
  /**
   * Queue depth at which `submit()` returns false: stop submitting until `'drain'`.
   * @default 4096
   */
  highWaterMark?: number;
  /**
   * Requests handled back to back before yielding to the event loop, so timers and sockets run.
   * @default 1024
   */
  requestsPerTurn?: number;
  /**
   * Default time `pause()` waits for an in-flight handler to finish, in milliseconds; 0 waits forever.
   * @default 5000
   */
  pauseTimeoutMs?: number;
}

/**
 * A workload that runs in this thread as a request-driven state machine. Safe points are the gaps
 * between requests: pausing means not starting the next one.
 */
export interface InProcessGuest<Request> extends Guest {
  readonly kind: 'in-process';
  /** Requests waiting (while paused, or behind an asynchronous handler). */
  readonly queuedRequests: number;
  /** Requests handled so far. */
  readonly handledRequests: number;
  /** Current throttle, percent (see `throttle()`). */
  readonly throttlePercent: number;
  /**
   * Delays the next turn so that handling requests takes about `100 - percent`% of wall time
   * (0 to 99; 0 lifts it). Queued requests wait meanwhile; pausing is unaffected.
   */
  throttle(percent: number): void;
  /**
   * Holds back the next request while guest memory holds `pages` dirty pages or more (0 lifts it);
   * setting it again (the engine does after each capture) looks again.
   */
  setDirtyQuota(pages: number): void;
  /**
   * Queues a request; handles it at once if running and idle. Returns false when the queue has reached
   * `highWaterMark`: submit no more until `'drain'`. Throws `MC_ERR_GUEST_QUEUE_FULL` at
   * `maxQueuedRequests`, `MC_ERR_GUEST_CLOSED` once closed or failed.
   */
  submit(request: Request): boolean;
  on(event: 'error', listener: (error: Error) => void): this;
  /** `'drain'`: the queue fell below `highWaterMark` after `submit()` returned false. */
  on(event: 'drain', listener: () => void): this;
  /** `'idle'`: every queued request was handled (emitted after each turn that empties the queue). */
  on(event: 'idle', listener: () => void): this;
  off(event: 'error', listener: (error: Error) => void): this;
  off(event: 'drain', listener: () => void): this;
  off(event: 'idle', listener: () => void): this;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

class RequestGuest<Request> extends EventEmitter implements InProcessGuest<Request> {
  readonly kind = 'in-process' as const;
  readonly memory: GuestMemory;
  readonly #handler: RequestHandler<Request>;
  readonly #maxQueued: number;
  readonly #highWaterMark: number;
  readonly #perTurn: number;
  readonly #pauseTimeoutMs: number;
  readonly #context: InProcessGuestContext;
  #sink: OutputSink;
  #state: GuestState = 'running';
  #queue: Array<Request | undefined> = [];
  #head = 0;
  /** A handler is running (synchronously in a drain loop, or its promise is pending). */
  #busy = false;
  /** Output is allowed: we are inside a request. */
  #inRequest = false;
  #scheduled: NodeJS.Immediate | undefined;
  #needDrain = false;
  #handled = 0;
  #failure: GuestFailedError | undefined;
  readonly #pauseWaiters = new PauseWaiters();
  #idleWaiters: Array<() => void> = [];
  readonly #throttle = new ThrottleClock();
  /** Set while the throttle keeps the next turn from starting. */
  #throttleTimer: NodeJS.Timeout | undefined;
  #turnStartedAt = 0;
  readonly #dirtyQuota = new DirtyQuotaGate();
  readonly #countDirty = () => this.memory.dirtyPageCount();
  /** A request waits for the dirty log to empty (see `setDirtyQuota`). */
  #overQuota = false;

  constructor(options: InProcessGuestOptions<Request>) {
    super();
    optionsObject(options);
    if (
      options.memory === null ||
      typeof options.memory !== 'object' ||
      typeof options.memory.capture !== 'function'
    ) {
      throw new InvalidOptionError('memory', 'must be a GuestMemory from createGuestMemory()');
    }
    if (typeof options.handler !== 'function') throw new InvalidOptionError('handler', 'must be a function');
    if (typeof options.output !== 'function') throw new InvalidOptionError('output', 'must be a function');
    this.memory = options.memory;
    this.#handler = options.handler;
    this.#sink = options.output;
    this.#maxQueued = integerOption(
      'maxQueuedRequests',
      options.maxQueuedRequests,
      DEFAULT_MAX_QUEUED_REQUESTS,
      1,
    );
    this.#highWaterMark = integerOption(
      'highWaterMark',
      options.highWaterMark,
      DEFAULT_QUEUE_HIGH_WATER_MARK,
      1,
    );
    if (this.#highWaterMark > this.#maxQueued) {
      throw new InvalidOptionError('highWaterMark', `must not exceed maxQueuedRequests (${this.#maxQueued})`);
    }
    this.#perTurn = integerOption('requestsPerTurn', options.requestsPerTurn, DEFAULT_REQUESTS_PER_TURN, 1);
    this.#pauseTimeoutMs = integerOption(
      'pauseTimeoutMs',
      options.pauseTimeoutMs,
      DEFAULT_PAUSE_TIMEOUT_MS,
      0,
    );
    this.#context = {
      memory: this.memory,
      output: (target, data) => {
        if (!this.#inRequest) throw new GuestStateError('output() was called outside a request');
        this.#sink(target, data);
      },
    };
  }

  get state(): GuestState {
    return this.#state;
  }

  get queuedRequests(): number {
    return this.#queue.length - this.#head;
  }

  get handledRequests(): number {
    return this.#handled;
  }

  get throttlePercent(): number {
    return this.#throttle.percent;
  }

  throttle(percent: number): void {
    this.#throttle.percent = checkThrottlePercent(percent);
    if (percent === 0 && this.#throttleTimer !== undefined) {
      clearTimeout(this.#throttleTimer);
      this.#throttleTimer = undefined;
      if (this.#state === 'running') this.#schedule();
    }
  }

  setDirtyQuota(pages: number): void {
    this.#dirtyQuota.quota = checkDirtyQuota(pages);
    if (this.#overQuota) {
      this.#overQuota = false;
      if (this.#state === 'running') this.#schedule();
    }
  }

  setOutput(sink: OutputSink): void {
    if (typeof sink !== 'function') throw new InvalidOptionError('sink', 'must be a function');
    this.#sink = sink;
  }

  submit(request: Request): boolean {
    if (this.#state === 'stopped') throw new GuestClosedError();
    if (this.#state === 'failed') throw new GuestClosedError('the guest failed; it takes no more requests');
    if (this.queuedRequests >= this.#maxQueued) throw new GuestQueueFullError(this.#maxQueued);
    this.#queue.push(request);
    // Idle and running: handle it now, in the caller's turn, which keeps latency to a minimum.
    if (
      this.#state === 'running' &&
      !this.#busy &&
      this.#scheduled === undefined &&
      this.#throttleTimer === undefined &&
      !this.#overQuota
    )
      this.#drain();
    const below = this.queuedRequests < this.#highWaterMark;
    if (!below) this.#needDrain = true;
    return below;
  }

  pause(options: PauseOptions = {}): Promise<void> {
    const timeoutMs = integerOption('timeoutMs', optionsObject(options).timeoutMs, this.#pauseTimeoutMs, 0);
    switch (this.#state) {
      case 'paused':
      case 'stopped':
        return Promise.resolve();
      case 'failed':
        return Promise.reject(this.#failure);
      case 'running':
        if (!this.#busy) {
          this.#state = 'paused';
          return Promise.resolve();
        }
        this.#state = 'pausing';
        break;
      case 'pausing':
        break;
    }
    return this.#pauseWaiters.wait(timeoutMs, () => {
      if (this.#state === 'pausing') this.#state = 'running';
    });
  }

  resume(): void {
    if (!resumeNeeded(this.#state)) return;
    this.#state = 'running';
    this.#schedule();
  }

  async close(): Promise<void> {
    if (this.#state !== 'stopped' && this.#state !== 'failed') this.#state = 'stopped';
    this.#queue = [];
    this.#head = 0;
    if (this.#scheduled !== undefined) {
      clearImmediate(this.#scheduled);
      this.#scheduled = undefined;
    }
    if (this.#throttleTimer !== undefined) {
      clearTimeout(this.#throttleTimer);
      this.#throttleTimer = undefined;
    }
    // An asynchronous handler still in flight may write guest memory: closed means it has finished.
    if (this.#busy) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    this.#settlePause();
  }

  #schedule(): void {
    if (
      this.#scheduled !== undefined ||
      this.#throttleTimer !== undefined ||
      this.#overQuota ||
      this.#busy ||
      this.queuedRequests === 0
    )
      return;
    this.#scheduled = setImmediate(() => {
      this.#scheduled = undefined;
      if (this.#state === 'running' && !this.#busy) this.#drain();
    });
  }

  #dequeue(): Request {
    const request = this.#queue[this.#head] as Request;
    this.#queue[this.#head] = undefined;
    this.#head++;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return request;
  }

  #drain(): void {
    this.#busy = true;
    if (this.#throttle.percent > 0) this.#turnStartedAt = performance.now();
    let handled = 0;
    while (this.#state === 'running' && this.queuedRequests > 0 && handled < this.#perTurn) {
      if (this.#dirtyQuota.reached(this.#countDirty)) {
        this.#overQuota = true;
        break;
      }
      const request = this.#dequeue();
      handled++;
      this.#inRequest = true;
      let result: unknown;
      try {
        result = this.#handler(request, this.#context);
      } catch (err) {
        this.#inRequest = false;
        this.#busy = false;
        this.#fail(err);
        return;
      }
      if (isPromiseLike(result)) {
        result.then(
          () => {
            this.#inRequest = false;
            this.#handled++;
            this.#afterTurn();
          },
          (err: unknown) => {
            this.#inRequest = false;
            this.#busy = false;
            this.#fail(err);
          },
        );
        return;
      }
      this.#inRequest = false;
      this.#handled++;
    }
    this.#afterTurn();
  }

  #afterTurn(): void {
    this.#busy = false;
    if (this.#throttle.percent > 0 && this.#turnStartedAt > 0) {
      const sleepMs = this.#throttle.ran(performance.now() - this.#turnStartedAt);
      if (sleepMs > 0 && this.#throttleTimer === undefined && this.#state !== 'stopped') {
        this.#throttleTimer = setTimeout(() => {
          this.#throttleTimer = undefined;
          if (this.#state === 'running') this.#schedule();
        }, sleepMs);
      }
    }
    this.#turnStartedAt = 0;
    for (const wake of this.#idleWaiters.splice(0)) wake();
    if (this.#state === 'pausing') {
      this.#state = 'paused';
      this.#settlePause();
    } else if (this.#state === 'running') {
      this.#schedule();
      if (this.queuedRequests === 0) this.emit('idle');
    }
    if (this.#needDrain && this.queuedRequests < this.#highWaterMark && this.#state === 'running') {
      this.#needDrain = false;
      this.emit('drain');
    }
  }

  #settlePause(): void {
    this.#pauseWaiters.settle(this.#state === 'failed' ? this.#failure! : undefined);
  }

  #fail(cause: unknown): void {
    for (const wake of this.#idleWaiters.splice(0)) wake();
    if (this.#state === 'stopped' || this.#state === 'failed') return;
    this.#state = 'failed';
    this.#failure = new GuestFailedError('the request handler threw; the guest stopped', cause);
    this.#queue = [];
    this.#head = 0;
    this.#settlePause();
    this.emit('error', this.#failure);
  }
}

/** Creates an in-process guest around a request handler. */
export function createInProcessGuest<Request>(
  options: InProcessGuestOptions<Request>,
): InProcessGuest<Request> {
  return new RequestGuest(options);
}
