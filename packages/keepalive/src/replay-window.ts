import { REPLAY_WINDOW_SIZE } from './constants.js';

/** What a replay window says about a sequence number. */
export type ReplayVerdict = 'fresh' | 'replayed' | 'stale';

/**
 * Anti-replay window over sequence numbers, as IPsec keeps one (RFC 4303 3.4.3, appendix A2): the
 * highest sequence accepted plus a bitmap of which of the `size` numbers below it were seen. A number
 * above the highest is fresh; one inside the window is fresh once; one below the window is stale
 * (it can no longer be told from a replay). Reordering within the window is tolerated, a duplicate never.
 *
 * Only authenticated datagrams may be passed to {@link accept}: an attacker who could move the window
 * forward with a forged sequence number could make every genuine heartbeat look stale.
 */
export class ReplayWindow {
  readonly size: number;
  readonly #mask: bigint;
  #highest = 0;
  /** Bit i set: sequence `highest - i` was accepted. */
  #seen = 0n;

  constructor(size = REPLAY_WINDOW_SIZE) {
    if (!Number.isInteger(size) || size < 1 || size > 1024)
      throw new RangeError(`replay window size ${size}`);
    this.size = size;
    this.#mask = (1n << BigInt(size)) - 1n;
  }

  /** Highest sequence accepted so far (0 before the first). */
  get highest(): number {
    return this.#highest;
  }

  /** Classifies `sequence` without recording it. */
  check(sequence: number): ReplayVerdict {
    if (sequence > this.#highest) return 'fresh';
    const behind = this.#highest - sequence;
    if (behind >= this.size) return 'stale';
    return (this.#seen >> BigInt(behind)) & 1n ? 'replayed' : 'fresh';
  }

  /** Records `sequence` as seen; call only after `check()` said fresh and the datagram was authenticated. */
  accept(sequence: number): void {
    if (sequence > this.#highest) {
      const shift = sequence - this.#highest;
      this.#seen = shift >= this.size ? 1n : ((this.#seen << BigInt(shift)) | 1n) & this.#mask;
      this.#highest = sequence;
    } else {
      this.#seen |= 1n << BigInt(this.#highest - sequence);
    }
  }
}
