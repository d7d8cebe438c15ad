import { InvalidArgumentError } from '../errors.js';
import type { Arbiter, ArbiterGrant, ArbiterRequest } from './contract.js';

/**
 * An arbiter that lives in one process: both sides of a test (or a demo in one process) share it.
 * It is a real arbiter with the same rules as the others (one owner per generation, generations only
 * grow, tokens strictly increase, grants expire), just without a network or a disk between the sides.
 */
export class InProcessArbiter implements Arbiter {
  #owner: { generation: number; node: string; expiresAtMs: number } | null = null;
  #lastToken = 0;
  readonly #driftMarginMs: number;
  readonly #now: () => number;

  /**
   * @param driftMarginMs subtracted from every grant's validity, so the holder stops acting before
   *   the arbiter would grant the generation to someone else.
   * @param now monotonic clock in ms (tests may pass their own).
   */
  constructor(driftMarginMs = 0, now: () => number = () => performance.now()) {
    this.#driftMarginMs = driftMarginMs;
    this.#now = now;
  }

  /** The current owner, for status and tests. */
  get owner(): { generation: number; node: string } | null {
    return this.#owner && { generation: this.#owner.generation, node: this.#owner.node };
  }

  async acquire(request: ArbiterRequest): Promise<ArbiterGrant | null> {
    validate(request);
    const now = this.#now();
    const current = this.#owner;
    if (current) {
      const live = now < current.expiresAtMs;
      if (request.generation < current.generation) return null;
      if (request.generation === current.generation && current.node !== request.node) return null;
      // A newer generation must wait for the current holder's lease to run out, unless it is its own.
      if (request.generation > current.generation && live && current.node !== request.node) return null;
    }
    return this.#grant(request.generation, request.node, request.ttlMs, now);
  }

  async renew(grant: ArbiterGrant, ttlMs: number): Promise<ArbiterGrant | null> {
    const current = this.#owner;
    if (!current || current.generation !== grant.generation || current.node !== grant.node) return null;
    const now = this.#now();
    if (now >= current.expiresAtMs) return null;
    return { ...this.#extend(current, ttlMs, now), token: grant.token };
  }

  async release(grant: ArbiterGrant): Promise<void> {
    const current = this.#owner;
    if (current && current.generation === grant.generation && current.node === grant.node) {
      current.expiresAtMs = this.#now();
    }
  }

  #grant(generation: number, node: string, ttlMs: number, now: number): ArbiterGrant {
    this.#owner = { generation, node, expiresAtMs: now + ttlMs };
    this.#lastToken++;
    return { generation, node, token: this.#lastToken, validUntilMs: now + ttlMs - this.#driftMarginMs };
  }

  #extend(owner: { generation: number; node: string; expiresAtMs: number }, ttlMs: number, now: number) {
    owner.expiresAtMs = now + ttlMs;
    return {
      generation: owner.generation,
      node: owner.node,
      validUntilMs: now + ttlMs - this.#driftMarginMs,
    };
  }
}

function validate(request: ArbiterRequest): void {
  if (!Number.isSafeInteger(request.generation) || request.generation < 1) {
    throw new InvalidArgumentError(`generation must be a positive integer, got ${request.generation}`);
  }
  if (typeof request.node !== 'string' || request.node.length === 0) {
    throw new InvalidArgumentError('node must be a non-empty string');
  }
  if (!Number.isFinite(request.ttlMs) || request.ttlMs <= 0) {
    throw new InvalidArgumentError(`ttlMs must be positive, got ${request.ttlMs}`);
  }
}
