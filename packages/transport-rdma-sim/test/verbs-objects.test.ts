import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Access,
  CqOverrunError,
  createDevice,
  type Device,
  DeviceClosedError,
  InvalidOptionError,
  RegistrationError,
  ResourceBusyError,
  sharedMemoryFabric,
  tcpFabric,
} from '../src/index.js';
import { collect, connectPair, shared } from './helpers/pair.js';

describe('verbs objects', () => {
  let devA: Device;
  let devB: Device;
  beforeAll(async () => {
    const fabric = sharedMemoryFabric({ name: `objects-${process.pid}` });
    [devA, devB] = await Promise.all([createDevice({ fabric }), createDevice({ fabric })]);
  });
  afterAll(async () => {
    await Promise.all([devA.close(), devB.close()]);
  });

  it('reports device and port attributes', () => {
    expect(devA.query()).toMatchObject({ maxQpWr: 16_384, maxSge: 32, maxInlineData: 1024 });
    expect(devA.queryPort()).toMatchObject({
      address: devA.address,
      state: 'ACTIVE',
      maxMtu: 4096,
      fabric: 'shared-memory',
    });
    expect(devA.address).not.toBe(devB.address);
  });

  describe('memory registration', () => {
    it('refuses memory the NIC thread cannot reach, empty memory and invalid access flags (EINVAL)', () => {
      const pd = devA.allocPd();
      try {
        expect(() => pd.registerMemoryRegion(new Uint8Array(16), Access.LOCAL_WRITE)).toThrow(
          RegistrationError,
        );
        expect(() => pd.registerMemoryRegion(shared(0), Access.LOCAL_WRITE)).toThrow(RegistrationError);
        expect(() => pd.registerMemoryRegion(shared(16), Access.REMOTE_WRITE)).toThrow(
          /REMOTE_WRITE requires LOCAL_WRITE/,
        );
        expect(() => pd.registerMemoryRegion(shared(16), 8)).toThrow(
          expect.objectContaining({ errno: 'EINVAL' }),
        );
        expect(() => pd.registerMemoryRegion(shared(16), 1.5)).toThrow(RegistrationError);
      } finally {
        pd.dealloc();
      }
    });

    it('gives every region an address range and distinct local and remote keys', () => {
      const pd = devA.allocPd();
      const memory = new SharedArrayBuffer(1 << 20);
      const whole = pd.registerMemoryRegion(new Uint8Array(memory), Access.LOCAL_WRITE);
      const part = pd.registerMemoryRegion(
        new Uint8Array(memory, 4096, 8192),
        Access.LOCAL_WRITE | Access.REMOTE_READ,
      );
      const other = pd.registerMemoryRegion(shared(1 << 20), Access.LOCAL_WRITE);
      try {
        // Same memory, same addresses (as two ibv_reg_mr calls on one pointer); separate memory never overlaps.
        expect(part.addr).toBe(whole.addr + 4096);
        expect(other.addr >= whole.addr + whole.length || other.addr + other.length <= whole.addr).toBe(true);
        expect(new Set([whole.lkey, whole.rkey, part.lkey, part.rkey, other.lkey, other.rkey]).size).toBe(6);
        expect(part.sge(10, 20)).toEqual({ addr: part.addr + 10, length: 20, lkey: part.lkey });
        expect(() => part.sge(8000, 500)).toThrow(/does not fit/);
        expect(part.remote()).toEqual({ addr: part.addr, length: 8192, rkey: part.rkey });
        expect(part.registered).toBe(true);
        part.deregister();
        part.deregister();
        expect(part.registered).toBe(false);
      } finally {
        whole.deregister();
        other.deregister();
        pd.dealloc();
      }
    });
  });

  it('refuses to free a protection domain or completion queue still in use (EBUSY)', () => {
    const pd = devA.allocPd();
    const cq = devA.createCq();
    const mr = pd.registerMemoryRegion(shared(64), Access.LOCAL_WRITE);
    const qp = pd.createQp({ sendCq: cq, recvCq: cq });
    expect(() => pd.dealloc()).toThrow(ResourceBusyError);
    expect(() => cq.destroy()).toThrow(expect.objectContaining({ errno: 'EBUSY' }));
    qp.destroy();
    cq.destroy();
    expect(() => pd.dealloc()).toThrow(ResourceBusyError);
    mr.deregister();
    pd.dealloc();
    expect(() => pd.registerMemoryRegion(shared(64), Access.LOCAL_WRITE)).toThrow(/deallocated/);
  });

  it('validates queue pair options, naming the bad one', () => {
    const pd = devA.allocPd();
    const cq = devA.createCq();
    const foreignCq = devB.createCq();
    try {
      expect(() => pd.createQp({ sendCq: cq, recvCq: cq, maxSendWr: 0 })).toThrow(/maxSendWr/);
      expect(() => pd.createQp({ sendCq: cq, recvCq: cq, maxSendSge: 33 })).toThrow(/maxSendSge/);
      expect(() => pd.createQp({ sendCq: cq, recvCq: cq, maxInlineData: 4096 })).toThrow(/maxInlineData/);
      expect(() => pd.createQp({ sendCq: cq, recvCq: foreignCq })).toThrow(/recvCq/);
      expect(() => pd.createQp({ recvCq: cq } as never)).toThrow(InvalidOptionError);
      const qp = pd.createQp({ sendCq: cq, recvCq: cq, maxSendWr: 3, signalAll: true });
      expect(qp.query()).toMatchObject({
        state: 'RESET',
        capabilities: { maxSendWr: 3, maxRecvWr: 128, maxSendSge: 4, maxRecvSge: 4, maxInlineData: 64 },
        signalAll: true,
        remote: null,
      });
      qp.destroy();
    } finally {
      cq.destroy();
      foreignCq.destroy();
      pd.dealloc();
    }
  });

  it('validates device options, naming the bad one', async () => {
    await expect(createDevice({ fabric: { kind: 'carrier-pigeon' } as never })).rejects.toThrow(
      /fabric.kind/,
    );
    await expect(createDevice({ faults: { placementOrder: 'sideways' as never } })).rejects.toThrow(
      /faults.placementOrder/,
    );
    await expect(createDevice({ faults: { segmentDelayMs: -1 } })).rejects.toThrow(/segmentDelayMs/);
    await expect(createDevice({ performance: {} as never })).rejects.toThrow(/performance.model/);
    await expect(createDevice({ performance: { model: { latencyNs: 1 } as never } })).rejects.toThrow(
      /performance.model.bandwidthBitsPerSecond/,
    );
    expect(() => sharedMemoryFabric({ name: 'a/b' })).toThrow(InvalidOptionError);
  });

  describe('completion queues', () => {
    it('rounds capacity up, polls at most maxEntries, and wakes a waiter on the next completion', async () => {
      const pair = connectPair(devA, devB, { cqCapacity: 5 });
      try {
        expect(pair.a.cq.capacity).toBe(8);
        expect(await pair.a.cq.wait(20)).toBe(false);
        const waiting = pair.a.cq.wait(10_000);
        pair.a.qp.postSend(
          Array.from({ length: 3 }, (_, i) => ({
            wrId: i,
            opcode: 'RDMA_WRITE' as const,
            remoteAddr: 0,
            rkey: 0,
            signaled: true,
          })),
        );
        expect(await waiting).toBe(true);
        await expect.poll(() => pair.a.cq.pending).toBe(3);
        expect(pair.a.cq.poll(2).map((wc) => wc.wrId)).toEqual([0, 1]);
        expect(pair.a.cq.poll().map((wc) => wc.wrId)).toEqual([2]);
        expect(pair.a.cq.poll()).toEqual([]);
      } finally {
        pair.dispose();
      }
    });

    it('reports an overrun once the NIC had to drop a completion', async () => {
      const pair = connectPair(devA, devB, { cqCapacity: 2 });
      try {
        pair.a.qp.postSend(
          Array.from({ length: 3 }, (_, i) => ({
            wrId: i,
            opcode: 'RDMA_WRITE' as const,
            remoteAddr: 0,
            rkey: 0,
            signaled: true,
          })),
        );
        await expect
          .poll(() => {
            try {
              pair.a.cq.poll(1);
              return null;
            } catch (err) {
              return err;
            }
          })
          .toBeInstanceOf(CqOverrunError);
        await expect(pair.a.cq.wait(10)).rejects.toBeInstanceOf(CqOverrunError);
      } finally {
        pair.dispose();
      }
    });
  });

  it('releases waiters and refuses every verb once the device is closed', async () => {
    const device = await createDevice({ fabric: sharedMemoryFabric({ name: `closing-${process.pid}` }) });
    const pd = device.allocPd();
    const cq = device.createCq();
    const mr = pd.registerMemoryRegion(shared(64), Access.LOCAL_WRITE);
    const waiting = cq.wait();
    await device.close();
    expect(await waiting).toBe(false);
    expect(device.closed).toBe(true);
    expect(device.queryPort().state).toBe('DOWN');
    expect(() => device.allocPd()).toThrow(DeviceClosedError);
    expect(() => pd.createQp({ sendCq: cq, recvCq: cq })).toThrow(
      expect.objectContaining({ code: 'MC_ERR_RDMA_DEVICE_CLOSED' }),
    );
    expect(() => pd.registerMemoryRegion(shared(64), Access.LOCAL_WRITE)).toThrow(DeviceClosedError);
    mr.deregister();
    await device.close();
  });

  it('fails to open with NicError when the NIC cannot attach to its fabric', async () => {
    const first = await createDevice({ fabric: tcpFabric() });
    try {
      const port = Number(new URL(first.address).port);
      await expect(createDevice({ fabric: tcpFabric({ port }) })).rejects.toMatchObject({
        name: 'NicError',
        code: 'MC_ERR_RDMA_NIC',
      });
    } finally {
      await first.close();
    }
  });

  it('keeps several protection domains apart on one device', async () => {
    const pair = connectPair(devA, devB);
    const pd2 = devB.allocPd();
    const mr2 = pd2.registerMemoryRegion(shared(64), Access.LOCAL_WRITE | Access.REMOTE_WRITE);
    try {
      pair.a.qp.postSend({
        wrId: 1,
        opcode: 'RDMA_WRITE',
        sgList: [pair.a.mr.sge(0, 8)],
        remoteAddr: mr2.addr,
        rkey: mr2.rkey,
        signaled: true,
      });
      expect((await collect(pair.a.cq, 1))[0]?.status).toBe('REM_ACCESS_ERR');
    } finally {
      mr2.deregister();
      pd2.dealloc();
      pair.dispose();
    }
  });
});
