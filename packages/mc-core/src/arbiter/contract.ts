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

/**
 * Every implementation passes the compliance suite in `test/arbiter-compliance.ts`. When the arbiter
 * cannot be asked (its server is down, frozen or unreachable, its directory unreadable), a call rejects
 * with a typed error within the implementation's request deadline and never grants anything; the
 * networked arbiters (witness, etcd) use the code `MC_ERR_ARBITER_UNAVAILABLE`. Malformed requests
 * reject with `MC_ERR_INVALID_ARGUMENT`.
 */
export interface Arbiter {
  /**
   * Tries to win `generation`. Resolves with the grant, or null when another node holds it or a newer
   * one. The grant's validity is counted from before the request was sent, so the holder's view of it
   * always ends before the arbiter could grant the next generation to someone else.
   */
  acquire(request: ArbiterRequest): Promise<ArbiterGrant | null>;
  /** Extends a grant, keeping its token; null when it was lost meanwhile (expired, released or taken). */
  renew(grant: ArbiterGrant, ttlMs: number): Promise<ArbiterGrant | null>;
  /** Gives a grant up early (planned switchover, shutdown). */
  release(grant: ArbiterGrant): Promise<void>;
}

/** True while `grant` lets its holder act alone, measured on the monotonic clock. */
export function grantIsValid(grant: ArbiterGrant | null, nowMs: number = performance.now()): boolean {
  return grant !== null && nowMs < grant.validUntilMs;
}
