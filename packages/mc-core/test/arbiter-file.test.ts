import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { grantIsValid } from '../src/arbiter/contract.js';
import { createFileArbiter } from '../src/arbiter/file.js';
import { startTsWorker } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function directory(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mc-file-arbiter-'));
  dirs.push(dir);
  return dir;
}

describe('FileArbiter', () => {
  it('grants one owner per generation, the generation as token, and never an older generation again', async () => {
    const dir = directory();
    const a = createFileArbiter({ directory: dir, driftMarginMs: 10 });
    const b = createFileArbiter({ directory: dir });
    const ga = await a.acquire({ generation: 1, node: 'a', ttlMs: 200 });
    expect(ga).toMatchObject({ generation: 1, node: 'a', token: 1 });
    expect(ga!.validUntilMs).toBeLessThanOrEqual(performance.now() + 190);
    expect(await b.acquire({ generation: 1, node: 'b', ttlMs: 200 })).toBeNull();
    // A newer generation waits for the holder's lease...
    expect(await b.acquire({ generation: 2, node: 'b', ttlMs: 200 })).toBeNull();
    await sleep(220);
    const gb = await b.acquire({ generation: 2, node: 'b', ttlMs: 1000 });
    expect(gb).toMatchObject({ generation: 2, token: 2 });
    // ...and an older one never comes back.
    expect(await a.acquire({ generation: 1, node: 'a', ttlMs: 200 })).toBeNull();
    expect(a.owner).toEqual({ generation: 2, node: 'b' });
    expect(readdirSync(dir).sort()).toEqual(['generation.1', 'generation.2']);
  });

  it('renews only the newest live grant of its holder; release lets the next generation in at once', async () => {
    const dir = directory();
    const arbiter = createFileArbiter({ directory: dir });
    const a = (await arbiter.acquire({ generation: 1, node: 'a', ttlMs: 100 }))!;
    const renewed = await arbiter.renew(a, 5000);
    expect(renewed).not.toBeNull();
    expect(grantIsValid(renewed)).toBe(true);
    expect(await arbiter.acquire({ generation: 2, node: 'b', ttlMs: 100 })).toBeNull();
    await arbiter.release(renewed!);
    const b = (await arbiter.acquire({ generation: 2, node: 'b', ttlMs: 100 }))!;
    expect(b.token).toBe(2);
    expect(await arbiter.renew(a, 100)).toBeNull();
    await sleep(120);
    expect(await arbiter.renew(b, 100)).toBeNull();
  });

  it('lets exactly one of many racing threads win a generation', async () => {
    const dir = directory();
    const arbiter = createFileArbiter({ directory: dir });
    const first = (await arbiter.acquire({ generation: 1, node: 'primary', ttlMs: 1000 }))!;
    await arbiter.release(first);
    const start = new Int32Array(new SharedArrayBuffer(4));
    const workers = Array.from({ length: 6 }, (_, i) =>
      startTsWorker(new URL('./fixtures/arbiter-racer.ts', import.meta.url), {
        directory: dir,
        node: `racer-${i}`,
        start: start.buffer,
      }),
    );
    const results = workers.map(
      (w) =>
        new Promise<boolean>((resolve, reject) => {
          w.once('message', (m: { won: boolean }) => resolve(m.won));
          w.once('error', reject);
        }),
    );
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('online', resolve))));
    await sleep(200);
    Atomics.store(start, 0, 1);
    Atomics.notify(start, 0);
    const won = await Promise.all(results);
    await Promise.all(workers.map((w) => w.terminate()));
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(
      readdirSync(dir)
        .filter((f) => f.startsWith('generation.'))
        .sort(),
    ).toEqual(['generation.1', 'generation.2']);
  });

  it('refuses bad options and requests, and reports an unreadable lease as a typed error', async () => {
    expect(() => createFileArbiter({ directory: '' })).toThrow(/option directory/);
    expect(() => createFileArbiter({ directory: directory(), driftMarginMs: -1 })).toThrow(/driftMarginMs/);
    const dir = directory();
    const arbiter = createFileArbiter({ directory: dir });
    await expect(arbiter.acquire({ generation: 0, node: 'a', ttlMs: 1 })).rejects.toThrow(/generation/);
    await expect(arbiter.acquire({ generation: 1, node: '', ttlMs: 1 })).rejects.toThrow(/node/);
    await expect(arbiter.acquire({ generation: 1, node: 'a', ttlMs: 0 })).rejects.toThrow(/ttlMs/);
    writeFileSync(join(dir, 'generation.4'), 'not json');
    await expect(arbiter.acquire({ generation: 5, node: 'a', ttlMs: 10 })).rejects.toMatchObject({
      code: 'MC_ERR_ARBITER_IO',
    });
  });
});
