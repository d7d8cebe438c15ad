import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevice, type Device } from '../src/index.js';
import { collect, connectPair, FABRICS, pattern, sleep } from './helpers/pair.js';

describe.each(FABRICS)('receiver not ready over the $name fabric', ({ make }) => {
  let devA: Device;
  let devB: Device;
  beforeAll(async () => {
    [devA, devB] = await Promise.all([createDevice({ fabric: make() }), createDevice({ fabric: make() })]);
  });
  afterAll(async () => {
    await Promise.all([devA.close(), devB.close()]);
  });

  it('fails a WRITE_WITH_IMM with RNR_RETRY_EXC_ERR after rnrRetry retries, placing nothing', async () => {
    const pair = connectPair(devA, devB, { rnrRetry: 2, minRnrTimerMs: 2 });
    const { a, b } = pair;
    try {
      const naksBefore = devB.counters().rnrNaksSent;
      pattern(a.mr.buffer.subarray(0, 8192), 1);
      a.qp.postSend([
        {
          wrId: 1,
          opcode: 'RDMA_WRITE_WITH_IMM',
          sgList: [a.mr.sge(0, 8192)],
          remoteAddr: b.mr.addr,
          rkey: b.mr.rkey,
          imm: 1,
          signaled: true,
        },
        {
          wrId: 2,
          opcode: 'RDMA_WRITE',
          sgList: [a.mr.sge(0, 10)],
          remoteAddr: b.mr.addr + 9000,
          rkey: b.mr.rkey,
        },
      ]);
      const wcs = await collect(a.cq, 2);
      expect(wcs.map((wc) => [wc.wrId, wc.status])).toEqual([
        [1, 'RNR_RETRY_EXC_ERR'],
        [2, 'WR_FLUSH_ERR'],
      ]);
      expect(a.qp.state).toBe('ERR');
      // The first try and two retries each met an empty receive queue.
      expect(devB.counters().rnrNaksSent - naksBefore).toBe(3);
      expect(b.mr.buffer.every((x) => x === 0)).toBe(true);
      // RNR is not an error for the responder: its QP stays usable.
      expect(b.qp.state).toBe('RTS');
    } finally {
      pair.dispose();
    }
  });

  it('fails a SEND the same way', async () => {
    const pair = connectPair(devA, devB, { rnrRetry: 0 });
    try {
      pair.a.qp.postSend({ wrId: 1, opcode: 'SEND', sgList: [pair.a.mr.sge(0, 4)], signaled: true });
      expect((await collect(pair.a.cq, 1))[0]?.status).toBe('RNR_RETRY_EXC_ERR');
    } finally {
      pair.dispose();
    }
  });

  it('retries until a receive is posted, and executes nothing after the marker before it (go-back-N)', async () => {
    const pair = connectPair(devA, devB, { rnrRetry: 7, minRnrTimerMs: 1 });
    const { a, b } = pair;
    try {
      a.mr.buffer.fill(5, 0, 64);
      const naksBefore = devA.counters().rnrNaksReceived;
      a.qp.postSend([
        { wrId: 1, opcode: 'RDMA_WRITE', sgList: [a.mr.sge(0, 16)], remoteAddr: b.mr.addr, rkey: b.mr.rkey },
        { wrId: 2, opcode: 'RDMA_WRITE_WITH_IMM', remoteAddr: 0, rkey: 0, imm: 42, signaled: true },
        {
          wrId: 3,
          opcode: 'RDMA_WRITE',
          sgList: [a.mr.sge(16, 16)],
          remoteAddr: b.mr.addr + 16,
          rkey: b.mr.rkey,
          signaled: true,
        },
      ]);
      await expect
        .poll(() => devA.counters().rnrNaksReceived - naksBefore, { timeout: 5000 })
        .toBeGreaterThan(2);
      // The write before the marker landed; the one after it waits behind the marker.
      expect(b.mr.buffer.subarray(0, 16).every((x) => x === 5)).toBe(true);
      expect(b.mr.buffer.subarray(16, 32).every((x) => x === 0)).toBe(true);
      expect(await a.cq.wait(10)).toBe(false);
      await sleep(20);
      expect(b.mr.buffer.subarray(16, 32).every((x) => x === 0)).toBe(true);

      b.qp.postRecv({ wrId: 99 });
      const [recv] = await collect(b.cq, 1);
      expect(recv).toMatchObject({ wrId: 99, imm: 42, status: 'SUCCESS' });
      const sends = await collect(a.cq, 2);
      expect(sends.map((wc) => [wc.wrId, wc.status])).toEqual([
        [2, 'SUCCESS'],
        [3, 'SUCCESS'],
      ]);
      expect(b.mr.buffer.subarray(16, 32).every((x) => x === 5)).toBe(true);
    } finally {
      pair.dispose();
    }
  });
});
