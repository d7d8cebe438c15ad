// The bootstrap every worker guest runs: attaches guest memory, builds the context and calls the
// workload module's `run(context)`. Built to dist/worker-entry.js; run from source under tsx in tests.

import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { DIRTY_QUOTA_POLL_MS } from '../constants.js';
import { attachGuestMemory } from '../guest-memory.js';
import {
  CONTROL_PAUSE,
  CONTROL_RUN,
  CONTROL_STOP,
  controlId,
  controlState,
  DIRTY_QUOTA_WORD,
  THROTTLE_WORD,
  type WorkerBootData,
  type WorkerGuestMessage,
} from './control-word.js';
import { DirtyQuotaGate, ThrottleClock } from './throttle.js';
import type { WorkerGuestContext, WorkerGuestRun } from './worker.js';

const boot = workerData as WorkerBootData;
const port = parentPort!;
const control = new Int32Array(boot.control);
const memory = attachGuestMemory(boot.handle);
let stopping = false;
let acked = -1;
const throttle = new ThrottleClock();
/** When the workload last started running (after a sleep or a pause), while throttled. */
let runningSince = 0;

function post(message: WorkerGuestMessage, transfer?: ArrayBuffer[]): void {
  port.postMessage(message, transfer);
}

/** Sleeps the throttle's share of the time run since the last sleep; a pause or stop wakes it. */
function throttled(value: number): number {
  const percent = Atomics.load(control, THROTTLE_WORD);
  if (percent === 0) {
    throttle.percent = 0;
    return value;
  }
  const now = performance.now();
  if (throttle.percent === 0) {
    // Just throttled: account from now, not from the last time it was.
    throttle.percent = percent;
    runningSince = now;
    return value;
  }
  throttle.percent = percent;
  const sleepMs = throttle.ran(now - runningSince);
  runningSince = now;
  if (sleepMs === 0) return value;
  Atomics.wait(control, 0, value, sleepMs);
  runningSince = performance.now();
  return Atomics.load(control, 0);
}

const quotaGate = new DirtyQuotaGate();
const countDirty = () => memory.dirtyPageCount();

/** Waits while guest memory holds as many dirty pages as the quota allows; a pause or stop wakes it. */
function withinQuota(value: number): number {
  for (;;) {
    const quota = Atomics.load(control, DIRTY_QUOTA_WORD);
    if (quota !== quotaGate.quota) quotaGate.quota = quota;
    if (controlState(value) !== CONTROL_RUN || !quotaGate.reached(countDirty)) return value;
    Atomics.wait(control, 0, value, DIRTY_QUOTA_POLL_MS);
    value = Atomics.load(control, 0);
    // Waiting on the quota is not running time either.
    if (throttle.percent !== 0) runningSince = performance.now();
  }
}

function safePoint(): boolean {
  let value = Atomics.load(control, 0);
  if (controlState(value) !== CONTROL_PAUSE) value = withinQuota(throttled(value));
  while (controlState(value) === CONTROL_PAUSE) {
    const id = controlId(value);
    if (id !== acked) {
      // Posted after every output of this epoch on the same port: the guest resolves pause() only
      // once all of them have reached the sink.
      post({ type: 'paused', id });
      acked = id;
    }
    Atomics.wait(control, 0, value);
    value = Atomics.load(control, 0);
    // Paused time is not running time.
    runningSince = performance.now();
  }
  if (controlState(value) === CONTROL_STOP) stopping = true;
  return !stopping;
}

const context: WorkerGuestContext = {
  memory,
  data: boot.data,
  get stopping() {
    return stopping;
  },
  safePoint,
  output(target, data) {
    if (!Number.isSafeInteger(target)) throw new TypeError('output: target must be an integer');
    if (!(data instanceof Uint8Array)) throw new TypeError('output: data must be a Uint8Array');
    // A copy: the caller may pass a view of guest memory, which the next write would change.
    const copy = new Uint8Array(data);
    post({ type: 'output', target, data: copy }, [copy.buffer]);
  },
};

const workload = (await import(
  boot.module.startsWith('file:') ? boot.module : pathToFileURL(boot.module).href
)) as {
  default?: unknown;
  run?: unknown;
};
const run = (typeof workload.default === 'function' ? workload.default : workload.run) as
  | WorkerGuestRun
  | undefined;
if (typeof run !== 'function') {
  throw new TypeError(`${boot.module} exports no run function (default export or named 'run')`);
}
if (safePoint()) await run(context);
post({ type: 'done' });
