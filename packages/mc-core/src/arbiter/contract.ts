/**
 * Arbitration: a side may act alone (the secondary taking over, the primary releasing output without
 * a secondary) only while it holds a grant. Implementations: in-process (tests, one process), and in
 * later packages a shared-file lock, a witness process and etcd. They all satisfy this contract.
 */

/** What a side asks for: ownership of `generation` for `ttlMs`. */
export interface ArbiterRequest {
  /** The generation to own; must be above every generation granted before, or the current one to renew. */
  generation: number;
  /** Stable identity of the asking node. */
  node: string;
  /** How long the grant stays valid without renewal, in milliseconds. */
  ttlMs: number;
}

/** A won arbitration. */
export interface ArbiterGrant {
  generation: number;
  node: string;
  /**
   * Fencing token: strictly greater than every token granted before. Every checkpoint, ACK and
   * released output carries it, and anything with a lower token than already seen is rejected.
   */
  token: number;
  /**
   * Until when the holder may act, on this process's monotonic clock (`performance.now()` ms),
   * already shortened by the arbiter's drift margin.
   */
  validUntilMs: number;
}

export interface Arbiter {
  /** Tries to win `generation`. Resolves with the grant, or null when another node holds it or a newer one. */
  acquire(request: ArbiterRequest): Promise<ArbiterGrant | null>;
  /** Extends a grant; null when it was lost meanwhile (expired and taken). */
  renew(grant: ArbiterGrant, ttlMs: number): Promise<ArbiterGrant | null>;
  /** Gives a grant up early (planned switchover, shutdown). */
  release(grant: ArbiterGrant): Promise<void>;
}

/** True while `grant` lets its holder act alone, measured on the monotonic clock. */
export function grantIsValid(grant: ArbiterGrant | null, nowMs: number = performance.now()): boolean {
  return grant !== null && nowMs < grant.validUntilMs;
}
