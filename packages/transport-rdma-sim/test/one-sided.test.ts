import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevice, type Device } from '../src/index.js';
import { collect, connectPair, FABRICS, pattern, sameBytes } from './helpers/pair.js';

describe.each(FABRICS)('data movement over the $name fabric', ({ make }) => {
  let devA: Device;
  let devB: Device;
  beforeAll(async () => {
    [devA, devB] = await Promise.all([createDevice({ fabric: make() }), createDevice({ fabric: make() })]);
  });
  afterAll(async () => {
    await Promise.all([devA.close(), devB.close()]);
  });

  it('places an RDMA_WRITE in remote memory and produces no completion at the target', async () => {
    const { a, b, dispose } = connectPair(devA, devB, { recvB: 2 });
    try {
      pattern(a.mr.buffer.subarray(0, 20_000), 1);
      a.qp.postSend({
        wrId: 7,
        opcode: 'RDMA_WRITE',
        sgList: [a.mr.sge(0, 20_000)],
        remoteAddr: b.mr.addr + 100,
        rkey: b.mr.rkey,
        signaled: true,
      });
      const [wc] = await collect(a.cq, 1);
      expect(wc).toMatchObject({ wrId: 7, status: 'SUCCESS', opcode: 'RDMA_WRITE', byteLen: 20_000 });
      expect(sameBytes(b.mr.buffer.subarray(100, 20_100), a.mr.buffer.subarray(0, 20_000))).toBe(true);
      expect(b.mr.buffer[99]).toBe(0);
      expect(b.mr.buffer[20_100]).toBe(0);
      // The target's posted receives are untouched: a plain WRITE consumes nothing there.
      expect(await b.cq.wait(50)).toBe(false);
      expect(b.qp.recvQueueOutstanding).toBe(2);
    } finally {
      dispose();
    }
  });

  it('consumes exactly one posted receive per RDMA_WRITE_WITH_IMM, in post order', async () => {
    const { a, b, dispose } = connectPair(devA, devB, { recvB: 3 });
    try {
      pattern(a.mr.buffer.subarray(0, 4096), 2);
      a.qp.postSend({
        wrId: 1,
        opcode: 'RDMA_WRITE_WITH_IMM',
        sgList: [a.mr.sge(0, 4096)],
        remoteAddr: b.mr.addr,
        rkey: b.mr.rkey,
        imm: 0xdead_beef,
        signaled: true,
      });
      const [first] = await collect(b.cq, 1);
      expect(first).toMatchObject({
        wrId: 1000,
        status: 'SUCCESS',
        opcode: 'RECV_RDMA_WITH_IMM',
        byteLen: 4096,
        imm: 0xdead_beef,
        srcQp: a.qp.qpNum,
        qpNum: b.qp.qpNum,
      });
      expect(sameBytes(b.mr.buffer.subarray(0, 4096), a.mr.buffer.subarray(0, 4096))).toBe(true);
      expect(b.qp.recvQueueOutstanding).toBe(2);
      expect(await b.cq.wait(50)).toBe(false);

      a.qp.postSend({
        wrId: 2,
        opcode: 'RDMA_WRITE_WITH_IMM',
        remoteAddr: 0,
        rkey: 0,
        imm: 5,
        signaled: true,
      });
      const [second] = await collect(b.cq, 1);
      expect(second).toMatchObject({ wrId: 1001, imm: 5, byteLen: 0 });
      expect(b.qp.recvQueueOutstanding).toBe(1);
      expect(await collect(a.cq, 2)).toHaveLength(2);
    } finally {
      dispose();
    }
  });

  it('scatters a SEND_WITH_IMM into the posted receive buffers and completes both sides', async () => {
    const { a, b, dispose } = connectPair(devA, devB);
    try {
      b.qp.postRecv({ wrId: 55, sgList: [b.mr.sge(1000, 10), b.mr.sge(5000, 100)] });
      pattern(a.mr.buffer.subarray(0, 50), 3);
      pattern(a.mr.buffer.subarray(200, 260), 4);
      a.qp.postSend({
        wrId: 9,
        opcode: 'SEND_WITH_IMM',
        sgList: [a.mr.sge(0, 50), a.mr.sge(200, 60)],
        imm: 77,
        signaled: true,
      });
      const [recv] = await collect(b.cq, 1);
      expect(recv).toMatchObject({ wrId: 55, status: 'SUCCESS', opcode: 'RECV', byteLen: 110, imm: 77 });
      const sent = new Uint8Array([...a.mr.buffer.subarray(0, 50), ...a.mr.buffer.subarray(200, 260)]);
      expect(sameBytes(b.mr.buffer.subarray(1000, 1010), sent.subarray(0, 10))).toBe(true);
      expect(sameBytes(b.mr.buffer.subarray(5000, 5100), sent.subarray(10, 110))).toBe(true);
      const [send] = await collect(a.cq, 1);
      expect(send).toMatchObject({ wrId: 9, status: 'SUCCESS', opcode: 'SEND' });

      b.qp.postRecv({ wrId: 56, sgList: [b.mr.sge(0, 64)] });
      a.qp.postSend({ wrId: 10, opcode: 'SEND', sgList: [a.mr.sge(0, 8)], signaled: true });
      const [plain] = await collect(b.cq, 1);
      expect(plain).toMatchObject({ wrId: 56, opcode: 'RECV', byteLen: 8, imm: undefined });
      await collect(a.cq, 1);
    } finally {
      dispose();
    }
  });

  it('fetches remote memory with RDMA_READ', async () => {
    const { a, b, dispose } = connectPair(devA, devB, { bytes: 3 * 1024 * 1024 });
    try {
      pattern(b.mr.buffer, 5);
      a.qp.postSend({
        wrId: 3,
        opcode: 'RDMA_READ',
        sgList: [a.mr.sge(0, 1024 * 1024), a.mr.sge(2 * 1024 * 1024, 1024 * 1024)],
        remoteAddr: b.mr.addr + 17,
        rkey: b.mr.rkey,
        signaled: true,
      });
      const [wc] = await collect(a.cq, 1);
      expect(wc).toMatchObject({ wrId: 3, status: 'SUCCESS', opcode: 'RDMA_READ', byteLen: 2 * 1024 * 1024 });
      expect(
        sameBytes(a.mr.buffer.subarray(0, 1024 * 1024), b.mr.buffer.subarray(17, 17 + 1024 * 1024)),
      ).toBe(true);
      expect(
        sameBytes(
          a.mr.buffer.subarray(2 * 1024 * 1024, 3 * 1024 * 1024),
          b.mr.buffer.subarray(17 + 1024 * 1024, 17 + 2 * 1024 * 1024),
        ),
      ).toBe(true);
      expect(await b.cq.wait(30)).toBe(false);
    } finally {
      dispose();
    }
  });

  it('copies inline data at post time and ignores its lkey', async () => {
    const { a, b, dispose } = connectPair(devA, devB, { caps: { maxInlineData: 128 } });
    try {
      a.mr.buffer.fill(0x11, 0, 100);
      a.qp.postSend({
        wrId: 1,
        opcode: 'RDMA_WRITE',
        sgList: [{ addr: a.mr.addr, length: 100, lkey: 0xbad }],
        remoteAddr: b.mr.addr,
        rkey: b.mr.rkey,
        inline: true,
        signaled: true,
      });
      // The buffer may be reused the moment postSend returns.
      a.mr.buffer.fill(0x22, 0, 100);
      const [wc] = await collect(a.cq, 1);
      expect(wc?.status).toBe('SUCCESS');
      expect(b.mr.buffer.subarray(0, 100).every((x) => x === 0x11)).toBe(true);
    } finally {
      dispose();
    }
  });

  it('moves a message larger than one TCP frame, split across SGEs', async () => {
    const size = 12 * 1024 * 1024;
    const { a, b, dispose } = connectPair(devA, devB, { bytes: size + 4096, recvB: 1 });
    try {
      pattern(a.mr.buffer, 6);
      a.qp.postSend({
        wrId: 1,
        opcode: 'RDMA_WRITE_WITH_IMM',
        sgList: [a.mr.sge(0, size / 2), a.mr.sge(size / 2 + 4096, size / 2)],
        remoteAddr: b.mr.addr,
        rkey: b.mr.rkey,
        imm: 1,
        signaled: true,
      });
      const [recv] = await collect(b.cq, 1);
      expect(recv).toMatchObject({ status: 'SUCCESS', byteLen: size });
      expect(sameBytes(b.mr.buffer.subarray(0, size / 2), a.mr.buffer.subarray(0, size / 2))).toBe(true);
      expect(
        sameBytes(b.mr.buffer.subarray(size / 2, size), a.mr.buffer.subarray(size / 2 + 4096, size + 4096)),
      ).toBe(true);
      await collect(a.cq, 1);
    } finally {
      dispose();
    }
  });

  it('keeps many queue pairs on one device pair independent and in order', async () => {
    const pairs = Array.from({ length: 4 }, () => connectPair(devA, devB, { recvB: 64 }));
    try {
      for (const [i, { a, b }] of pairs.entries()) {
        const wrs = Array.from({ length: 50 }, (_, k) => {
          a.mr.buffer[k] = (i * 50 + k) % 256;
          return {
            wrId: k,
            opcode: 'RDMA_WRITE_WITH_IMM' as const,
            sgList: [a.mr.sge(k, 1)],
            remoteAddr: b.mr.addr + k,
            rkey: b.mr.rkey,
            imm: k,
            signaled: true,
          };
        });
        a.qp.postSend(wrs);
      }
      for (const [i, { a, b }] of pairs.entries()) {
        const recvs = await collect(b.cq, 50);
        expect(recvs.map((wc) => wc.imm)).toEqual(Array.from({ length: 50 }, (_, k) => k));
        expect(recvs.map((wc) => wc.wrId)).toEqual(Array.from({ length: 50 }, (_, k) => 1000 + k));
        expect([...b.mr.buffer.subarray(0, 50)]).toEqual(
          Array.from({ length: 50 }, (_, k) => (i * 50 + k) % 256),
        );
        const sends = await collect(a.cq, 50);
        expect(sends.map((wc) => wc.wrId)).toEqual(Array.from({ length: 50 }, (_, k) => k));
      }
    } finally {
      for (const p of pairs) p.dispose();
    }
  });
});
