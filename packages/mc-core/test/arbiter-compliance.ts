import { describe, expect, it } from 'vitest';
import { type Arbiter, type ArbiterGrant, grantIsValid } from '../src/arbiter/contract.js';

/** One fresh arbitration (no generation granted yet) for one test of the suite. */
export interface ArbiterComplianceSubject {
  /**
   * Two clients of the same arbitration, as the two sides of a pair hold them: separate connections
   * where the arbiter has them (the same object for an in-process arbiter).
   */
  sides: readonly [Arbiter, Arbiter];
  /**
   * The TTL the expiry test asks for, in milliseconds: long enough for a few round trips, short enough
   * to wait out. Tests not about expiry use {@link STEADY_TTL_MS} instead.
   */
  ttlMs: number;
  /**
   * How much later than a lapsed grant's TTL the arbiter may still keep the next generation out, in
   * milliseconds (etcd sweeps expired leases every 500 ms and rounds TTLs up to whole seconds).
   */
  expirySlackMs: number;
  /** Frees whatever the factory made (connections, servers, processes). */
  close(): Promise<void>;
}

/**
 * The TTL of every grant that must not lapse during its test, in milliseconds: a loaded host can stall
 * a test for longer than any TTL short enough to wait out, and a lapsed grant there is a false failure.
 */
const STEADY_TTL_MS = 10_000;

/** How long the expiry test may wait for the newer generation beyond TTL and slack: only a hang guard. */
const EXPIRY_HANG_GUARD_MS = 10_000;

/**
 * The behaviour every `Arbiter` must show, run against each implementation with a factory that makes a
 * fresh arbitration per test:
 * - one owner per generation, however many contenders race for it;
 * - fencing tokens strictly increase; renew keeps the token;
 * - once a generation was granted, older generations and other nodes' claims on it are refused forever;
 * - a newer generation waits while the holder's grant lives, and gets in after it lapses, at a moment
 *   when the old holder's own clock already says its grant is over;
 * - renewing a lost or released grant returns null;
 * - release lets the next generation in at once, and a stale release changes nothing;
 * - malformed requests reject with `MC_ERR_INVALID_ARGUMENT`.
 */
export function describeArbiterCompliance(
  name: string,
  factory: () => Promise<ArbiterComplianceSubject>,
): void {
  async function withSubject(test: (subject: ArbiterComplianceSubject) => Promise<void>): Promise<void> {
    const subject = await factory();
    try {
      await test(subject);
    } finally {
      await subject.close();
    }
  }

  describe(`Arbiter compliance: ${name}`, () => {
    it('grants a generation to exactly one of several concurrent contenders', () =>
      withSubject(async ({ sides }) => {
        const ttlMs = STEADY_TTL_MS;
        const before = performance.now();
        const results = await Promise.all(
          ['n0', 'n1', 'n2', 'n3', 'n4', 'n5'].map((node, i) =>
            sides[i % 2]!.acquire({ generation: 1, node, ttlMs }),
          ),
        );
        const after = performance.now();
        const winners = results.filter((grant): grant is ArbiterGrant => grant !== null);
        expect(winners).toHaveLength(1);
        const winner = winners[0]!;
        expect(winner.generation).toBe(1);
        expect(['n0', 'n1', 'n2', 'n3', 'n4', 'n5']).toContain(winner.node);
        expect(Number.isSafeInteger(winner.token) && winner.token > 0).toBe(true);
        // Valid for at most the TTL asked for, counted from no later than the request.
        expect(winner.validUntilMs).toBeLessThanOrEqual(after + ttlMs);
        expect(winner.validUntilMs).toBeGreaterThan(before);
        // Nobody else gets it afterwards either, from either side.
        for (const side of sides)
          expect(await side.acquire({ generation: 1, node: 'late', ttlMs })).toBeNull();
      }));

    it('hands out strictly increasing tokens, and renew keeps the token', () =>
      withSubject(async ({ sides }) => {
        const ttlMs = STEADY_TTL_MS;
        let lastToken = 0;
        for (let generation = 1; generation <= 6; generation++) {
          const side = sides[generation % 2]!;
          const node = generation % 2 === 0 ? 'a' : 'b';
          const grant = await side.acquire({ generation, node, ttlMs });
          expect(grant).not.toBeNull();
          expect(grant!.token).toBeGreaterThan(lastToken);
          lastToken = grant!.token;
          const renewed = await side.renew(grant!, ttlMs);
          expect(renewed).toMatchObject({ generation, node, token: grant!.token });
          expect(renewed!.validUntilMs).toBeGreaterThanOrEqual(grant!.validUntilMs);
          await side.release(renewed!);
        }
      }));

    it('refuses older generations, and other nodes the current one, after a newer grant', () =>
      withSubject(async ({ sides: [a, b] }) => {
        const ttlMs = STEADY_TTL_MS;
        const five = await a.acquire({ generation: 5, node: 'a', ttlMs });
        expect(five).not.toBeNull();
        await a.release(five!);
        expect(await b.acquire({ generation: 3, node: 'b', ttlMs })).toBeNull();
        expect(await b.acquire({ generation: 5, node: 'b', ttlMs })).toBeNull();
        expect(await b.acquire({ generation: 4, node: 'b', ttlMs })).toBeNull();
        expect(await a.acquire({ generation: 4, node: 'a', ttlMs })).toBeNull();
        const six = await b.acquire({ generation: 6, node: 'b', ttlMs });
        expect(six).not.toBeNull();
        expect(six!.token).toBeGreaterThan(five!.token);
        expect(await a.acquire({ generation: 5, node: 'a', ttlMs })).toBeNull();
      }));

    it('keeps a newer generation out while the grant lives, however often it asks', () =>
      withSubject(async ({ sides: [a, b] }) => {
        const ttlMs = STEADY_TTL_MS;
        const held = (await a.acquire({ generation: 1, node: 'a', ttlMs }))!;
        expect(held).not.toBeNull();
        expect(await b.acquire({ generation: 2, node: 'b', ttlMs })).toBeNull();
        const renewed = await a.renew(held, ttlMs);
        expect(renewed).toMatchObject({ generation: 1, node: 'a', token: held.token });
        expect(await b.acquire({ generation: 2, node: 'b', ttlMs })).toBeNull();
        expect(await a.renew(renewed!, ttlMs)).toMatchObject({ token: held.token });
      }));

    it('lets a newer generation in once the holder stops renewing, never while its grant lives', () =>
      withSubject(async ({ sides: [a, b], ttlMs, expirySlackMs }) => {
        // Only the old grant's short TTL is the point; the newer one must outlive the checks after it.
        const old = (await a.acquire({ generation: 1, node: 'a', ttlMs }))!;
        expect(old).not.toBeNull();
        const deadline = performance.now() + ttlMs + expirySlackMs + EXPIRY_HANG_GUARD_MS;
        let next: ArbiterGrant | null = null;
        while (next === null && performance.now() < deadline) {
          next = await b.acquire({ generation: 2, node: 'b', ttlMs: STEADY_TTL_MS });
          // The split-brain guarantee: when b wins, a's own clock already says a lost.
          if (next !== null) expect(grantIsValid(old)).toBe(false);
          else await new Promise((resolve) => setTimeout(resolve, Math.max(5, ttlMs / 20)));
        }
        expect(next).not.toBeNull();
        expect(next!.token).toBeGreaterThan(old.token);
        expect(await a.renew(old, ttlMs)).toBeNull();
        expect(await a.acquire({ generation: 1, node: 'a', ttlMs })).toBeNull();
        expect(await b.renew(next!, STEADY_TTL_MS)).toMatchObject({ token: next!.token });
      }));

    it('returns null when renewing a released grant', () =>
      withSubject(async ({ sides: [a] }) => {
        const ttlMs = STEADY_TTL_MS;
        const grant = (await a.acquire({ generation: 1, node: 'a', ttlMs }))!;
        await a.release(grant);
        expect(await a.renew(grant, ttlMs)).toBeNull();
      }));

    it('lets the next generation in at once after a release, and a stale release changes nothing', () =>
      withSubject(async ({ sides: [a, b] }) => {
        const ttlMs = STEADY_TTL_MS;
        const old = (await a.acquire({ generation: 1, node: 'a', ttlMs }))!;
        await a.release(old);
        const next = await b.acquire({ generation: 2, node: 'b', ttlMs });
        expect(next).not.toBeNull();
        await a.release(old);
        expect(await b.renew(next!, ttlMs)).toMatchObject({ generation: 2, node: 'b', token: next!.token });
        expect(await a.acquire({ generation: 3, node: 'a', ttlMs })).toBeNull();
      }));

    it('rejects malformed requests with MC_ERR_INVALID_ARGUMENT', () =>
      withSubject(async ({ sides: [a] }) => {
        const ttlMs = STEADY_TTL_MS;
        const invalid = { code: 'MC_ERR_INVALID_ARGUMENT' };
        await expect(a.acquire({ generation: 0, node: 'a', ttlMs })).rejects.toMatchObject(invalid);
        await expect(a.acquire({ generation: 1.5, node: 'a', ttlMs })).rejects.toMatchObject(invalid);
        await expect(a.acquire({ generation: -1, node: 'a', ttlMs })).rejects.toMatchObject(invalid);
        await expect(a.acquire({ generation: 1, node: '', ttlMs })).rejects.toMatchObject(invalid);
        await expect(a.acquire({ generation: 1, node: 'a', ttlMs: 0 })).rejects.toMatchObject(invalid);
        await expect(a.acquire({ generation: 1, node: 'a', ttlMs: Number.NaN })).rejects.toMatchObject(
          invalid,
        );
        // Nothing was granted by the malformed requests.
        expect(await a.acquire({ generation: 1, node: 'a', ttlMs })).not.toBeNull();
      }));
  });
}
