import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../../src/worker-launch.js';

/** A peer device in another thread or process, driven by RPC (see peer-entry.ts). */
export interface Peer {
  call<T>(cmd: string, args?: Record<string, unknown>): Promise<T>;
  /** Kills the peer without warning: `worker.terminate()` or SIGKILL. */
  kill(): Promise<void>;
}

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

const ENTRY = new URL('./peer-entry.ts', import.meta.url);

export async function startPeer(kind: 'thread' | 'process'): Promise<Peer> {
  let send: (message: unknown) => void;
  let kill: () => Promise<void>;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let ready!: () => void;
  const started = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const onReply = (reply: Reply) => {
    if (reply.id === 0) return ready();
    const waiter = pending.get(reply.id);
    pending.delete(reply.id);
    if (!waiter) return;
    if (reply.ok) waiter.resolve(reply.value);
    else waiter.reject(new Error(reply.error));
  };
  const onGone = () => {
    for (const waiter of pending.values()) waiter.reject(new Error('peer is gone'));
    pending.clear();
  };
  if (kind === 'thread') {
    const worker: Worker = startModuleWorker(ENTRY, null);
    worker.on('message', onReply);
    worker.on('exit', onGone);
    send = (message) => worker.postMessage(message);
    kill = async () => {
      await worker.terminate();
    };
  } else {
    const child: ChildProcess = fork(fileURLToPath(ENTRY), [], {
      execArgv: ['--import', 'tsx/esm'],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (m) => onReply(m as Reply));
    child.on('exit', onGone);
    send = (message) => child.send(message as never);
    kill = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    };
  }
  await started;
  let nextId = 1;
  return {
    call<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        send({ id, cmd, args });
      });
    },
    kill,
  };
}
