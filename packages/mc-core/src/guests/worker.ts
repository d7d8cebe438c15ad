import { EventEmitter } from 'node:events';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { DEFAULT_CLOSE_TIMEOUT_MS, DEFAULT_PAUSE_TIMEOUT_MS } from '../constants.js';
import { startEntryWorker } from '../entry-worker.js';
import { GuestFailedError, InvalidOptionError } from '../errors.js';
import type { GuestMemory, GuestMemoryView } from '../guest-memory.js';
import type { Guest, GuestState, OutputSink, PauseOptions } from './contract.js';
import {
  CONTROL_PAUSE,
  CONTROL_RUN,
  CONTROL_STOP,
  CONTROL_WORDS,
  controlValue,
  DIRTY_QUOTA_WORD,
  nextControlId,
  THROTTLE_WORD,
  type WorkerBootData,
  type WorkerGuestMessage,
} from './control-word.js';
import { integerOption, optionsObject } from './options.js';
import { PauseWaiters } from './pause-waiters.js';
import { resumeNeeded } from './resume-rule.js';
import { checkDirtyQuota, checkThrottlePercent } from './throttle.js';

/** What a worker workload's `run()` receives. */
export interface WorkerGuestContext {
  /** Guest memory, attached in this thread. Report writes (`write`, `markDirty`) unless in scan mode. */
  readonly memory: GuestMemoryView;
  /** The `data` option, structured-cloned. */
  readonly data: unknown;
  /** Whether `close()` was called: return from `run()` soon. */
  readonly stopping: boolean;
  /**
   * Call between units of work, where guest memory is consistent. Blocks (`Atomics.wait`) while the
   * guest is paused. Returns false once the guest is closing: `while (context.safePoint()) { ... }`.
   */
  safePoint(): boolean;
  /** Emits output; the bytes are copied, so a view of guest memory is fine. */
  output(target: number, data: Uint8Array): void;
}

/** The workload: a module's default export (or export named `run`). */
export type WorkerGuestRun = (context: WorkerGuestContext) => void | Promise<void>;

/** Options of `createWorkerGuest()`. */
export interface WorkerGuestOptions {
  /** The memory the workload keeps its state in. Required. */
  memory: GuestMemory;
  /** Path or URL of the workload module, whose default export is a `WorkerGuestRun`. Required. */
  module: string | URL;
  /** Where output goes until `setOutput()` replaces it. Required. */
  output: OutputSink;
  /**
   * Passed to the workload as `context.data` (structured-cloned).
   * @default undefined
   */
  data?: unknown;
  /**
   * Node options of the worker thread (for example `--max-old-space-size=512`).
   * @default []
   */
  execArgv?: string[];
  /**
   * Default time `pause()` waits for the workload's next safe point, in milliseconds; 0 waits forever.
   * @default 5000
   */
  pauseTimeoutMs?: number;
  /**
   * Time `close()` gives `run()` to return before the worker is terminated, in milliseconds.
   * @default 2000
   */
  closeTimeoutMs?: number;
}

/** A workload in a worker thread, paused cooperatively at its safe points. */
export interface WorkerGuest extends Guest {
  readonly kind: 'worker';
  /** The worker's thread id. */
  readonly threadId: number;
  /** Current throttle, percent (see `throttle()`). */
  readonly throttlePercent: number;
  /**
   * Makes the workload sleep about `percent`% of wall time at its safe points (0 to 99; 0 lifts it).
   * A pause or a stop wakes a sleeping workload at once.
   */
  throttle(percent: number): void;
  /**
   * Makes the workload wait at its safe points while guest memory holds `pages` dirty pages or more
   * (0 lifts it). The engine sets it from the secondary's budget.
   */
  setDirtyQuota(pages: number): void;
}

class ThreadGuest extends EventEmitter implements WorkerGuest {
  readonly kind = 'worker' as const;
  readonly memory: GuestMemory;
  readonly threadId: number;
  readonly #worker: Worker;
  readonly #control: Int32Array;
  readonly #pauseTimeoutMs: number;
  readonly #closeTimeoutMs: number;
  #sink: OutputSink;
  #state: GuestState = 'running';
  #id = 0;
  #failure: GuestFailedError | undefined;
  readonly #pauseWaiters = new PauseWaiters();
  #exited: Promise<void>;
  #closing = false;

  constructor(options: WorkerGuestOptions) {
    super();
    optionsObject(options);
    if (
      options.memory === null ||
      typeof options.memory !== 'object' ||
      typeof options.memory.handle !== 'function'
    ) {
      throw new InvalidOptionError('memory', 'must be a GuestMemory from createGuestMemory()');
    }
    if (typeof options.output !== 'function') throw new InvalidOptionError('output', 'must be a function');
    let module: string;
    if (options.module instanceof URL) module = options.module.href;
    else if (typeof options.module === 'string' && options.module.length > 0) {
      module = /^[a-z]+:/i.test(options.module)
        ? options.module
        : pathToFileURL(resolvePath(options.module)).href;
    } else throw new InvalidOptionError('module', 'must be a path or a URL');
    const execArgv = options.execArgv ?? [];
    if (!Array.isArray(execArgv) || !execArgv.every((a) => typeof a === 'string')) {
      throw new InvalidOptionError('execArgv', 'must be an array of strings');
    }
    this.#pauseTimeoutMs = integerOption(
      'pauseTimeoutMs',
      options.pauseTimeoutMs,
      DEFAULT_PAUSE_TIMEOUT_MS,
      0,
    );
    this.#closeTimeoutMs = integerOption(
      'closeTimeoutMs',
      options.closeTimeoutMs,
      DEFAULT_CLOSE_TIMEOUT_MS,
      1,
    );
    this.memory = options.memory;
    this.#sink = options.output;
    const control = new SharedArrayBuffer(4 * CONTROL_WORDS);
    this.#control = new Int32Array(control);
    const boot: WorkerBootData = { handle: this.memory.handle(), control, module, data: options.data };
    // From dist the bootstrap is dist/worker-entry.js next to dist/index.js.
    this.#worker = startEntryWorker(import.meta.url, './worker-entry', { workerData: boot, execArgv });
    this.threadId = this.#worker.threadId;
    this.#worker.on('message', (message: WorkerGuestMessage) => this.#onMessage(message));
    this.#worker.on('error', (err) => this.#fail(err));
    this.#exited = new Promise((resolve) => {
      this.#worker.once('exit', (code) => {
        if (!this.#closing && this.#state !== 'stopped' && this.#state !== 'failed') {
          this.#fail(new Error(`the worker exited with code ${code} before its workload returned`));
        }
        resolve();
      });
    });
  }

  get state(): GuestState {
    return this.#state;
  }

  setOutput(sink: OutputSink): void {
    if (typeof sink !== 'function') throw new InvalidOptionError('sink', 'must be a function');
    this.#sink = sink;
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
        this.#id = nextControlId(this.#id);
        this.#setControl(CONTROL_PAUSE);
        this.#state = 'pausing';
        break;
      case 'pausing':
        break;
    }
    return this.#pauseWaiters.wait(timeoutMs, () => {
      if (this.#state !== 'pausing') return;
      this.#state = 'running';
      this.#setControl(CONTROL_RUN);
    });
  }

  resume(): void {
    if (!resumeNeeded(this.#state)) return;
    this.#state = 'running';
    this.#setControl(CONTROL_RUN);
  }

  get throttlePercent(): number {
    return Atomics.load(this.#control, THROTTLE_WORD);
  }

  throttle(percent: number): void {
    checkThrottlePercent(percent);
    // Read by the worker at its next safe point.
    Atomics.store(this.#control, THROTTLE_WORD, percent);
    // Ends a sleep in progress early, so lifting or lowering the throttle takes effect at once.
    Atomics.notify(this.#control, 0);
  }

  setDirtyQuota(pages: number): void {
    checkDirtyQuota(pages);
    Atomics.store(this.#control, DIRTY_QUOTA_WORD, pages);
    // A worker waiting on the quota looks again now (after a capture, or when the quota is lifted).
    Atomics.notify(this.#control, 0);
  }

  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#setControl(CONTROL_STOP);
      const timer = setTimeout(() => void this.#worker.terminate(), this.#closeTimeoutMs);
      await this.#exited;
      clearTimeout(timer);
      if (this.#state !== 'failed') this.#state = 'stopped';
      this.#settlePause();
    }
    await this.#exited;
  }

  #setControl(state: number): void {
    Atomics.store(this.#control, 0, controlValue(this.#id, state));
    Atomics.notify(this.#control, 0);
  }

  #onMessage(message: WorkerGuestMessage): void {
    switch (message.type) {
      case 'output':
        this.#sink(message.target, message.data);
        return;
      case 'paused':
        // A pause that timed out and was withdrawn may still be acknowledged late: ignore it.
        if (this.#state === 'pausing' && message.id === this.#id) {
          this.#state = 'paused';
          this.#settlePause();
        }
        return;
      case 'done':
        if (this.#state !== 'failed') this.#state = 'stopped';
        this.#settlePause();
        return;
    }
  }

  #settlePause(): void {
    this.#pauseWaiters.settle(this.#state === 'failed' ? this.#failure! : undefined);
  }

  #fail(cause: unknown): void {
    if (this.#state === 'failed' || this.#state === 'stopped') return;
    this.#state = 'failed';
    this.#failure = new GuestFailedError('the worker workload failed; the guest stopped', cause);
    this.#settlePause();
    this.emit('error', this.#failure);
  }
}

/**
 * Starts a workload module in a worker thread on a guest memory. The workload pauses cooperatively:
 * it calls `context.safePoint()` between units of work.
 */
export function createWorkerGuest(options: WorkerGuestOptions): WorkerGuest {
  return new ThreadGuest(options);
}
