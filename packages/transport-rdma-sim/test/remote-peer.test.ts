import { afterEach, describe, expect, it } from 'vitest';
import {
  Access,
  createDevice,
  type Device,
  type Fabric,
  type QpEndpoint,
  type RemoteRegion,
  sharedMemoryFabric,
  tcpFabric,
  type WorkCompletion,
} from '../src/index.js';
import { collect, pattern, shared, sleep } from './helpers/pair.js';
import { type Peer, startPeer } from './helpers/peer.js';

/** The target lives in another thread (shared memory) or another process (TCP), as on a real fabric. */
const PEER_FABRICS: ReadonlyArray<{ name: string; kind: 'thread' | 'process'; make: () => Fabric }> = [
  { name: 'shared-memory', kind: 'thread', make: () => sharedMemoryFabric({ name: `peer-${process.pid}` }) },
  { name: 'tcp', kind: 'process', make: () => tcpFabric() },
];

const wallNow = () => performance.timeOrigin + performance.now();

describe.each(PEER_FABRICS)('a target in another $kind over the $name fabric', ({ kind, make }) => {
  let device: Device | null = null;
  let peer: Peer | null = null;
  afterEach(async () => {
    await peer?.kill();
    await device?.close();
    peer = null;
    device = null;
  });

  async function setup(
    peerArgs: Record<string, unknown>,
    rts: { ackTimeoutMs?: number; retryCount?: number } = {},
  ) {
    device = await createDevice({ fabric: make() });
    peer = await startPeer(kind);
    const remote = await peer.call<{ endpoint: QpEndpoint; staging: RemoteRegion }>('open', {
      fabric: make(),
      ...peerArgs,
    });
    const pd = device.allocPd();
    const cq = device.createCq({ capacity: 256 });
    const mr = pd.registerMemoryRegion(shared(remote.staging.length), Access.LOCAL_WRITE);
    const qp = pd.createQp({ sendCq: cq, recvCq: cq });
    qp.modify({ state: 'INIT' });
    qp.modify({ state: 'RTR', remote: remote.endpoint, pathMtu: (peerArgs.pathMtu as number) ?? 4096 });
    qp.modify({ state: 'RTS', ...rts });
    await peer.call('connect', { remote: qp.endpoint, pathMtu: (peerArgs.pathMtu as number) ?? 4096 });
    return { remote, pd, cq, mr, qp };
  }

  it("places writes and the marker's completion while the target's main thread is blocked", async () => {
    const length = 1024 * 1024;
    const { remote, cq, mr, qp } = await setup({ bytes: length, recvs: 1 });
    const seed = 23;
    pattern(mr.buffer, seed);
    const blocked = peer!.call<{
      startedAt: number;
      wokeAt: number;
      matching: number;
      completions: WorkCompletion[];
    }>('block', { ms: 2500, seed, length });
    // Give the peer ample time to enter Atomics.wait before anything is posted.
    await sleep(400);
    const postedAt = wallNow();
    qp.postSend([
      {
        wrId: 1,
        opcode: 'RDMA_WRITE',
        sgList: [mr.sge(0, length)],
        remoteAddr: remote.staging.addr,
        rkey: remote.staging.rkey,
      },
      { wrId: 2, opcode: 'RDMA_WRITE_WITH_IMM', remoteAddr: 0, rkey: 0, imm: 99, signaled: true },
    ]);
    const [wc] = await collect(cq, 1);
    const completedAt = wallNow();
    expect(wc?.status).toBe('SUCCESS');
    const report = await blocked;
    // The whole exchange happened inside the window in which the target ran no JavaScript at all.
    expect(report.startedAt).toBeLessThan(postedAt);
    expect(completedAt).toBeLessThan(report.wokeAt);
    // And the first thing the target saw on waking: all the data, and the marker's completion.
    expect(report.matching).toBe(length);
    expect(report.completions).toEqual([
      expect.objectContaining({ opcode: 'RECV_RDMA_WITH_IMM', imm: 99, status: 'SUCCESS' }),
    ]);
  });

  it('completes the outstanding request with RETRY_EXC_ERR when the target crashes, then flushes the rest in order', async () => {
    // The target's NIC places slowly, so the big write is still in flight when the target dies.
    const length = 256 * 1024;
    const { remote, cq, mr, qp } = await setup(
      { bytes: length, pathMtu: 1024, faults: { segmentDelayMs: 10 } },
      { ackTimeoutMs: 100, retryCount: 2 },
    );
    qp.postSend({
      wrId: 0,
      opcode: 'RDMA_WRITE',
      sgList: [mr.sge(0, 16)],
      remoteAddr: remote.staging.addr,
      rkey: remote.staging.rkey,
      signaled: true,
    });
    expect((await collect(cq, 1))[0]?.status).toBe('SUCCESS');

    qp.postSend([
      {
        wrId: 1,
        opcode: 'RDMA_WRITE',
        sgList: [mr.sge(0, length)],
        remoteAddr: remote.staging.addr,
        rkey: remote.staging.rkey,
        signaled: true,
      },
      {
        wrId: 2,
        opcode: 'RDMA_WRITE',
        sgList: [mr.sge(0, 64)],
        remoteAddr: remote.staging.addr,
        rkey: remote.staging.rkey,
      },
      { wrId: 3, opcode: 'RDMA_WRITE_WITH_IMM', remoteAddr: 0, rkey: 0, imm: 1, signaled: true },
    ]);
    await sleep(150);
    expect(await cq.wait(0)).toBe(false);
    await peer!.kill();
    const wcs = await collect(cq, 3, 15_000);
    expect(wcs.map((w) => [w.wrId, w.status])).toEqual([
      [1, 'RETRY_EXC_ERR'],
      [2, 'WR_FLUSH_ERR'],
      [3, 'WR_FLUSH_ERR'],
    ]);
    expect(qp.state).toBe('ERR');
    // New work on the dead connection is flushed too.
    qp.postSend({ wrId: 4, opcode: 'SEND', sgList: [mr.sge(0, 1)] });
    expect((await collect(cq, 1))[0]).toMatchObject({ wrId: 4, status: 'WR_FLUSH_ERR' });
  });
});
