import type { Arbiter, ArbiterGrant } from '../arbiter/contract.js';

/**
 * Holds the grant a node acts alone under, and ends that right the moment the grant stops being
 * valid. It renews every third of the TTL (a failed renewal is retried every 50 ms), and separately arms a timer at the grant's
 * `validUntilMs`: if no renewal has landed by then (the arbiter is unreachable, slow, or said no), the
 * node is fenced at once. Without that timer a node whose renewals keep failing with errors would
 * go on releasing output after its grant lapsed, while the arbiter hands the next generation to
 * someone else: split brain.
 */
/** Delay before a failed renewal is tried again, milliseconds. */
const RENEW_RETRY_MS = 50;

export class GrantLease {
  readonly #arbiter: Arbiter;
  readonly #ttlMs: number;
  readonly #onLost: (reason: string) => void;
  readonly #onError: (error: Error) => void;
  #grant: ArbiterGrant | null = null;
  #renewTimer: NodeJS.Timeout | null = null;
  #expiryTimer: NodeJS.Timeout | null = null;
  #retryTimer: NodeJS.Timeout | null = null;
  #renewing = false;

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
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#renewTimer = null;
    this.#expiryTimer = null;
    this.#retryTimer = null;
    this.#grant = null;
  }

  async #renew(): Promise<void> {
    const grant = this.#grant;
    if (grant === null || this.#renewing) return;
    this.#renewing = true;
    let renewed: ArbiterGrant | null;
    try {
      renewed = await this.#arbiter.renew(grant, this.#ttlMs);
    } catch (err) {
      this.#onError(err as Error);
      // An arbiter back from a short outage must not find the grant already lapsed because the next
      // scheduled renewal came too late: retry soon, until it lands or the expiry fence fires.
      if (this.#grant === grant && this.#retryTimer === null) {
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = null;
          void this.#renew();
        }, RENEW_RETRY_MS);
        this.#retryTimer.unref();
      }
      return;
    } finally {
      this.#renewing = false;
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
