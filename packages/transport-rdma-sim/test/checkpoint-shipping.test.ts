import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Access,
  CheckpointRangeError,
  CompletionError,
  createCheckpointReceiver,
  createCheckpointShipper,
  createDevice,
  type Device,
  estimateTransferNs,
  type PageRun,
  ROCE_100G,
  UnregisteredMemoryError,
} from '../src/index.js';
import { FABRICS, pattern, sameBytes, shared } from './helpers/pair.js';

const PAGE = 4096;

describe.each(FABRICS)('checkpoint shipping over the $name fabric', ({ make }) => {
  let primary: Device;
  let secondary: Device;
  beforeAll(async () => {
    [primary, secondary] = await Promise.all([
      createDevice({ fabric: make() }),
      // The secondary's NIC places pages in a shuffled order: delivery must still be complete.
      createDevice({ fabric: make(), faults: { placementOrder: 'shuffle', seed: 99 } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([primary.close(), secondary.close()]);
  });

  function setup(
    options: { pages?: number; maxSendWr?: number; credits?: number; wrongRkey?: boolean } = {},
  ) {
    const pages = options.pages ?? 64;
    const ppd = primary.allocPd();
    const pcq = primary.createCq({ capacity: 256 });
    const slab = ppd.registerMemoryRegion(shared(pages * PAGE), Access.LOCAL_WRITE);
    const pqp = ppd.createQp({ sendCq: pcq, recvCq: pcq, maxSendWr: options.maxSendWr ?? 128 });
    const spd = secondary.allocPd();
    const scq = secondary.createCq({ capacity: 256 });
    const staging = spd.registerMemoryRegion(shared(pages * PAGE), Access.LOCAL_WRITE | Access.REMOTE_WRITE);
    const sqp = spd.createQp({ sendCq: scq, recvCq: scq });
    pqp.modify({ state: 'INIT' });
    sqp.modify({ state: 'INIT', access: Access.REMOTE_WRITE });
    // Credits go up before the connection, so the first marker never meets an empty queue.
    const receiver = createCheckpointReceiver({ qp: sqp, staging, credits: options.credits });
    pqp.modify({ state: 'RTR', remote: sqp.endpoint });
    sqp.modify({ state: 'RTR', remote: pqp.endpoint });
    pqp.modify({ state: 'RTS' });
    sqp.modify({ state: 'RTS' });
    const remote = staging.remote();
    const shipper = createCheckpointShipper({
      qp: pqp,
      staging: options.wrongRkey ? { ...remote, rkey: remote.rkey ^ 0x40 } : remote,
      regions: [slab],
      signalInterval: Math.min(32, options.maxSendWr ?? 128),
      model: ROCE_100G,
    });
    return {
      shipper,
      receiver,
      slab,
      staging,
      sqp,
      dispose() {
        receiver.close();
        pqp.destroy();
        sqp.destroy();
        slab.deregister();
        staging.deregister();
        pcq.destroy();
        scq.destroy();
        ppd.dealloc();
        spd.dealloc();
      },
    };
  }

  /** Dirties `count` pseudo-random pages of the slab and returns them as coalesced runs. */
  function dirty(slab: Uint8Array, epoch: number, count: number): PageRun[] {
    const pages = slab.length / PAGE;
    const chosen = new Set<number>();
    let x = Math.imul(epoch, 2654435761) >>> 0;
    while (chosen.size < Math.min(count, pages)) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      chosen.add(x % pages);
    }
    const sorted = [...chosen].sort((p, q) => p - q);
    const runs: PageRun[] = [];
    for (const page of sorted) {
      pattern(slab.subarray(page * PAGE, (page + 1) * PAGE), epoch * 1000 + page);
      const last = runs.at(-1);
      if (last && last.offset + last.bytes.length === page * PAGE) {
        last.bytes = slab.subarray(last.offset, (page + 1) * PAGE);
      } else {
        runs.push({ offset: page * PAGE, bytes: slab.subarray(page * PAGE, (page + 1) * PAGE) });
      }
    }
    return runs;
  }

  it('delivers each epoch once every page of it is in staging, with credits replenished', async () => {
    const s = setup({ credits: 4 });
    try {
      for (let epoch = 1; epoch <= 6; epoch++) {
        const runs = dirty(s.slab.buffer, epoch, 20);
        const result = await s.shipper.ship(epoch, runs);
        expect(result).toMatchObject({ epoch, bytes: runs.reduce((n, r) => n + r.bytes.length, 0) });
        expect(result.writes).toBe(runs.length);
        expect(result.modeledNs).toBeCloseTo(
          estimateTransferNs(ROCE_100G, [...runs.map((r) => r.bytes.length), 0]),
        );
        const checkpoint = await s.receiver.next(10_000);
        expect(checkpoint?.epoch).toBe(epoch);
        for (const run of runs) {
          expect(
            sameBytes(checkpoint!.staging.subarray(run.offset, run.offset + run.bytes.length), run.bytes),
          ).toBe(true);
        }
        expect(s.receiver.credits).toBe(4);
      }
      expect(secondary.counters().rnrNaksSent).toBe(0);
    } finally {
      s.dispose();
    }
  });

  it('ships more runs than the send queue holds, signaling often enough to free slots', async () => {
    const s = setup({ maxSendWr: 8, pages: 256 });
    try {
      // Every other page: 128 separate runs through a queue of 8 slots.
      const runs: PageRun[] = [];
      for (let page = 0; page < 256; page += 2) {
        pattern(s.slab.buffer.subarray(page * PAGE, (page + 1) * PAGE), page);
        runs.push({ offset: page * PAGE, bytes: s.slab.buffer.subarray(page * PAGE, (page + 1) * PAGE) });
      }
      const result = await s.shipper.ship(0xffff_ffff, runs);
      expect(result.writes).toBe(128);
      const checkpoint = await s.receiver.next(10_000);
      expect(checkpoint?.epoch).toBe(0xffff_ffff);
      for (const run of runs) {
        expect(sameBytes(checkpoint!.staging.subarray(run.offset, run.offset + PAGE), run.bytes)).toBe(true);
      }
    } finally {
      s.dispose();
    }
  });

  it('lets the primary run ahead of a receiver that is not polling, up to its credits', async () => {
    const s = setup({ credits: 8 });
    try {
      for (let epoch = 10; epoch < 15; epoch++) {
        await s.shipper.ship(epoch, [{ offset: epoch * PAGE, bytes: s.slab.buffer.subarray(0, PAGE) }]);
      }
      const epochs: number[] = [];
      for await (const checkpoint of s.receiver) {
        epochs.push(checkpoint.epoch);
        if (epochs.length === 5) break;
      }
      expect(epochs).toEqual([10, 11, 12, 13, 14]);
      expect(s.receiver.credits).toBe(8);
      expect(s.receiver.poll()).toBeUndefined();
    } finally {
      s.dispose();
    }
  });

  it('rejects bad runs and epochs before posting anything', async () => {
    const s = setup();
    try {
      const unregistered = shared(PAGE);
      await expect(s.shipper.ship(1, [{ offset: 0, bytes: unregistered }])).rejects.toBeInstanceOf(
        UnregisteredMemoryError,
      );
      await expect(
        s.shipper.ship(1, [{ offset: s.staging.length - 10, bytes: s.slab.buffer.subarray(0, 11) }]),
      ).rejects.toBeInstanceOf(CheckpointRangeError);
      await expect(s.shipper.ship(-1, [])).rejects.toBeInstanceOf(CheckpointRangeError);
      await expect(s.shipper.ship(2 ** 32, [])).rejects.toBeInstanceOf(CheckpointRangeError);
      await expect(s.shipper.ship(1.5, [])).rejects.toBeInstanceOf(CheckpointRangeError);
      // Nothing went out: the staging region is untouched and no marker arrived.
      expect(s.staging.buffer.every((b) => b === 0)).toBe(true);
      expect(await s.receiver.next(30)).toBeUndefined();
      // An empty checkpoint (nothing dirtied) is still a commit.
      await s.shipper.ship(3, []);
      expect((await s.receiver.next(10_000))?.epoch).toBe(3);
    } finally {
      s.dispose();
    }
  });

  it('fails both sides with CompletionError when the staging key is wrong, committing nothing', async () => {
    const s = setup({ wrongRkey: true });
    try {
      const runs = dirty(s.slab.buffer, 1, 4);
      const shipped = s.shipper.ship(1, runs);
      await expect(shipped).rejects.toBeInstanceOf(CompletionError);
      await expect(shipped).rejects.toMatchObject({ status: 'REM_ACCESS_ERR' });
      // The secondary's QP went to ERR: its credits are flushed, and no checkpoint is delivered.
      await expect(s.receiver.next(10_000)).rejects.toMatchObject({ status: 'WR_FLUSH_ERR' });
      expect(s.staging.buffer.every((b) => b === 0)).toBe(true);
      expect(s.sqp.state).toBe('ERR');
    } finally {
      s.dispose();
    }
  });
});
