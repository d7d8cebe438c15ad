import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileArbiter } from '../src/arbiter/file.js';
import { AttachError } from '../src/errors.js';
import { createGuestMemory } from '../src/guest-memory.js';
import { createInProcessGuest } from '../src/guests/in-process.js';
import { cleanups, makePrimary, runCleanups, startSecondary } from './engine-helpers.js';

afterEach(runCleanups);

/** A port nobody listens on now (a listener is opened on it later, by the secondary). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('a primary whose first attach failed', () => {
  it('starts again under the generation and token it won, with the shared-file arbiter', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-primary-retry-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const arbiter = createFileArbiter({ directory: dir });
    const memory = createGuestMemory({ sizeBytes: 1 << 20 });
    const guest = createInProcessGuest<number>({
      memory,
      handler: (n, context) => {
        memory.write(4096, new Uint8Array([n]));
        context.output(1, new Uint8Array([n]));
      },
      output: () => undefined,
    });
    cleanups.push(() => guest.close());
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
