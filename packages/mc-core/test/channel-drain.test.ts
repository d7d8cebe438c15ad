import { type Channel, connect, createServer } from '@microcheckpoint/transport-tcp';
import { afterEach, describe, expect, it } from 'vitest';
import { sendAll, waitForDrain } from '../src/engine/channel.js';
import { PeerLostError } from '../src/errors.js';
import type { McMessage } from '../src/protocol/messages.js';
import { cleanups, runCleanups } from './engine-helpers.js';

afterEach(runCleanups);

/** A real framed channel whose peer reads only through its iterator (or not at all): real backpressure. */
async function backpressuredPair() {
  const server = createServer({ host: '127.0.0.1', port: 0, readBufferBytes: 64 * 1024 });
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  const accepted = new Promise<Channel>((resolve) => server.once('channel', resolve));
  const sender = await connect({ host: '127.0.0.1', port, highWaterMarkBytes: 64 * 1024 });
  cleanups.push(() => sender.destroy());
  const receiver = await accepted;
  cleanups.push(() => receiver.destroy());
  return { sender, receiver };
}

const budget = (n: number): McMessage => ({
  kind: 'BUDGET',
  memoryBudgetBytes: 1 << 20,
  maxCheckpointBytes: 4096 + n,
});

describe('waiting for drain', () => {
  it('leaves no listener behind, however often a sender waits on one channel', async () => {
    const { sender, receiver } = await backpressuredPair();
    // The receiver reads through its iterator, which pauses the socket past its read buffer: the
    // kernel's buffers fill, and from then on the sender waits for drain again and again.
    let received = 0;
    const reading = (async () => {
      for await (const _ of receiver) {
        received++;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const big = new Uint8Array(256 * 1024);
    let waits = 0;
    for (let i = 0; i < 200 && waits <= 20; i++) {
      if (!sender.send(0x7f, [big])) {
        await waitForDrain(sender);
        waits++;
      }
    }
    // Far more waits than an EventEmitter's default limit of ten listeners.
    expect(waits).toBeGreaterThan(20);
    const emitter = sender as unknown as { listenerCount(event: string): number };
    expect(emitter.listenerCount('drain')).toBe(0);
    const closeListeners = emitter.listenerCount('close');
    await sendAll(
      sender,
      Array.from({ length: 50 }, (_, n) => budget(n)),
    );
    expect(emitter.listenerCount('drain')).toBe(0);
    expect(emitter.listenerCount('close')).toBe(closeListeners);
    expect(received).toBeGreaterThan(0);
    sender.destroy();
    await reading.catch(() => undefined);
  });

  it('rejects a waiter with PeerLostError when the channel closes first, and leaves nothing behind', async () => {
    const { sender } = await backpressuredPair();
    // Nobody reads on the other side: the kernel's buffers fill, then the channel asks to wait.
    const big = new Uint8Array(1024 * 1024);
    let asked = false;
    for (let i = 0; i < 256 && !asked; i++) asked = !sender.send(0x7f, [big]);
    expect(asked).toBe(true);
    const waiting = waitForDrain(sender);
    const before = (sender as unknown as { listenerCount(event: string): number }).listenerCount('close');
    sender.destroy();
    await expect(waiting).rejects.toBeInstanceOf(PeerLostError);
    const emitter = sender as unknown as { listenerCount(event: string): number };
    expect(emitter.listenerCount('drain')).toBe(0);
    expect(emitter.listenerCount('close')).toBe(before - 1);
    await expect(waitForDrain(sender)).rejects.toBeInstanceOf(PeerLostError);
  });
});
