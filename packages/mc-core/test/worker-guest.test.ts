import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { GuestClosedError, GuestFailedError, GuestStateError, PauseTimeoutError } from '../src/errors.js';
import { createGuestMemory, type GuestMemory } from '../src/guest-memory.js';
import { createWorkerGuest, type WorkerGuest } from '../src/guests/worker.js';

const guests: WorkerGuest[] = [];
afterEach(async () => {
  await Promise.all(guests.splice(0).map((g) => g.close()));
});

function start(data?: unknown, module = './fixtures/counter-workload.ts') {
  const memory = createGuestMemory({ sizeBytes: 65536 });
  const outputs: number[] = [];
  const guest = createWorkerGuest({
    memory,
    module: new URL(module, import.meta.url),
    data,
    output: (target, bytes) => {
      expect(target).toBe(7);
      outputs.push(new Uint32Array(bytes.buffer, bytes.byteOffset, 1)[0]!);
    },
  });
  guests.push(guest);
  return { guest, memory, outputs, counter: () => new Uint32Array(memory.bytes.buffer, 0, 1)[0]! };
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(2);
  }
}

function frozenFor(memory: GuestMemory, ms: number): Promise<boolean> {
  const before = Buffer.from(memory.bytes.subarray(0, 4096));
  return sleep(ms).then(() => before.equals(Buffer.from(memory.bytes.subarray(0, 4096))));
}

describe('worker guest', () => {
  it('validates its options', () => {
    const memory = createGuestMemory({ sizeBytes: 65536 });
    const output = () => undefined;
    expect(() => createWorkerGuest({ memory, module: '', output })).toThrow(/option module/);
    expect(() => createWorkerGuest({ memory: {} as never, module: 'x.js', output })).toThrow(/option memory/);
    expect(() => createWorkerGuest({ memory, module: 'x.js', output: 1 as never })).toThrow(/option output/);
    expect(() => createWorkerGuest({ memory, module: 'x.js', output, execArgv: [1] as never })).toThrow(
      /option execArgv/,
    );
    expect(() => createWorkerGuest({ memory, module: 'x.js', output, pauseTimeoutMs: -5 })).toThrow(
      /option pauseTimeoutMs/,
    );
  });

  it('pauses at a safe point: memory frozen, every output of the epoch delivered before pause() resolves', async () => {
    const { guest, memory, outputs, counter } = start();
    await until(() => outputs.length > 20);
    for (let epoch = 0; epoch < 10; epoch++) {
      await guest.pause();
      expect(guest.state).toBe('paused');
      // The last output delivered is the counter's value: nothing produced before the safe point is
      // still in flight, nothing after it exists.
      expect(outputs.at(-1)).toBe(counter());
      const seen = outputs.length;
      expect(await frozenFor(memory, 15)).toBe(true);
      expect(outputs.length).toBe(seen);
      guest.resume();
      await until(() => outputs.length > seen + 3);
    }
    expect(outputs).toEqual(Array.from({ length: outputs.length }, (_, i) => i + 1));
  });

  it('a resume immediately followed by a pause is not lost (the control word carries a request number)', async () => {
    const { guest, outputs, counter } = start();
    await until(() => outputs.length > 5);
    for (let i = 0; i < 50; i++) {
      await guest.pause();
      guest.resume();
    }
    await guest.pause();
    expect(outputs.at(-1)).toBe(counter());
    guest.resume();
  });

  it('a pause the workload cannot honour in time is withdrawn, and the guest runs on', async () => {
    // The stall is long enough that a loaded host cannot let it end before the 50 ms pause times out.
    const { guest, outputs } = start({ stallMs: 5_000 });
    await until(() => outputs.length >= 1);
    await expect(guest.pause({ timeoutMs: 50 })).rejects.toThrow(PauseTimeoutError);
    expect(guest.state).toBe('running');
    await until(() => outputs.length > 5, 30_000);
    await guest.pause();
    expect(guest.state).toBe('paused');
    expect(() => guest.setOutput(null as never)).toThrow(/option sink/);
    guest.resume();
  });

  it('fails when the workload throws: error event, pending pause rejects, resume refused', async () => {
    const { guest } = start({ throwAt: 30 });
    const failed = new Promise<Error>((resolve) => guest.on('error', resolve));
    const error = await failed;
    expect(error).toBeInstanceOf(GuestFailedError);
    expect(String((error.cause as Error).message)).toMatch(/gave up at 30/);
    expect(guest.state).toBe('failed');
    await expect(guest.pause()).rejects.toThrow(GuestFailedError);
    expect(() => guest.resume()).toThrow(GuestClosedError);
  });

  it('fails when the module exports no run function', async () => {
    const { guest } = start(undefined, './fixtures/no-run.ts');
    const error = await new Promise<Error>((resolve) => guest.on('error', resolve));
    expect(error).toBeInstanceOf(GuestFailedError);
    expect(String((error.cause as Error).message)).toMatch(/exports no run function/);
  });

  it('close() stops the workload, also while paused; nothing writes afterwards', async () => {
    const { guest, memory, outputs } = start();
    await until(() => outputs.length > 3);
    await guest.pause();
    await guest.close();
    expect(guest.state).toBe('stopped');
    expect(await frozenFor(memory, 15)).toBe(true);
    await guest.pause();
    expect(() => guest.resume()).toThrow(GuestClosedError);
    await guest.close();
  });

  it('resume() during a pending pause is refused', async () => {
    const { guest, outputs } = start({ stallMs: 200 });
    await until(() => outputs.length >= 1);
    const pausing = guest.pause();
    expect(guest.state).toBe('pausing');
    expect(() => guest.resume()).toThrow(GuestStateError);
    await pausing;
    guest.resume();
  });
});
