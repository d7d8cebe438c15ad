import { describe, expect, it } from 'vitest';
import { grantIsValid } from '../src/arbiter/contract.js';
import { InProcessArbiter } from '../src/arbiter/in-process.js';

function clock() {
  let now = 1000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('InProcessArbiter', () => {
  it('grants one owner per generation with strictly increasing tokens', async () => {
    const c = clock();
    const arbiter = new InProcessArbiter(10, c.now);
    const a = await arbiter.acquire({ generation: 1, node: 'a', ttlMs: 100 });
    expect(a).toMatchObject({ generation: 1, node: 'a', token: 1, validUntilMs: 1090 });
    expect(await arbiter.acquire({ generation: 1, node: 'b', ttlMs: 100 })).toBeNull();
    // A newer generation must wait for the holder's lease to expire...
    expect(await arbiter.acquire({ generation: 2, node: 'b', ttlMs: 100 })).toBeNull();
    c.advance(100);
    const b = await arbiter.acquire({ generation: 2, node: 'b', ttlMs: 100 });
    expect(b!.token).toBeGreaterThan(a!.token);
    // ...and an older generation never comes back.
    c.advance(1000);
    expect(await arbiter.acquire({ generation: 1, node: 'a', ttlMs: 100 })).toBeNull();
    expect(arbiter.owner).toEqual({ generation: 2, node: 'b' });
  });

  it('renews only a live grant of the current owner, and release lets the next generation in at once', async () => {
    const c = clock();
    const arbiter = new InProcessArbiter(0, c.now);
    const a = (await arbiter.acquire({ generation: 1, node: 'a', ttlMs: 100 }))!;
    c.advance(50);
    const renewed = await arbiter.renew(a, 100);
    expect(renewed).toMatchObject({ token: a.token, validUntilMs: 1150 });
    c.advance(200);
    expect(grantIsValid(renewed, c.now())).toBe(false);
    expect(await arbiter.renew(a, 100)).toBeNull();
    const b = (await arbiter.acquire({ generation: 2, node: 'b', ttlMs: 1000 }))!;
    await arbiter.release(b);
    expect(await arbiter.acquire({ generation: 3, node: 'a', ttlMs: 100 })).not.toBeNull();
  });

  it('rejects malformed requests', async () => {
    const arbiter = new InProcessArbiter();
    await expect(arbiter.acquire({ generation: 0, node: 'a', ttlMs: 1 })).rejects.toThrow(/generation/);
    await expect(arbiter.acquire({ generation: 1, node: '', ttlMs: 1 })).rejects.toThrow(/node/);
    await expect(arbiter.acquire({ generation: 1, node: 'a', ttlMs: 0 })).rejects.toThrow(/ttlMs/);
  });
});
