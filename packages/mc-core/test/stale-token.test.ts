import { createCorkQueue } from '@microcheckpoint/io-cork';
import { type Channel, connect, createServer } from '@microcheckpoint/transport-tcp';
import { afterEach, describe, expect, it } from 'vitest';
import { InProcessArbiter } from '../src/arbiter/in-process.js';
import { StaleTokenError, SwitchoverError } from '../src/errors.js';
import { createGuestMemory } from '../src/guest-memory.js';
import { createInProcessGuest } from '../src/guests/in-process.js';
import { checkpointMessages } from '../src/protocol/checkpoint-messages.js';
import {
  decodeMessage,
  encodeMessage,
  GOODBYE_REASONS,
  type HelloMessage,
  type McMessage,
  PROTOCOL_VERSION,
  ROLES,
} from '../src/protocol/messages.js';
import type { TakeoverEvent } from '../src/secondary.js';
import { cleanups, makePrimary, runCleanups, startSecondary, until } from './engine-helpers.js';

afterEach(runCleanups);

const PAGE = 4096;
const PAGES = 16;
const SIZE = PAGE * PAGES;
const TOKEN = 5;

/** Message-by-message peer over a real channel, so a test can send what a real node never would. */
function speaker(channel: Channel) {
  const inbox: McMessage[] = [];
  channel.on('message', (m) => inbox.push(decodeMessage(m.type, m.payload)));
  const send = (message: McMessage) => {
    const { type, parts } = encodeMessage(message);
    channel.send(type, parts);
  };
  const waitFor = async (kind: McMessage['kind']) => {
    await until(() => inbox.some((m) => m.kind === kind) || channel.closed, 5000, kind);
    const at = inbox.findIndex((m) => m.kind === kind);
    if (at === -1) throw new Error(`the channel closed before ${kind}`);
    return inbox.splice(at, 1)[0]!;
  };
  return { inbox, send, waitFor };
}

function hello(role: number, fields: Partial<HelloMessage> = {}): HelloMessage {
  return {
    kind: 'HELLO',
    protocolVersion: PROTOCOL_VERSION,
    role,
    capabilities: 0,
    pageSize: PAGE,
    pageCount: PAGES,
    memoryBudgetBytes: 0,
    maxCheckpointBytes: role === ROLES.secondary ? SIZE : 0,
    maxInFlight: 1,
    fencingToken: TOKEN,
    committedEpoch: 0,
    generation: TOKEN,
    heartbeatPort: 0,
    nodeId: 'fake',
    ...fields,
  };
}

/** An arbiter that has granted generations 1..TOKEN (token = generation here), all released. */
async function arbiterAtToken(): Promise<InProcessArbiter> {
  const arbiter = new InProcessArbiter();
  for (let generation = 1; generation <= TOKEN; generation++) {
    const grant = await arbiter.acquire({ generation, node: 'fake', ttlMs: 1000 });
    await arbiter.release(grant!);
  }
  return arbiter;
}

/** A real secondary with a hand-written primary that got checkpoint 1 committed under TOKEN. */
async function committedSession() {
  const { secondary, port } = await startSecondary({
    memoryOptions: { sizeBytes: SIZE },
    arbiter: await arbiterAtToken(),
    // No heartbeats from a fake primary: never convict it for that.
    keepalive: { startupTimeoutMs: Number.POSITIVE_INFINITY },
    takeover: ({ memory }) => {
      const guest = createInProcessGuest<number>({
        memory,
        handler: () => undefined,
        output: () => undefined,
      });
      cleanups.push(() => guest.close());
      return { guest, output: () => undefined };
    },
  });
  const channel = await connect({ port });
  cleanups.push(() => channel.destroy());
  const primary = speaker(channel);
  primary.send(hello(ROLES.primary));
  await primary.waitFor('HELLO');
  const image = new Uint8Array(SIZE).fill(7);
  primary.send({ kind: 'SYNC_BEGIN', pass: 1, fencingToken: TOKEN, pageCount: PAGES });
  primary.send({
    kind: 'SYNC_PAGES',
    sequence: 1,
    codec: 1,
    runs: [{ firstPage: 0, pageCount: PAGES, encodedBytes: SIZE }],
    data: [image],
  });
  primary.send({ kind: 'SYNC_END', pass: 1, final: 1, pagesSent: PAGES });
  await primary.waitFor('SYNC_ACK');
  const cork = createCorkQueue({ generation: TOKEN });
  cork.open(1);
  cork.append('client', new TextEncoder().encode('reply 1'));
  cork.seal(1);
  const messages = checkpointMessages(
    {
      epoch: 1,
      fencingToken: TOKEN,
      runs: [{ firstPage: 2, pageCount: 1, data: image.subarray(0, PAGE) }],
      output: [cork.serialize(1)],
    },
    PAGE,
    SIZE,
  );
  for (const m of messages) primary.send(m);
  expect(await primary.waitFor('ACK')).toMatchObject({ epoch: 1, fencingToken: TOKEN });
  const takeover = new Promise<TakeoverEvent>((resolve) => secondary.once('takeover', resolve));
  return { secondary, channel, primary, takeover };
}

describe('stale fencing tokens and bad handovers are refused with typed errors', () => {
  it('a secondary refuses a HANDOVER under an older token and does not take over', async () => {
    const s = await committedSession();
    s.primary.send({ kind: 'HANDOVER', epoch: 1, fencingToken: TOKEN - 1, generation: TOKEN });
    const error = await s.primary.waitFor('ERROR');
    expect(error).toMatchObject({ code: 'MC_ERR_CKPT_STALE_TOKEN' });
    await until(() => s.channel.closed, 5000, 'the session ended');
    expect(s.secondary.state).not.toBe('serving');
    expect(s.secondary.state).not.toBe('arbitrating');
  });

  it('a secondary refuses a HANDOVER of an epoch it has not committed', async () => {
    const s = await committedSession();
    s.primary.send({ kind: 'HANDOVER', epoch: 2, fencingToken: TOKEN, generation: TOKEN });
    expect(await s.primary.waitFor('ERROR')).toMatchObject({ code: 'MC_ERR_PROTOCOL_UNEXPECTED' });
    expect(s.secondary.state).not.toBe('serving');
  });

  it('a secondary accepts a valid HANDOVER and takes over at once under the next generation', async () => {
    const s = await committedSession();
    s.primary.send({ kind: 'HANDOVER', epoch: 1, fencingToken: TOKEN, generation: TOKEN });
    expect(await s.primary.waitFor('GOODBYE')).toMatchObject({ reason: GOODBYE_REASONS.handoverAccepted });
    const event = await s.takeover;
    expect(event).toMatchObject({ trigger: 'handover', epoch: 1, generation: TOKEN + 1, reemitted: 1 });
    expect(s.secondary.state).toBe('serving');
  });

  it('a primary refuses an ACK under an older token: StaleTokenError, the session ends, nothing leaves before a newer generation is won', async () => {
    const server = createServer({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => server.close());
    server.on('channel', (channel: Channel) => {
      const peer = speaker(channel);
      channel.on('message', () => {
        for (const m of peer.inbox.splice(0)) {
          if (m.kind === 'HELLO') peer.send(hello(ROLES.secondary, { fencingToken: 0, generation: 0 }));
          else if (m.kind === 'SYNC_END') peer.send({ kind: 'SYNC_ACK', pass: m.pass, pagesReceived: 0 });
          else if (m.kind === 'CKPT_END') peer.send({ kind: 'ACK', epoch: m.epoch, fencingToken: 0 });
        }
      });
    });
    const { port } = await server.listen();
    const memory = createGuestMemory({ sizeBytes: SIZE });
    const guest = createInProcessGuest<number>({
      memory,
      handler: (n, context) => context.output(1, new Uint8Array([n])),
      output: () => undefined,
    });
    cleanups.push(() => guest.close());
    const released: Array<{ byte: number; token: number }> = [];
    const arbiter = await arbiterAtToken();
    const primary = makePrimary(
      guest,
      (_t, data) => released.push({ byte: data[0]!, token: primary.status().fencingToken }),
      port,
      arbiter,
      {
        generation: TOKEN + 1,
        keepalive: { startupTimeoutMs: Number.POSITIVE_INFINITY },
      },
    );
    const lost = new Promise<Error>((resolve) => primary.once('peer-lost', resolve));
    const started = primary.start();
    started.catch(() => undefined);
    await until(() => primary.state === 'syncing', 5000, 'syncing');
    guest.submit(9);
    const error = await lost;
    expect(error).toBeInstanceOf(StaleTokenError);
    expect(error).toMatchObject({ code: 'MC_ERR_STALE_TOKEN', token: 0, current: TOKEN + 1 });
    await expect(started).rejects.toThrow();
    // The output of the refused checkpoint is never released on the strength of the stale ACK: it
    // stays corked until this node wins the next generation (a newer token) and runs unprotected.
    await until(() => primary.state === 'unprotected', 5000, 'arbitration');
    await until(() => released.length > 0, 5000, 'release after arbitration');
    expect(released).toEqual([{ byte: 9, token: TOKEN + 2 }]);
  });

  it('a primary whose HANDOVER is not accepted arbitrates: having won, it resumes the guest alone and loses nothing', async () => {
    const server = createServer({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => server.close());
    const handovers: McMessage[] = [];
    server.on('channel', (channel: Channel) => {
      const peer = speaker(channel);
      let token = 0;
      channel.on('message', () => {
        for (const m of peer.inbox.splice(0)) {
          if (m.kind === 'HELLO') peer.send(hello(ROLES.secondary, { fencingToken: 0, generation: 0 }));
          else if (m.kind === 'SYNC_END') peer.send({ kind: 'SYNC_ACK', pass: m.pass, pagesReceived: 0 });
          else if (m.kind === 'CKPT_BEGIN') token = m.fencingToken;
          else if (m.kind === 'CKPT_END') peer.send({ kind: 'ACK', epoch: m.epoch, fencingToken: token });
          // A secondary that never answers the handover.
          else if (m.kind === 'HANDOVER') handovers.push(m);
        }
      });
    });
    const { port } = await server.listen();
    const memory = createGuestMemory({ sizeBytes: SIZE });
    const guest = createInProcessGuest<number>({
      memory,
      handler: (n, context) => context.output(1, new Uint8Array([n])),
      output: () => undefined,
    });
    cleanups.push(() => guest.close());
    const released: number[] = [];
    const primary = makePrimary(guest, (_t, data) => released.push(data[0]!), port, new InProcessArbiter(), {
      closeTimeoutMs: 300,
      keepalive: { startupTimeoutMs: Number.POSITIVE_INFINITY },
    });
    await primary.start();
    guest.submit(1);
    await expect(primary.switchover()).rejects.toBeInstanceOf(SwitchoverError);
    // Everything before the switchover was released on the last ACK.
    expect(released).toEqual([1]);
    expect(handovers).toHaveLength(1);
    await until(() => primary.state === 'unprotected', 5000, 'arbitration won');
    expect(primary.status().generation).toBe(2);
    guest.submit(2);
    await until(() => released.length === 2, 5000, 'the guest runs again');
    expect(released).toEqual([1, 2]);
  });
});
