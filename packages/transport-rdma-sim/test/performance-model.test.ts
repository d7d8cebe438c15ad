import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Access,
  createDevice,
  type Device,
  estimateRegistrationNs,
  estimateTransferNs,
  INFINIBAND_200G,
  type PerformanceModel,
  packetCount,
  ROCE_100G,
  serializationNs,
  sharedMemoryFabric,
  validatePerformanceModel,
} from '../src/index.js';
import { collect, connectPair, shared } from './helpers/pair.js';

describe('performance model arithmetic', () => {
  it('prices one 4 KiB message: headers, serialisation, a crossing each way', () => {
    expect(packetCount(ROCE_100G, 4096)).toBe(1);
    expect(serializationNs(ROCE_100G, 4096)).toBeCloseTo(((4096 + 82) * 8) / 100, 6);
    expect(estimateTransferNs(ROCE_100G, [4096])).toBeCloseTo(334.24 + 3000, 6);
    expect(estimateTransferNs(INFINIBAND_200G, [4096])).toBeCloseTo(((4096 + 26) * 8) / 200 + 1200, 6);
  });

  it('cuts messages at the MTU and counts a zero-length message as one packet', () => {
    expect(packetCount(ROCE_100G, 1024 * 1024)).toBe(256);
    expect(packetCount(ROCE_100G, 4097)).toBe(2);
    expect(packetCount(ROCE_100G, 0)).toBe(1);
    expect(serializationNs(ROCE_100G, 1024 * 1024)).toBeCloseTo(((1024 * 1024 + 256 * 82) * 8) / 100, 6);
    // A train pays the crossings once.
    const train = estimateTransferNs(INFINIBAND_200G, [65536, 65536, 0]);
    expect(train).toBeCloseTo(
      2 * serializationNs(INFINIBAND_200G, 65536) + serializationNs(INFINIBAND_200G, 0) + 1200,
      6,
    );
  });

  it('charges registration per page touched', () => {
    expect(estimateRegistrationNs(ROCE_100G, 2 ** 30)).toBe(262_144 * 350);
    expect(estimateRegistrationNs(INFINIBAND_200G, 1)).toBe(300);
  });

  it('validates every field, naming it', () => {
    expect(validatePerformanceModel({ ...ROCE_100G })).toEqual(ROCE_100G);
    expect(() => validatePerformanceModel({ ...ROCE_100G, mtuBytes: 0 })).toThrow(/mtuBytes/);
    expect(() => validatePerformanceModel({ ...ROCE_100G, bandwidthBitsPerSecond: Number.NaN })).toThrow(
      /bandwidthBitsPerSecond/,
    );
    expect(() => validatePerformanceModel({ ...ROCE_100G, latencyNs: -1 })).toThrow(/latencyNs/);
  });
});

describe('a paced device', () => {
  // A deliberately slow link, so that pacing is far above the simulator's own speed and measurable.
  const SLOW: PerformanceModel = {
    name: 'test link',
    latencyNs: 2_000_000,
    bandwidthBitsPerSecond: 1e9,
    mtuBytes: 4096,
    perPacketOverheadBytes: 0,
    registrationNsPerPage: 50_000,
    pageBytes: 4096,
  };
  let devA: Device;
  let devB: Device;
  beforeAll(async () => {
    const fabric = sharedMemoryFabric({ name: `paced-${process.pid}` });
    [devA, devB] = await Promise.all([
      createDevice({ fabric, performance: { model: SLOW, pace: true } }),
      createDevice({ fabric }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([devA.close(), devB.close()]);
  });

  it('never reports a completion before the modeled hardware could deliver it', async () => {
    const pair = connectPair(devA, devB, { bytes: 1024 * 1024 });
    try {
      const before = devA.counters().modeledWireNs;
      const started = performance.now();
      pair.a.qp.postSend({
        wrId: 1,
        opcode: 'RDMA_WRITE',
        sgList: [pair.a.mr.sge(0, 1024 * 1024)],
        remoteAddr: pair.b.mr.addr,
        rkey: pair.b.mr.rkey,
        signaled: true,
      });
      const [wc] = await collect(pair.a.cq, 1);
      const elapsedMs = performance.now() - started;
      expect(wc?.status).toBe('SUCCESS');
      const modeledMs = estimateTransferNs(SLOW, [1024 * 1024]) / 1e6;
      expect(modeledMs).toBeCloseTo(8.388_608 + 4, 6);
      expect(elapsedMs).toBeGreaterThanOrEqual(modeledMs - 0.5);
      expect(devA.counters().modeledWireNs - before).toBeCloseTo(serializationNs(SLOW, 1024 * 1024), 0);
    } finally {
      pair.dispose();
    }
  });

  it('spends the modeled registration time in registerMemoryRegion and counts it', () => {
    const pd = devA.allocPd();
    const before = devA.counters().modeledRegistrationNs;
    const started = process.hrtime.bigint();
    const mr = pd.registerMemoryRegion(shared(64 * 4096), Access.LOCAL_WRITE);
    const spentNs = Number(process.hrtime.bigint() - started);
    try {
      expect(spentNs).toBeGreaterThanOrEqual(64 * 50_000);
      expect(devA.counters().modeledRegistrationNs - before).toBe(64 * 50_000);
    } finally {
      mr.deregister();
      pd.dealloc();
    }
  });
});
