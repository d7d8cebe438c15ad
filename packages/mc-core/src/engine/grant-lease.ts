import type { Arbiter, ArbiterGrant } from '../arbiter/contract.js';

/**
 * Holds the grant a node acts alone under, and ends that right the moment the grant stops being
 * valid. It renews every third of the TTL, and separately arms a timer at the grant's
 * `validUntilMs`: if no renewal has landed by then (the arbiter is unreachable, slow, or said no), the
 * node is fenced at once. Without that timer a node whose renewals keep failing with errors would
 * go on releasing output after its grant lapsed, while the arbiter hands the next generation to
 * someone else: split brain.
 */
export class GrantLease {
  readonly #arbiter: Arbiter;
  readonly #ttlMs: number;
  readonly #onLost: (reason: string) => void;
  readonly #onError: (error: Error) => void;
  #grant: ArbiterGrant | null = null;
  #renewTimer: NodeJS.Timeout | null = null;
  #expiryTimer: NodeJS.Timeout | null = null;

  /**
   * @param onLost called once when the grant is lost (renewal refused) or expires unrenewed; the
   *   holder must stop acting alone before it returns.
   * @param onError a renewal failed with an error (reported; the expiry timer still guards).
   */
  constructor(
    arbiter: Arbiter,
    ttlMs: number,
    onLost: (reason: string) => void,
    onError: (error: Error) => void,
  ) {
    this.#arbiter = arbiter;
    this.#ttlMs = ttlMs;
    this.#onLost = onLost;
    this.#onError = onError;
  }

  /** The grant held, or null. */
  get grant(): ArbiterGrant | null {
    return this.#grant;
  }

  /** Starts holding `grant`: renewals and the expiry fence begin. */
  hold(grant: ArbiterGrant): void {
    this.stop();
    this.#grant = grant;
    this.#armExpiry(grant);
    this.#renewTimer = setInterval(() => void this.#renew(), Math.max(1, Math.floor(this.#ttlMs / 3)));
    this.#renewTimer.unref();
  }

  /** Stops renewing and guarding; the grant is forgotten (not released at the arbiter). */
  stop(): void {
    if (this.#renewTimer) clearInterval(this.#renewTimer);
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer);
    this.#renewTimer = null;
    this.#expiryTimer = null;
    this.#grant = null;
  }

  async #renew(): Promise<void> {
    const grant = this.#grant;
    if (grant === null) return;
    let renewed: ArbiterGrant | null;
    try {
      renewed = await this.#arbiter.renew(grant, this.#ttlMs);
    } catch (err) {
      this.#onError(err as Error);
      return;
    }
    if (this.#grant !== grant) return;
    if (renewed === null) {
      this.stop();
      this.#onLost('the arbitration grant was lost');
      return;
    }
    this.#grant = renewed;
    this.#armExpiry(renewed);
  }

  #armExpiry(grant: ArbiterGrant): void {
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = setTimeout(
      () => {
        if (this.#grant !== grant) return;
        this.stop();
        this.#onLost('the arbitration grant expired before a renewal landed (arbiter unreachable?)');
      },
      Math.max(0, grant.validUntilMs - performance.now()),
    );
    this.#expiryTimer.unref();
  }
}
