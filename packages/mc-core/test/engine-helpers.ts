import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Arbiter, ArbiterGrant, ArbiterRequest } from '../src/arbiter/contract.js';
import { InProcessArbiter } from '../src/arbiter/in-process.js';
import { createGuestMemory, type GuestMemory, type GuestMemoryOptions } from '../src/guest-memory.js';
import type { Guest, OutputSink } from '../src/guests/contract.js';
import { createInProcessGuest } from '../src/guests/in-process.js';
import { createPrimary, type Primary, type PrimaryOptions } from '../src/primary.js';
import { createSecondary, type Secondary, type SecondaryOptions } from '../src/secondary.js';

/**
 * Keepalive settings for tests that run both nodes in one process on a loaded 2-core machine: the
 * two share one event loop, so the hang rule means nothing here, and a longer deadline keeps a busy
 * test runner from looking like a dead peer.
 */
export const TEST_KEEPALIVE = { multiplier: 15, hangTimeoutMs: Number.POSITIVE_INFINITY };

/** Things to close after a test, newest first. */
export const cleanups: Array<() => Promise<unknown> | unknown> = [];

export async function runCleanups(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch {
      // Best effort: the next test must still start clean.
    }
  }
}

/** Polls `condition` every 2 ms; throws after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await sleep(2);
  }
}

/** A secondary listening on a free port, closed after the test. */
export async function startSecondary(
  options: Partial<SecondaryOptions> & { memoryOptions?: GuestMemoryOptions } = {},
): Promise<{ secondary: Secondary; port: number; memory: GuestMemory }> {
  const memory = options.memory ?? createGuestMemory(options.memoryOptions ?? { sizeBytes: 1 << 20 });
  const secondary = createSecondary({
    arbiter: new InProcessArbiter(),
    takeover: () => {
      throw new Error('this test does not expect a takeover');
    },
    ...options,
    keepalive: { ...TEST_KEEPALIVE, ...options.keepalive },
    memory,
  });
  cleanups.push(() => secondary.close());
  const { port } = await secondary.start();
  return { secondary, port, memory };
}

/** A primary protecting `guest`, closed after the test. */
export function makePrimary(
  guest: Guest,
  output: OutputSink,
  port: number,
  arbiter: Arbiter,
  options: Partial<PrimaryOptions> = {},
): Primary {
  const primary = createPrimary({
    guest,
    output,
    secondary: { port },
    arbiter,
    epochMs: 10,
    ...options,
    keepalive: { ...TEST_KEEPALIVE, ...options.keepalive },
  });
  cleanups.push(() => primary.close());
  return primary;
}

/** An arbiter whose `acquire` answers only when the test lets it: to watch what happens meanwhile. */
export class GatedArbiter implements Arbiter {
  readonly inner = new InProcessArbiter();
  readonly requests: ArbiterRequest[] = [];
  #gate: (() => void) | null = null;
  #open = true;

  /** Holds every later acquire until `open()`. */
  close(): void {
    this.#open = false;
  }

  open(): void {
    this.#open = true;
    this.#gate?.();
    this.#gate = null;
  }

  async acquire(request: ArbiterRequest): Promise<ArbiterGrant | null> {
    this.requests.push(request);
    if (!this.#open) await new Promise<void>((resolve) => (this.#gate = resolve));
    return this.inner.acquire(request);
  }

  /** When set, every renewal fails as if the arbiter were unreachable. */
  renewalsFail = false;

  renew(grant: ArbiterGrant, ttlMs: number): Promise<ArbiterGrant | null> {
    if (this.renewalsFail) return Promise.reject(new Error('arbiter unreachable'));
    return this.inner.renew(grant, ttlMs);
  }

  release(grant: ArbiterGrant): Promise<void> {
    return this.inner.release(grant);
  }
}

/** A loopback port nobody listens on now (a test may open a listener on it later, or never). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A 1 MiB in-process guest whose request n writes n into page 1 and replies with it. */
export function writerGuest() {
  const memory = createGuestMemory({ sizeBytes: 1 << 20 });
  const guest = createInProcessGuest<number>({
    memory,
    handler: (n, context) => {
      memory.write(4096, new Uint8Array([n]));
      context.output(1, new Uint8Array([n]));
    },
    output: () => undefined,
  });
  cleanups.push(() => guest.close());
  return { memory, guest };
}
