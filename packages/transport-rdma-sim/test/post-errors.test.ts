import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevice, type Device, InvalidWorkRequestError, type SendWorkRequest } from '../src/index.js';
import { collect, connectPair, FABRICS, sleep } from './helpers/pair.js';

describe.each(FABRICS)('synchronous posting errors over the $name fabric', ({ make }) => {
  let devA: Device;
  let devB: Device;
  beforeAll(async () => {
    [devA, devB] = await Promise.all([createDevice({ fabric: make() }), createDevice({ fabric: make() })]);
  });
  afterAll(async () => {
    await Promise.all([devA.close(), devB.close()]);
  });

  it('refuses sends before RTS and receives in RESET', () => {
    const pd = devA.allocPd();
    const cq = devA.createCq();
    const qp = pd.createQp({ sendCq: cq, recvCq: cq });
    const send: SendWorkRequest = { wrId: 1, opcode: 'SEND' };
    try {
      expect(qp.state).toBe('RESET');
      expect(() => qp.postSend(send)).toThrow(
        expect.objectContaining({ code: 'MC_ERR_RDMA_QP_STATE', errno: 'EINVAL' }),
      );
      expect(() => qp.postRecv({ wrId: 1 })).toThrow(
        expect.objectContaining({ code: 'MC_ERR_RDMA_QP_STATE' }),
      );
      qp.modify({ state: 'INIT' });
      expect(() => qp.postSend(send)).toThrow(expect.objectContaining({ code: 'MC_ERR_RDMA_QP_STATE' }));
      qp.postRecv({ wrId: 1 });
      qp.modify({ state: 'RTR', remote: { address: devB.address, qpNum: 1 } });
      expect(() => qp.postSend(send)).toThrow(expect.objectContaining({ code: 'MC_ERR_RDMA_QP_STATE' }));
      expect(() => qp.modify({ state: 'INIT' })).toThrow(
        expect.objectContaining({ code: 'MC_ERR_RDMA_QP_STATE' }),
      );
    } finally {
      qp.destroy();
      cq.destroy();
      pd.dealloc();
    }
  });

  it('refuses transitions verbs refuses', () => {
    const pd = devA.allocPd();
    const cq = devA.createCq();
    const qp = pd.createQp({ sendCq: cq, recvCq: cq });
    try {
      expect(() => qp.modify({ state: 'RTS' })).toThrow(/cannot go from RESET to RTS/);
      expect(() => qp.modify({ state: 'RTR', remote: { address: devB.address, qpNum: 1 } })).toThrow(
        /RESET to RTR/,
      );
      qp.modify({ state: 'INIT' });
      expect(() => qp.modify({ state: 'RTR' } as never)).toThrow(
        expect.objectContaining({ code: 'MC_ERR_INVALID_OPTION' }),
      );
      expect(() =>
        qp.modify({ state: 'RTR', remote: { address: devB.address, qpNum: 1 }, pathMtu: 1500 }),
      ).toThrow(/pathMtu/);
    } finally {
      qp.destroy();
      cq.destroy();
      pd.dealloc();
    }
  });

  it('counts unsignaled requests against the send queue until a later signaled one is polled', async () => {
    const pair = connectPair(devA, devB, { caps: { maxSendWr: 4 } });
    const { a, b } = pair;
    const write = (wrId: number, signaled: boolean): SendWorkRequest => ({
      wrId,
      opcode: 'RDMA_WRITE',
      sgList: [a.mr.sge(wrId, 1)],
      remoteAddr: b.mr.addr + wrId,
      rkey: b.mr.rkey,
      signaled,
    });
    try {
      a.mr.buffer.fill(1, 0, 16);
      a.qp.postSend([write(0, false), write(1, false), write(2, false), write(3, false)]);
      // All four executed at the target...
      await expect.poll(() => b.mr.buffer[3], { timeout: 5000 }).toBe(1);
      await sleep(20);
      // ...yet their slots stay taken: no completion was ever polled for them.
      expect(a.qp.sendQueueOutstanding).toBe(4);
      const full = (() => {
        try {
          a.qp.postSend(write(4, true));
        } catch (err) {
          return err;
        }
      })();
      expect(full).toMatchObject({ code: 'MC_ERR_RDMA_QUEUE_FULL', errno: 'ENOMEM', badWrIndex: 0 });
      expect(await a.cq.wait(30)).toBe(false);
    } finally {
      pair.dispose();
    }

    const second = connectPair(devA, devB, { caps: { maxSendWr: 4 } });
    try {
      const { a: a2, b: b2 } = second;
      const w = (wrId: number, signaled: boolean): SendWorkRequest => ({
        wrId,
        opcode: 'RDMA_WRITE',
        sgList: [a2.mr.sge(0, 1)],
        remoteAddr: b2.mr.addr,
        rkey: b2.mr.rkey,
        signaled,
      });
      a2.qp.postSend([w(0, false), w(1, false), w(2, false), w(3, true)]);
      expect(() => a2.qp.postSend(w(4, true))).toThrow(
        expect.objectContaining({ code: 'MC_ERR_RDMA_QUEUE_FULL' }),
      );
      const [wc] = await collect(a2.cq, 1);
      expect(wc?.wrId).toBe(3);
      // Polling the signaled completion retired it and the three unsignaled ones before it.
      expect(a2.qp.sendQueueOutstanding).toBe(0);
      a2.qp.postSend([w(5, false), w(6, false), w(7, false), w(8, true)]);
      expect((await collect(a2.cq, 1))[0]?.wrId).toBe(8);
    } finally {
      second.dispose();
    }
  });

  it('counts receives against the receive queue until their completions are polled', () => {
    const pair = connectPair(devA, devB, { caps: { maxRecvWr: 2 } });
    try {
      pair.b.qp.postRecv([{ wrId: 1 }, { wrId: 2 }]);
      expect(() => pair.b.qp.postRecv({ wrId: 3 })).toThrow(
        expect.objectContaining({ code: 'MC_ERR_RDMA_QUEUE_FULL' }),
      );
    } finally {
      pair.dispose();
    }
  });

  it('refuses too many scatter-gather entries and oversized inline data', () => {
    const pair = connectPair(devA, devB, { caps: { maxSendSge: 2, maxRecvSge: 1, maxInlineData: 32 } });
    const { a, b } = pair;
    try {
      const sges = [a.mr.sge(0, 8), a.mr.sge(8, 8), a.mr.sge(16, 8)];
      expect(() => a.qp.postSend({ wrId: 1, opcode: 'SEND', sgList: sges })).toThrow(
        expect.objectContaining({ code: 'MC_ERR_RDMA_TOO_MANY_SGES', errno: 'EINVAL' }),
      );
      expect(() => b.qp.postRecv({ wrId: 1, sgList: [b.mr.sge(0, 8), b.mr.sge(8, 8)] })).toThrow(
        expect.objectContaining({ code: 'MC_ERR_RDMA_TOO_MANY_SGES' }),
      );
      expect(() =>
        a.qp.postSend({
          wrId: 1,
          opcode: 'RDMA_WRITE',
          sgList: [a.mr.sge(0, 33)],
          remoteAddr: b.mr.addr,
          rkey: b.mr.rkey,
          inline: true,
        }),
      ).toThrow(expect.objectContaining({ code: 'MC_ERR_RDMA_INLINE_TOO_LARGE' }));
      expect(() =>
        a.qp.postSend({
          wrId: 1,
          opcode: 'RDMA_READ',
          sgList: [a.mr.sge(0, 8)],
          remoteAddr: b.mr.addr,
          rkey: b.mr.rkey,
          inline: true,
        }),
      ).toThrow(InvalidWorkRequestError);
      expect(a.qp.sendQueueOutstanding).toBe(0);
    } finally {
      pair.dispose();
    }
  });

  it('rejects malformed requests, having posted the ones before them', async () => {
    const pair = connectPair(devA, devB);
    const { a, b } = pair;
    try {
      const good: SendWorkRequest = {
        wrId: 1,
        opcode: 'RDMA_WRITE',
        sgList: [a.mr.sge(0, 8)],
        remoteAddr: b.mr.addr,
        rkey: b.mr.rkey,
        signaled: true,
      };
      const bad = [
        { ...good, wrId: 2, rkey: undefined },
        { ...good, wrId: 2, remoteAddr: -1 },
        { ...good, wrId: 2, opcode: 'RDMA_WRITE_WITH_IMM' as const },
        { ...good, wrId: 2, opcode: 'ATOMIC_FETCH_ADD' as never },
        { ...good, wrId: -1 },
        { ...good, wrId: 2, sgList: [{ addr: 0, length: 2 ** 32, lkey: 1 }] },
        { ...good, wrId: 2, sgList: 'x' as never },
      ];
      for (const wr of bad) {
        let error: unknown;
        try {
          a.qp.postSend([good, wr as SendWorkRequest, good]);
        } catch (err) {
          error = err;
        }
        expect(error).toBeInstanceOf(InvalidWorkRequestError);
        expect(error).toMatchObject({ code: 'MC_ERR_RDMA_INVALID_WR', badWrIndex: 1 });
      }
      // Exactly the first request of each list went out.
      const wcs = await collect(a.cq, bad.length);
      expect(wcs.map((wc) => [wc.wrId, wc.status])).toEqual(bad.map(() => [1, 'SUCCESS']));
      expect(await a.cq.wait(30)).toBe(false);
    } finally {
      pair.dispose();
    }
  });
});
