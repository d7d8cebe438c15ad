import { afterEach, describe, expect, it } from 'vitest';
import { InProcessArbiter } from '../src/arbiter/in-process.js';
import { createGuestMemory } from '../src/guest-memory.js';
import { createInProcessGuest } from '../src/guests/in-process.js';
import { cleanups, makePrimary, runCleanups, startSecondary, until } from './engine-helpers.js';

afterEach(runCleanups);

const SIZE = 1 << 20;

/** A guest whose request n adds n to a counter in page 0 and replies with the total. */
function counterGuest() {
  const memory = createGuestMemory({ sizeBytes: SIZE });
  const view = new DataView(memory.bytes.buffer, 0, 8);
  const guest = createInProcessGuest<number>({
    memory,
    handler: (n, context) => {
      const total = view.getUint32(0, true) + n;
      view.setUint32(0, total, true);
      memory.markDirty(0, 4);
      context.output(1, new Uint8Array(new Uint32Array([total]).buffer));
    },
    output: () => undefined,
  });
  cleanups.push(() => guest.close());
  return { memory, guest };
}

describe('checkpoints on idle output', () => {
  it('release a request-response reply without waiting for a long epoch, and only once it is committed', async () => {
    const arbiter = new InProcessArbiter();
    const { secondary, port } = await startSecondary({ arbiter });
    const { guest } = counterGuest();
    const image = new Uint8Array(SIZE);
    const released: number[] = [];
    const early: string[] = [];
    const primary = makePrimary(
      guest,
      (_target, data) => {
        const total = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
        secondary.materialize(image);
        const committed = new DataView(image.buffer).getUint32(0, true);
        if (committed < total) early.push(`reply ${total} released with ${committed} committed`);
        released.push(total);
      },
      port,
      arbiter,
      // Epochs far longer than the test: only idle-output checkpoints can release anything.
      { epochMs: 600_000 },
    );
    await primary.start();
    let expected = 0;
    for (let n = 1; n <= 20; n++) {
      // One request at a time, each waiting for its reply: a request-response client.
      guest.submit(n);
      expected += n;
      await until(() => released.at(-1) === expected, 20_000, `reply ${n}`);
    }
    expect(early).toEqual([]);
    const status = primary.status();
    expect(status.idleCheckpoints).toBeGreaterThanOrEqual(20);
    expect(status.committedEpoch).toBeGreaterThanOrEqual(20);
  });

  it('leave output to the epoch timer when turned off (idleCheckpointMs: null)', async () => {
    const arbiter = new InProcessArbiter();
    const { port } = await startSecondary({ arbiter });
    const { guest } = counterGuest();
    const released: number[] = [];
    const primary = makePrimary(guest, (_t, data) => released.push(data.byteLength), port, arbiter, {
      epochMs: 600_000,
      idleCheckpointMs: null,
    });
    await primary.start();
    const before = primary.status().committedEpoch;
    guest.submit(1);
    // Give an idle checkpoint every chance to happen; none may.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(released).toEqual([]);
    expect(primary.status()).toMatchObject({ idleCheckpoints: 0, committedEpoch: before });
    await primary.checkpoint();
    await until(() => released.length === 1, 10_000, 'the reply after an explicit checkpoint');
  });

  it('validate the options', () => {
    const { guest } = counterGuest();
    const arbiter = new InProcessArbiter();
    expect(() => makePrimary(guest, () => undefined, 1, arbiter, { idleCheckpointMs: -1 })).toThrow(
      /option idleCheckpointMs/,
    );
    expect(() => makePrimary(guest, () => undefined, 1, arbiter, { minEpochMs: Number.NaN })).toThrow(
      /option minEpochMs/,
    );
  });
});
