import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileArbiter } from '../src/arbiter/file.js';
import { AttachError } from '../src/errors.js';
import {
  cleanups,
  freePort,
  makePrimary,
  runCleanups,
  startSecondary,
  writerGuest,
} from './engine-helpers.js';

afterEach(runCleanups);

describe('a primary whose first attach failed', () => {
  it('starts again under the generation and token it won, with the shared-file arbiter', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-primary-retry-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const arbiter = createFileArbiter({ directory: dir });
    const { guest } = writerGuest();
    const port = await freePort();
    // The same deadline bounds the second start's HELLO, which a loaded machine can take a while to
    // answer: 2 s, not the few hundred milliseconds the failing first attempt would need.
    const primary = makePrimary(guest, () => undefined, port, arbiter, { attachTimeoutMs: 2000 });
    await expect(primary.start()).rejects.toBeInstanceOf(AttachError);
    expect(primary.state).toBe('idle');
    // The first attempt won generation 1 (the arbiter grants it once) and gave the grant back.
    expect(readdirSync(dir)).toEqual(['generation.1']);
    // The secondary comes up late, on the address the primary was given.
    await startSecondary({ arbiter, port });
    await primary.start();
    expect(primary.status()).toMatchObject({ state: 'protected', generation: 1, fencingToken: 1 });
    expect(readdirSync(dir)).toEqual(['generation.1']);
    guest.submit(7);
    await primary.checkpoint();
  });
});
