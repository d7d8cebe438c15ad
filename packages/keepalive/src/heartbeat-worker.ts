// The heartbeat worker: owns the UDP socket, sends a heartbeat every interval and receives the peer's.
// It runs on its own thread so that neither a busy main thread nor a large checkpoint on the TCP channel
// can delay a heartbeat, in either direction.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { monotonicMs } from './clock.js';
import { RETIRED_INCARNATIONS } from './constants.js';
import { HeartbeatDecodeError } from './errors.js';
import {
  decodeHeartbeat,
  encodeAuthenticatedHeartbeat,
  encodeHeartbeat,
  type Heartbeat,
  roleFromCode,
} from './heartbeat-codec.js';
import { ReplayWindow } from './replay-window.js';
import { SharedHeartbeatState, type WorkerCounter } from './shared-state.js';
import type { MainToWorker, WorkerInit, WorkerPeer, WorkerToMain } from './worker-protocol.js';

const port = parentPort;
if (port === null) throw new Error('heartbeat-worker must run in a worker thread');
const init = workerData as WorkerInit;
const state = new SharedHeartbeatState(init.buffer);
const socket: Socket = createSocket({ type: isIPv6(init.address) ? 'udp6' : 'udp4' });

let peer: WorkerPeer | undefined = init.peer;
let sequence = 0;
let timer: NodeJS.Timeout | undefined;
let closing = false;
// Highest sequence seen per sender incarnation, newest last: a heartbeat at or below it is a replay.
const incarnations = new Map<number, number>();
// Authenticated mode: a replay window per sender incarnation, newest last.
const windows = new Map<number, ReplayWindow>();

const decodeCounters: Record<HeartbeatDecodeError['reason'], WorkerCounter> = {
  size: 'badSize',
  magic: 'badMagic',
  version: 'badVersion',
  checksum: 'badChecksum',
  field: 'badField',
  mac: 'forged',
  unauthenticated: 'unauthenticated',
};

function post(message: WorkerToMain): void {
  port?.postMessage(message);
}

/** Dual-stack sockets report IPv4 senders as ::ffff:a.b.c.d. */
function sameAddress(reported: string, expected: string): boolean {
  return reported === expected || reported === `::ffff:${expected}`;
}

function onMessage(bytes: Buffer, from: RemoteInfo): void {
  const atMs = monotonicMs();
  receive(bytes, from, atMs);
  // Published after the arrival: a main thread that sees this tick also sees the heartbeat.
  state.markWorkerTick(atMs);
}

function receive(bytes: Buffer, from: RemoteInfo, atMs: number): void {
  if (peer === undefined || from.port !== peer.port || !sameAddress(from.address, peer.address)) {
    state.count('unknownSource');
    return;
  }
  if (init.authenticated && peer.keys === undefined) {
    // The peer's keys are always set with its address; without them nothing can be verified.
    state.count('unauthenticated');
    return;
  }
  let heartbeat: Heartbeat;
  try {
    heartbeat = decodeHeartbeat(bytes, peer.keys?.receive);
  } catch (err) {
    state.count(err instanceof HeartbeatDecodeError ? decodeCounters[err.reason] : 'badField');
    return;
  }
  if (init.authenticated) acceptAuthenticated(heartbeat, atMs);
  else acceptTrusted(heartbeat, atMs);
}

/** Trusted-network mode: sequence numbers must strictly increase per incarnation. */
function acceptTrusted(heartbeat: Heartbeat, atMs: number): void {
  const highest = incarnations.get(heartbeat.incarnation);
  if (highest !== undefined && heartbeat.sequence <= highest) {
    state.count('replayed');
    return;
  }
  incarnations.delete(heartbeat.incarnation);
  incarnations.set(heartbeat.incarnation, heartbeat.sequence);
  if (incarnations.size > RETIRED_INCARNATIONS) {
    const oldest = incarnations.keys().next().value;
    if (oldest !== undefined) incarnations.delete(oldest);
  }
  state.count('received');
  state.pushArrival(heartbeat, atMs);
}

/**
 * Authenticated mode (the MAC already verified): a sliding replay window per incarnation, so a
 * recorded heartbeat replayed, even reordered, is refused, and only fresh ones count as life.
 */
function acceptAuthenticated(heartbeat: Heartbeat, atMs: number): void {
  let window = windows.get(heartbeat.incarnation);
  const verdict = window?.check(heartbeat.sequence) ?? 'fresh';
  if (verdict !== 'fresh') {
    state.count(verdict);
    return;
  }
  if (window === undefined) window = new ReplayWindow();
  window.accept(heartbeat.sequence);
  windows.delete(heartbeat.incarnation);
  windows.set(heartbeat.incarnation, window);
  if (windows.size > RETIRED_INCARNATIONS) {
    const oldest = windows.keys().next().value;
    if (oldest !== undefined) windows.delete(oldest);
  }
  state.count('received');
  state.pushArrival(heartbeat, atMs);
}

function send(goodbye: boolean, done?: () => void): void {
  const target = peer;
  if (target === undefined || (init.authenticated && target.keys === undefined)) {
    done?.();
    return;
  }
  sequence++;
  const fields: Heartbeat = {
    role: roleFromCode(state.roleCode) ?? 'primary',
    goodbye,
    incarnation: init.incarnation,
    intervalMs: init.intervalMs,
    sequence,
    senderTimeMs: monotonicMs(),
    epoch: state.epoch,
    progress: state.progress,
  };
  const bytes = target.keys
    ? encodeAuthenticatedHeartbeat(fields, target.keys.send)
    : encodeHeartbeat(fields);
  socket.send(bytes, target.port, target.address, (err) => {
    // A down link or a local firewall rule fails the send; the peer will notice the silence.
    state.count(err ? 'sendErrors' : 'sent');
    done?.();
  });
}

function tick(dueMs: number): void {
  const now = monotonicMs();
  const lateMs = now - dueMs;
  // A timer this late means this thread (or the whole process) was not running: tell the detector.
  if (lateMs > init.stallReportMs) state.reportWorkerStall(lateMs);
  if (lateMs > init.intervalMs) {
    // Timers run before the socket is polled: datagrams that queued up during the stall are read after
    // this callback. Claim to be running again only once they are in the ring (setImmediate runs after
    // the poll), or the main thread would take their absence for the peer's silence.
    setImmediate(() => state.markWorkerTick(monotonicMs()));
  } else {
    state.markWorkerTick(now);
  }
  send(false);
  // After a stall, resume the rhythm from now rather than sending a burst to catch up.
  scheduleFrom(Math.max(dueMs + init.intervalMs, now));
}

function scheduleFrom(dueMs: number): void {
  timer = setTimeout(() => tick(dueMs), Math.max(0, dueMs - monotonicMs()));
}

function close(goodbye: boolean): void {
  if (closing) return;
  closing = true;
  if (timer !== undefined) clearTimeout(timer);
  const done = () => {
    post({ type: 'closed' });
    port?.close();
  };
  const finish = () => {
    try {
      socket.close(done);
    } catch {
      // Never bound (the bind itself failed): nothing to close.
      done();
    }
  };
  if (goodbye) send(true, finish);
  else finish();
}

port.on('message', (message: MainToWorker) => {
  if (message.type === 'peer') {
    const sameKeys =
      peer?.keys !== undefined &&
      message.peer.keys !== undefined &&
      Buffer.from(peer.keys.receive).equals(message.peer.keys.receive);
    peer = message.peer;
    incarnations.clear();
    // Same keys, same heartbeats that would verify: keep the windows, or they could be replayed again.
    if (!sameKeys) windows.clear();
  } else if (message.type === 'close') {
    close(message.goodbye);
  }
});

socket.on('message', onMessage);
socket.on('error', (err: NodeJS.ErrnoException) => {
  post({ type: 'error', message: err.message, code: err.code });
  close(false);
});
socket.bind(init.port, init.address, () => {
  const bound = socket.address();
  post({ type: 'listening', address: bound.address, port: bound.port, family: bound.family });
  const now = monotonicMs();
  state.markWorkerTick(now);
  send(false);
  scheduleFrom(now + init.intervalMs);
});
