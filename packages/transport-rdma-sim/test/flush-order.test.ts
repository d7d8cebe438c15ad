import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevice, type Device, type SendWorkRequest } from '../src/index.js';
import { collect, connectPair, FABRICS } from './helpers/pair.js';

describe.each(FABRICS)('error state and flush order over the $name fabric', ({ make }) => {
  let devA: Device;
  let devB: Device;
  beforeAll(async () => {
    [devA, devB] = await Promise.all([createDevice({ fabric: make() }), createDevice({ fabric: make() })]);
  });
  afterAll(async () => {
    await Promise.all([devA.close(), devB.close()]);
  });

  it('completes everything after the first error with WR_FLUSH_ERR, in post order, unsignaled ones too', async () => {
    const pair = connectPair(devA, devB, { recvB: 4 });
    const { a, b } = pair;
    try {
      a.qp.postRecv([{ wrId: 900 }, { wrId: 901 }]);
      const wrs: SendWorkRequest[] = Array.from({ length: 12 }, (_, i) => ({
        wrId: i,
        opcode: 'RDMA_WRITE',
        sgList: [a.mr.sge(i * 16, 16)],
        remoteAddr: b.mr.addr + i * 16,
        // Request 5 names a key the target never issued.
        rkey: i === 5 ? b.mr.rkey ^ 0x300 : b.mr.rkey,
        // Only some are signaled: the error and the flushes complete regardless.
        signaled: i % 3 === 0,
      }));
      a.mr.buffer.fill(9, 0, 12 * 16);
      a.qp.postSend(wrs);
      const sends = await collect(a.cq, 2 + 1 + 6 + 2);
      const send = sends.filter((wc) => wc.opcode !== 'RECV');
      expect(send.map((wc) => [wc.wrId, wc.status])).toEqual([
        [0, 'SUCCESS'],
        [3, 'SUCCESS'],
        [5, 'REM_ACCESS_ERR'],
        [6, 'WR_FLUSH_ERR'],
        [7, 'WR_FLUSH_ERR'],
        [8, 'WR_FLUSH_ERR'],
        [9, 'WR_FLUSH_ERR'],
        [10, 'WR_FLUSH_ERR'],
        [11, 'WR_FLUSH_ERR'],
      ]);
      // Posted receives of the requester are flushed as well.
      expect(sends.filter((wc) => wc.opcode === 'RECV').map((wc) => [wc.wrId, wc.status])).toEqual([
        [900, 'WR_FLUSH_ERR'],
        [901, 'WR_FLUSH_ERR'],
      ]);
      expect(a.qp.state).toBe('ERR');
      // The writes before the bad one landed; the one after it never executed.
      expect(b.mr.buffer.subarray(0, 5 * 16).every((x) => x === 9)).toBe(true);
      expect(b.mr.buffer.subarray(5 * 16, 12 * 16).every((x) => x === 0)).toBe(true);

      // Work posted in ERR is accepted and flushed, in order.
      a.qp.postSend([
        { wrId: 100, opcode: 'SEND', sgList: [a.mr.sge(0, 4)] },
        { wrId: 101, opcode: 'SEND', sgList: [a.mr.sge(0, 4)] },
      ]);
      a.qp.postRecv({ wrId: 902 });
      const late = await collect(a.cq, 3);
      expect(late.map((wc) => [wc.wrId, wc.status]).sort()).toEqual([
        [100, 'WR_FLUSH_ERR'],
        [101, 'WR_FLUSH_ERR'],
        [902, 'WR_FLUSH_ERR'],
      ]);
      expect(late.filter((wc) => wc.opcode !== 'RECV').map((wc) => wc.wrId)).toEqual([100, 101]);
      expect(a.qp.sendQueueOutstanding).toBe(0);

      // The responder detected the access error: its QP is in ERR and its receives were flushed.
      const flushed = await collect(b.cq, 4);
      expect(flushed.map((wc) => [wc.wrId, wc.status])).toEqual([
        [1000, 'WR_FLUSH_ERR'],
        [1001, 'WR_FLUSH_ERR'],
        [1002, 'WR_FLUSH_ERR'],
        [1003, 'WR_FLUSH_ERR'],
      ]);
      expect(b.qp.state).toBe('ERR');
    } finally {
      pair.dispose();
    }
  });

  it('flushes every outstanding request when the application moves the queue pair to ERR', async () => {
    const pair = connectPair(devA, devB);
    const { a } = pair;
    try {
      a.qp.postRecv([{ wrId: 1 }, { wrId: 2 }]);
      a.qp.modify({ state: 'ERR' });
      a.qp.postSend({ wrId: 3, opcode: 'SEND', sgList: [a.mr.sge(0, 1)] });
      const wcs = await collect(a.cq, 3);
      expect(wcs.map((wc) => [wc.wrId, wc.status])).toEqual([
        [1, 'WR_FLUSH_ERR'],
        [2, 'WR_FLUSH_ERR'],
        [3, 'WR_FLUSH_ERR'],
      ]);
    } finally {
      pair.dispose();
    }
  });

  it('recovers from ERR only through RESET, which discards without completions', async () => {
    const pair = connectPair(devA, devB, { recvB: 1 });
    const { a, b } = pair;
    try {
      a.qp.modify({ state: 'ERR' });
      expect(() => a.qp.modify({ state: 'RTS' })).toThrow(
        expect.objectContaining({ code: 'MC_ERR_RDMA_QP_STATE' }),
      );
      a.qp.modify({ state: 'RESET' });
      expect(a.qp.state).toBe('RESET');
      a.qp.modify({ state: 'INIT' });
      // The peer still expects the next sequence number; reconnecting both sides starts over cleanly.
      b.qp.modify({ state: 'RESET' });
      b.qp.modify({ state: 'INIT', access: 2 });
      b.qp.postRecv({ wrId: 77 });
      a.qp.modify({ state: 'RTR', remote: b.qp.endpoint });
      b.qp.modify({ state: 'RTR', remote: a.qp.endpoint });
      a.qp.modify({ state: 'RTS' });
      b.qp.modify({ state: 'RTS' });
      a.qp.postSend({
        wrId: 4,
        opcode: 'RDMA_WRITE_WITH_IMM',
        remoteAddr: 0,
        rkey: 0,
        imm: 8,
        signaled: true,
      });
      const [recv] = await collect(b.cq, 1);
      expect(recv).toMatchObject({ wrId: 77, imm: 8, status: 'SUCCESS' });
      expect((await collect(a.cq, 1))[0]?.status).toBe('SUCCESS');
    } finally {
      pair.dispose();
    }
  });
});
