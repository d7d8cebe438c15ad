/**
 * The Arbiter contract of `@microcheckpoint/mc-core`, declared here with the same shapes so that this
 * package does not depend on mc-core: TypeScript is structural, so an `EtcdArbiter` is an mc-core
 * `Arbiter`. A type test in this package checks that the two stay identical.
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
  /** Fencing token: strictly greater than every token granted before (here: an etcd revision). */
  token: number;
  /**
   * Until when the holder may act, on this process's monotonic clock (`performance.now()` ms),
   * already shortened by the arbiter's drift margin.
   */
  validUntilMs: number;
}

/** The three operations every arbiter offers. */
export interface Arbiter {
  /** Tries to win `generation`. Resolves with the grant, or null when another node holds it or a newer one. */
  acquire(request: ArbiterRequest): Promise<ArbiterGrant | null>;
  /** Extends a grant; null when it was lost meanwhile (expired and taken). */
  renew(grant: ArbiterGrant, ttlMs: number): Promise<ArbiterGrant | null>;
  /** Gives a grant up early (planned switchover, shutdown). */
  release(grant: ArbiterGrant): Promise<void>;
}
