import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Access, createDevice, type Device, MAX_MESSAGE_BYTES, type SendWorkRequest } from '../src/index.js';
import { collect, connectPair, FABRICS, type Pair, shared } from './helpers/pair.js';

describe.each(FABRICS)('completion statuses over the $name fabric', ({ make }) => {
  let devA: Device;
  let devB: Device;
  beforeAll(async () => {
    [devA, devB] = await Promise.all([createDevice({ fabric: make() }), createDevice({ fabric: make() })]);
  });
  afterAll(async () => {
    await Promise.all([devA.close(), devB.close()]);
  });

  /** Posts one signaled request on A and returns its completion, after checking nothing was written at B. */
  async function failing(pair: Pair, wr: Omit<SendWorkRequest, 'wrId' | 'signaled'>): Promise<string> {
    pair.a.mr.buffer.fill(0xee, 0, 4096);
    pair.a.qp.postSend({ ...wr, wrId: 1, signaled: true });
    const [wc] = await collect(pair.a.cq, 1);
    expect(pair.b.mr.buffer.every((x) => x === 0)).toBe(true);
    return wc!.status;
  }

  describe('REM_ACCESS_ERR, and both queue pairs end in ERR', () => {
    const cases: Array<[string, (p: Pair) => Omit<SendWorkRequest, 'wrId' | 'signaled'>]> = [
      [
        'a bad rkey',
        (p) => ({
          opcode: 'RDMA_WRITE',
          sgList: [p.a.mr.sge(0, 64)],
          remoteAddr: p.b.mr.addr,
          rkey: p.b.mr.rkey ^ 0x100,
        }),
      ],
      [
        'an lkey used as rkey',
        (p) => ({
          opcode: 'RDMA_WRITE',
          sgList: [p.a.mr.sge(0, 64)],
          remoteAddr: p.b.mr.addr,
          rkey: p.b.mr.lkey,
        }),
      ],
      [
        'a write past the end of the region',
        (p) => ({
          opcode: 'RDMA_WRITE',
          sgList: [p.a.mr.sge(0, 64)],
          remoteAddr: p.b.mr.addr + p.b.mr.length - 63,
          rkey: p.b.mr.rkey,
        }),
      ],
      [
        'a write before the start of the region',
        (p) => ({
          opcode: 'RDMA_WRITE',
          sgList: [p.a.mr.sge(0, 64)],
          remoteAddr: p.b.mr.addr - 1,
          rkey: p.b.mr.rkey,
        }),
      ],
      [
        'a read of a region without REMOTE_READ',
        (p) => ({
          opcode: 'RDMA_READ',
          sgList: [p.a.mr.sge(0, 64)],
          remoteAddr: p.b.mr.addr,
          rkey: p.b.mr.rkey,
        }),
      ],
    ];
    it.each(cases)('for %s', async (_name, build) => {
      const pair = connectPair(devA, devB, { mrAccessB: Access.LOCAL_WRITE | Access.REMOTE_WRITE });
      try {
        expect(await failing(pair, build(pair))).toBe('REM_ACCESS_ERR');
        expect(pair.a.qp.state).toBe('ERR');
        // The responder QP is in error too: its next incoming request is dropped, never executed.
        await expect.poll(() => pair.b.qp.state).toBe('ERR');
      } finally {
        pair.dispose();
      }
    });

    it('for a region without REMOTE_WRITE', async () => {
      const pair = connectPair(devA, devB, { mrAccessB: Access.LOCAL_WRITE | Access.REMOTE_READ });
      try {
        const status = await failing(pair, {
          opcode: 'RDMA_WRITE',
          sgList: [pair.a.mr.sge(0, 64)],
          remoteAddr: pair.b.mr.addr,
          rkey: pair.b.mr.rkey,
        });
        expect(status).toBe('REM_ACCESS_ERR');
        expect(pair.a.qp.state).toBe('ERR');
      } finally {
        pair.dispose();
      }
    });

    it('for a deregistered region', async () => {
      const pair = connectPair(devA, devB);
      const spare = pair.b.pd.registerMemoryRegion(shared(4096), Access.LOCAL_WRITE | Access.REMOTE_WRITE);
      const remote = spare.remote();
      spare.deregister();
      try {
        pair.a.qp.postSend({
          wrId: 1,
          opcode: 'RDMA_WRITE',
          sgList: [pair.a.mr.sge(0, 64)],
          remoteAddr: remote.addr,
          rkey: remote.rkey,
          signaled: true,
        });
        const [wc] = await collect(pair.a.cq, 1);
        expect(wc?.status).toBe('REM_ACCESS_ERR');
        expect(spare.buffer.every((x) => x === 0)).toBe(true);
      } finally {
        pair.dispose();
      }
    });

    it('for a region of another protection domain', async () => {
      const pair = connectPair(devA, devB);
      const otherPd = devB.allocPd();
      const foreign = otherPd.registerMemoryRegion(shared(4096), Access.LOCAL_WRITE | Access.REMOTE_WRITE);
      try {
        pair.a.qp.postSend({
          wrId: 1,
          opcode: 'RDMA_WRITE',
          sgList: [pair.a.mr.sge(0, 64)],
          remoteAddr: foreign.addr,
          rkey: foreign.rkey,
          signaled: true,
        });
        const [wc] = await collect(pair.a.cq, 1);
        expect(wc?.status).toBe('REM_ACCESS_ERR');
      } finally {
        foreign.deregister();
        otherPd.dealloc();
        pair.dispose();
      }
    });

    it('but a zero-length write carries no address and is not checked', async () => {
      const pair = connectPair(devA, devB);
      try {
        pair.a.qp.postSend({
          wrId: 1,
          opcode: 'RDMA_WRITE',
          remoteAddr: 12345,
          rkey: 0xdead,
          signaled: true,
        });
        const [wc] = await collect(pair.a.cq, 1);
        expect(wc?.status).toBe('SUCCESS');
        expect(pair.a.qp.state).toBe('RTS');
      } finally {
        pair.dispose();
      }
    });
  });

  describe('REM_INV_REQ_ERR', () => {
    it('when the responder queue pair was not given REMOTE_WRITE access', async () => {
      const pair = connectPair(devA, devB, { qpAccessB: Access.REMOTE_READ });
      try {
        const status = await failing(pair, {
          opcode: 'RDMA_WRITE',
          sgList: [pair.a.mr.sge(0, 64)],
          remoteAddr: pair.b.mr.addr,
          rkey: pair.b.mr.rkey,
        });
        expect(status).toBe('REM_INV_REQ_ERR');
        expect(pair.a.qp.state).toBe('ERR');
        await expect.poll(() => pair.b.qp.state).toBe('ERR');
      } finally {
        pair.dispose();
      }
    });

    it('when the responder queue pair was not given REMOTE_READ access', async () => {
      const pair = connectPair(devA, devB, { qpAccessB: Access.REMOTE_WRITE });
      try {
        pair.a.qp.postSend({
          wrId: 1,
          opcode: 'RDMA_READ',
          sgList: [pair.a.mr.sge(0, 64)],
          remoteAddr: pair.b.mr.addr,
          rkey: pair.b.mr.rkey,
          signaled: true,
        });
        const [wc] = await collect(pair.a.cq, 1);
        expect(wc?.status).toBe('REM_INV_REQ_ERR');
      } finally {
        pair.dispose();
      }
    });

    it('when a SEND is longer than the receive buffer, which completes LOC_LEN_ERR at the responder', async () => {
      const pair = connectPair(devA, devB);
      try {
        pair.b.qp.postRecv([
          { wrId: 40, sgList: [pair.b.mr.sge(0, 16)] },
          { wrId: 41, sgList: [pair.b.mr.sge(16, 16)] },
        ]);
        const status = await failing(pair, { opcode: 'SEND', sgList: [pair.a.mr.sge(0, 17)] });
        expect(status).toBe('REM_INV_REQ_ERR');
        const recvs = await collect(pair.b.cq, 2);
        expect(recvs.map((wc) => [wc.wrId, wc.status])).toEqual([
          [40, 'LOC_LEN_ERR'],
          [41, 'WR_FLUSH_ERR'],
        ]);
        expect(pair.b.qp.state).toBe('ERR');
      } finally {
        pair.dispose();
      }
    });
  });

  describe('LOC_PROT_ERR, and the requester queue pair ends in ERR', () => {
    const cases: Array<[string, (p: Pair) => Omit<SendWorkRequest, 'wrId' | 'signaled'>]> = [
      [
        'a bad lkey',
        (p) => ({
          opcode: 'RDMA_WRITE',
          sgList: [{ ...p.a.mr.sge(0, 64), lkey: p.a.mr.lkey ^ 0x200 }],
          remoteAddr: p.b.mr.addr,
          rkey: p.b.mr.rkey,
        }),
      ],
      [
        'an rkey used as lkey',
        (p) => ({
          opcode: 'RDMA_WRITE',
          sgList: [{ ...p.a.mr.sge(0, 64), lkey: p.a.mr.rkey }],
          remoteAddr: p.b.mr.addr,
          rkey: p.b.mr.rkey,
        }),
      ],
      [
        'a gather entry past the end of its region',
        (p) => ({
          opcode: 'SEND',
          sgList: [{ addr: p.a.mr.addr + p.a.mr.length - 10, length: 11, lkey: p.a.mr.lkey }],
        }),
      ],
    ];
    it.each(cases)('for %s', async (_name, build) => {
      const pair = connectPair(devA, devB, { recvB: 1 });
      try {
        expect(await failing(pair, build(pair))).toBe('LOC_PROT_ERR');
        expect(pair.a.qp.state).toBe('ERR');
        // Nothing reached the responder, which stays usable.
        expect(pair.b.qp.state).toBe('RTS');
        expect(await pair.b.cq.wait(30)).toBe(false);
      } finally {
        pair.dispose();
      }
    });

    it('for a local region of another protection domain', async () => {
      const pair = connectPair(devA, devB);
      const otherPd = devA.allocPd();
      const foreign = otherPd.registerMemoryRegion(shared(4096), Access.LOCAL_WRITE);
      try {
        const status = await failing(pair, {
          opcode: 'RDMA_WRITE',
          sgList: [foreign.sge(0, 64)],
          remoteAddr: pair.b.mr.addr,
          rkey: pair.b.mr.rkey,
        });
        expect(status).toBe('LOC_PROT_ERR');
      } finally {
        foreign.deregister();
        otherPd.dealloc();
        pair.dispose();
      }
    });

    it('for an RDMA_READ into a region without LOCAL_WRITE', async () => {
      const pair = connectPair(devA, devB, { mrAccessA: Access.REMOTE_READ });
      try {
        const status = await failing(pair, {
          opcode: 'RDMA_READ',
          sgList: [pair.a.mr.sge(0, 64)],
          remoteAddr: pair.b.mr.addr,
          rkey: pair.b.mr.rkey,
        });
        expect(status).toBe('LOC_PROT_ERR');
      } finally {
        pair.dispose();
      }
    });

    it('for a receive buffer without LOCAL_WRITE, reported to the requester as REM_OP_ERR', async () => {
      const pair = connectPair(devA, devB);
      const readOnly = pair.b.pd.registerMemoryRegion(shared(64), Access.REMOTE_READ);
      try {
        pair.b.qp.postRecv({ wrId: 5, sgList: [readOnly.sge(0, 64)] });
        const status = await failing(pair, { opcode: 'SEND', sgList: [pair.a.mr.sge(0, 8)] });
        expect(status).toBe('REM_OP_ERR');
        const [recv] = await collect(pair.b.cq, 1);
        expect(recv).toMatchObject({ wrId: 5, status: 'LOC_PROT_ERR' });
      } finally {
        readOnly.deregister();
        pair.dispose();
      }
    });
  });

  it('LOC_LEN_ERR for a message longer than the port allows', async () => {
    const pair = connectPair(devA, devB);
    try {
      const status = await failing(pair, {
        opcode: 'RDMA_WRITE',
        sgList: [
          pair.a.mr.sge(0, 64),
          { addr: pair.a.mr.addr, length: MAX_MESSAGE_BYTES, lkey: pair.a.mr.lkey },
        ],
        remoteAddr: pair.b.mr.addr,
        rkey: pair.b.mr.rkey,
      });
      expect(status).toBe('LOC_LEN_ERR');
      expect(pair.a.qp.state).toBe('ERR');
    } finally {
      pair.dispose();
    }
  });

  it('RETRY_EXC_ERR when the remote queue pair is gone, after ackTimeoutMs x (retryCount + 1)', async () => {
    const pair = connectPair(devA, devB, { ackTimeoutMs: 20, retryCount: 2 });
    try {
      pair.b.qp.destroy();
      const started = performance.now();
      pair.a.qp.postSend({
        wrId: 1,
        opcode: 'RDMA_WRITE',
        sgList: [pair.a.mr.sge(0, 64)],
        remoteAddr: pair.b.mr.addr,
        rkey: pair.b.mr.rkey,
        signaled: true,
      });
      const [wc] = await collect(pair.a.cq, 1);
      expect(wc?.status).toBe('RETRY_EXC_ERR');
      expect(performance.now() - started).toBeGreaterThanOrEqual(55);
      expect(pair.a.qp.state).toBe('ERR');
    } finally {
      pair.dispose();
    }
  });

  it('RETRY_EXC_ERR when the remote device is gone before the first request', async () => {
    const gone = await createDevice({ fabric: make() });
    const pd = gone.allocPd();
    const cq = gone.createCq();
    const endpoint = pd.createQp({ sendCq: cq, recvCq: cq }).endpoint;
    await gone.close();
    const pair = connectPair(devA, devB);
    const qp = pair.a.pd.createQp({ sendCq: pair.a.cq, recvCq: pair.a.cq });
    try {
      qp.modify({ state: 'INIT' });
      qp.modify({ state: 'RTR', remote: endpoint });
      qp.modify({ state: 'RTS', ackTimeoutMs: 20, retryCount: 1 });
      qp.postSend([
        { wrId: 1, opcode: 'SEND', sgList: [pair.a.mr.sge(0, 8)], signaled: true },
        { wrId: 2, opcode: 'SEND', sgList: [pair.a.mr.sge(0, 8)], signaled: true },
      ]);
      const wcs = await collect(pair.a.cq, 2);
      expect(wcs.map((wc) => [wc.wrId, wc.status])).toEqual([
        [1, 'RETRY_EXC_ERR'],
        [2, 'WR_FLUSH_ERR'],
      ]);
      // The other queue pairs of the device are unaffected.
      pair.a.qp.postSend({ wrId: 3, opcode: 'RDMA_WRITE', remoteAddr: 0, rkey: 0, signaled: true });
      expect((await collect(pair.a.cq, 1))[0]).toMatchObject({ wrId: 3, status: 'SUCCESS' });
    } finally {
      qp.destroy();
      pair.dispose();
    }
  });

  it('RETRY_EXC_ERR when the packet sequence numbers of the two sides disagree', async () => {
    const pair = connectPair(devA, devB, { ackTimeoutMs: 15, retryCount: 1, sqPsnA: 100, rqPsnB: 7 });
    try {
      pair.a.qp.postSend({
        wrId: 1,
        opcode: 'RDMA_WRITE',
        sgList: [pair.a.mr.sge(0, 64)],
        remoteAddr: pair.b.mr.addr,
        rkey: pair.b.mr.rkey,
        signaled: true,
      });
      const [wc] = await collect(pair.a.cq, 1);
      expect(wc?.status).toBe('RETRY_EXC_ERR');
      expect(pair.b.mr.buffer.every((x) => x === 0)).toBe(true);
    } finally {
      pair.dispose();
    }
  });
});
