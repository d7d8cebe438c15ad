import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevice, type Device } from '../src/index.js';
import { collect, connectPair, FABRICS, pattern, sameBytes } from './helpers/pair.js';

/**
 * The reason the commit marker is a WRITE_WITH_IMM and not a flag byte: a NIC may place the packets
 * of one message in any order, so the last byte of a buffer can be visible before the rest. The
 * fault plan makes the target NIC place the MTU segments of every message last-first, slowly.
 */
describe.each(FABRICS)('torn-write detector over the $name fabric', ({ make }) => {
  let devA: Device;
  let devB: Device;
  beforeAll(async () => {
    [devA, devB] = await Promise.all([
      createDevice({ fabric: make() }),
      createDevice({ fabric: make(), faults: { placementOrder: 'reverse', segmentDelayMs: 3 } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([devA.close(), devB.close()]);
  });

  it('fools a reader that polls the last byte, never one that waits for the WRITE_WITH_IMM completion', async () => {
    const size = 64 * 256;
    const pair = connectPair(devA, devB, { bytes: size, pathMtu: 256, recvB: 1 });
    const { a, b } = pair;
    try {
      pattern(a.mr.buffer, 9);
      a.qp.postSend([
        {
          wrId: 1,
          opcode: 'RDMA_WRITE',
          sgList: [a.mr.sge(0, size)],
          remoteAddr: b.mr.addr,
          rkey: b.mr.rkey,
        },
        {
          wrId: 2,
          opcode: 'RDMA_WRITE_WITH_IMM',
          remoteAddr: b.mr.addr,
          rkey: b.mr.rkey,
          imm: 7,
          signaled: true,
        },
      ]);
      // The naive reader: spin on the last byte (bounded by time), then trust the buffer.
      const target = b.mr.buffer;
      const deadline = performance.now() + 10_000;
      while (target[size - 1] === 0 && performance.now() < deadline) {
        // spinning, as a reader of a flag byte would
      }
      expect(target[size - 1]).toBe(a.mr.buffer[size - 1]);
      const complete = sameBytes(target, a.mr.buffer);
      const missing = target.reduce((n, byte) => n + (byte === 0 ? 1 : 0), 0);
      // Segments land 3 ms apart, last one first: a reader trusting the last byte sees a torn buffer.
      expect(complete).toBe(false);
      expect(missing).toBeGreaterThan(0);

      // The faithful reader: the receive completion of the marker.
      const [recv] = await collect(b.cq, 1);
      expect(recv).toMatchObject({ opcode: 'RECV_RDMA_WITH_IMM', imm: 7, status: 'SUCCESS' });
      expect(sameBytes(target, a.mr.buffer)).toBe(true);
      await collect(a.cq, 1);
    } finally {
      pair.dispose();
    }
  });

  it('still delivers complete data at the marker when segments land in shuffled order', async () => {
    devB.setFaultPlan({ placementOrder: 'shuffle', seed: 12345 });
    const size = 40 * 1024 + 100;
    const pair = connectPair(devA, devB, { bytes: size, pathMtu: 1024, recvB: 3 });
    const { a, b } = pair;
    try {
      for (let round = 1; round <= 3; round++) {
        pattern(a.mr.buffer, round * 11);
        a.qp.postSend([
          {
            wrId: round * 10,
            opcode: 'RDMA_WRITE',
            sgList: [a.mr.sge(0, size)],
            remoteAddr: b.mr.addr,
            rkey: b.mr.rkey,
          },
          {
            wrId: round * 10 + 1,
            opcode: 'RDMA_WRITE_WITH_IMM',
            remoteAddr: 0,
            rkey: 0,
            imm: round,
            signaled: true,
          },
        ]);
        const [recv] = await collect(b.cq, 1);
        expect(recv?.imm).toBe(round);
        expect(sameBytes(b.mr.buffer, a.mr.buffer)).toBe(true);
        await collect(a.cq, 1);
      }
    } finally {
      devB.setFaultPlan({ placementOrder: 'reverse', segmentDelayMs: 3 });
      pair.dispose();
    }
  });
});
