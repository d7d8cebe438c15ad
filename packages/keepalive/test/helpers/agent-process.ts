import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AgentCommand, AgentConfig } from '../fixtures/agent.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/agent.ts', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('../../', import.meta.url));

/** One JSON line an agent printed. */
export interface AgentMessage {
  type: string;
  atMs: number;
  [key: string]: unknown;
}

/** A running agent process (see test/fixtures/agent.ts). */
export interface Agent {
  /** Pid of the node process itself (not of `ip netns exec`, which execs it anyway). */
  pid: number;
  heartbeat: { address: string; port: number };
  tcpPort: number | undefined;
  messages: AgentMessage[];
  stderr: () => string;
  /** Resolves with the first message (already received or future) matching `predicate`. */
  waitFor(predicate: (m: AgentMessage) => boolean, timeoutMs: number, what?: string): Promise<AgentMessage>;
  send(command: AgentCommand): void;
  status(): Promise<AgentMessage>;
  signal(signal: NodeJS.Signals): void;
  /** Ends the process whatever state it is in (continues it first if stopped) and waits for its exit. */
  stop(): Promise<void>;
}

/** Messages of type `change` into a given state. */
export function changesTo(agent: Agent, to: string): AgentMessage[] {
  return agent.messages.filter((m) => m.type === 'change' && m.to === to);
}

/** Starts an agent, in network namespace `netns` if given, and waits for it to be ready. */
export async function spawnAgent(config: AgentConfig, options: { netns?: string } = {}): Promise<Agent> {
  const nodeArgs = ['--import', 'tsx/esm', FIXTURE, JSON.stringify(config)];
  const child: ChildProcess = options.netns
    ? spawn('ip', ['netns', 'exec', options.netns, process.execPath, ...nodeArgs], { cwd: PACKAGE_DIR })
    : spawn(process.execPath, nodeArgs, { cwd: PACKAGE_DIR });
  const messages: AgentMessage[] = [];
  const waiters = new Set<{ predicate: (m: AgentMessage) => boolean; resolve: (m: AgentMessage) => void }>();
  let stderr = '';
  let buffered = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdout?.on('data', (d: Buffer) => {
    buffered += d.toString();
    let newline = buffered.indexOf('\n');
    while (newline >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf('\n');
      if (line.trim() === '') continue;
      const message = JSON.parse(line) as AgentMessage;
      messages.push(message);
      for (const waiter of [...waiters]) {
        if (waiter.predicate(message)) {
          waiters.delete(waiter);
          waiter.resolve(message);
        }
      }
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let exitedNow = false;
  void exited.then(() => {
    exitedNow = true;
  });

  const waitFor = (predicate: (m: AgentMessage) => boolean, timeoutMs: number, what = 'message') => {
    const found = messages.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise<AgentMessage>((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (m: AgentMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(
          new Error(`agent ${child.pid}: no ${what} within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`),
        );
      }, timeoutMs);
      waiters.add(waiter);
    });
  };

  let ready: AgentMessage;
  try {
    ready = await Promise.race([
      waitFor((m) => m.type === 'ready', 20_000, 'ready'),
      exited.then(() => {
        throw new Error(`agent exited before ready: ${stderr.slice(-2000)}`);
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const pid = ready.pid as number;
  const agent: Agent = {
    pid,
    heartbeat: ready.heartbeat as { address: string; port: number },
    tcpPort: ready.tcpPort as number | undefined,
    messages,
    stderr: () => stderr,
    waitFor,
    send: (command) => {
      child.stdin?.write(`${JSON.stringify(command)}\n`);
    },
    status: () => {
      const seen = messages.filter((m) => m.type === 'status').length;
      agent.send({ cmd: 'status' });
      let statuses = 0;
      return waitFor((m) => m.type === 'status' && ++statuses > seen, 5_000, 'status');
    },
    signal: (signal) => {
      process.kill(pid, signal);
    },
    stop: async () => {
      if (exitedNow) return;
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      child.kill('SIGKILL');
      await exited;
    },
  };
  return agent;
}
