import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileArbiter } from '../src/arbiter/file.js';
import { createGuestMemory } from '../src/guest-memory.js';
import { createInProcessGuest } from '../src/guests/in-process.js';
import type { TakeoverEvent } from '../src/secondary.js';
import { cleanups, runCleanups, startSecondary, until } from './engine-helpers.js';

afterEach(runCleanups);

const SIZE = 1 << 20;

interface Line {
  type: string;
  total?: number;
  epoch?: number;
  kind?: string;
}

/** The counter primary of fixtures/primary-process.ts, in its own process. */
function spawnPrimary(
  port: number,
  arbiterDir: string,
  killAt?: { epoch: number; kind: string; index?: number },
) {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx/esm',
      new URL('./fixtures/primary-process.ts', import.meta.url).pathname,
      JSON.stringify({ port, arbiterDir, killAt }),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  const lines: Line[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(JSON.parse(line) as Line));
  const exited = once(child, 'exit');
  return { child, lines, exited };
}

/**
 * A secondary in this process whose takeover restores the counter workload, records what it
 * re-emits and what it serves.
 */
async function survivor(arbiterDir: string, prefault = true) {
  const reemitted: number[] = [];
  let restoredTotal = -1;
  const memory = createGuestMemory({ sizeBytes: SIZE });
  const { secondary, port } = await startSecondary({
    memory,
    arbiter: createFileArbiter({ directory: arbiterDir }),
    nodeId: 'secondary',
    prefault,
    // The primary is a process of its own here: the hang rule applies, with room for a loaded machine.
    keepalive: { multiplier: 15, hangTimeoutMs: 3000 },
    takeover: ({ memory: restored }) => {
      const counter = new DataView(restored.bytes.buffer, 0, 8);
      restoredTotal = counter.getUint32(0, true);
      const guest = createInProcessGuest<number>({
        memory: restored,
        handler: (n, context) => {
          const total = counter.getUint32(0, true) + n;
          counter.setUint32(0, total, true);
          restored.markDirty(0, 4);
          context.output(0, new TextEncoder().encode(String(total)));
        },
        output: () => undefined,
      });
      cleanups.push(() => guest.close());
      return {
        guest,
        output: () => undefined,
        reemit: (_target, data) => reemitted.push(Number(new TextDecoder().decode(data))),
      };
    },
  });
  const takeover = new Promise<TakeoverEvent>((resolve) => secondary.once('takeover', resolve));
  return { secondary, port, memory, reemitted, takeover, restored: () => restoredTotal };
}

/**
 * The guarantees after a takeover, from the outputs the dead primary released (its stdout) and what
 * the survivor restored and re-emitted: no released output is ahead of the restored state, and every
 * output of the restored state was released by the primary or re-emitted by the survivor.
 */
function checkOutputs(lines: Line[], restoredTotal: number, reemitted: number[]): void {
  const released = lines.filter((l) => l.type === 'out').map((l) => l.total!);
  const ahead = released.filter((t) => t > restoredTotal);
  expect(ahead, 'outputs released ahead of the committed state').toEqual([]);
  const seen = new Set([...released, ...reemitted]);
  // Totals are the prefix sums 1, 3, 6, ...: every one up to the restored total is an output.
  const missing: number[] = [];
  for (let n = 1, total = 1; total <= restoredTotal; n++, total += n)
    if (!seen.has(total)) missing.push(total);
  expect(missing, 'committed outputs neither released nor re-emitted').toEqual([]);
  expect(reemitted.every((t) => t <= restoredTotal)).toBe(true);
}

describe('failover to the secondary when the primary process is SIGKILLed', () => {
  const scenarios: Array<{
    name: string;
    killAt?: { epoch: number; kind: string; index?: number };
    prefault?: boolean;
  }> = [
    { name: 'at a random moment' },
    { name: 'in the middle of shipping a checkpoint', killAt: { epoch: 12, kind: 'CKPT_PAGES', index: 3 } },
    { name: 'after shipping a whole checkpoint, before its ACK', killAt: { epoch: 12, kind: 'CKPT_END' } },
    {
      name: 'at a random moment, restoring the whole image into a memory not prefaulted',
      prefault: false,
    },
  ];
  for (const { name, killAt, prefault } of scenarios) {
    it(`restores the last committed epoch, re-emits its unproven output and serves (${name})`, async () => {
      const arbiterDir = mkdtempSync(join(tmpdir(), 'mc-arbiter-'));
      cleanups.push(() => rmSync(arbiterDir, { recursive: true, force: true }));
      const s = await survivor(arbiterDir, prefault);
      const commits: number[] = [];
      s.secondary.on('commit', ({ epoch }) => commits.push(epoch));
      const p = spawnPrimary(s.port, arbiterDir, killAt);
      await until(() => p.lines.some((l) => l.type === 'protected'), 20_000, 'protection');
      if (killAt === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 300));
        p.child.kill('SIGKILL');
      }
      await p.exited;
      const event = await s.takeover;
      expect(s.secondary.state).toBe('serving');
      expect(event.epoch).toBe(commits.at(-1));
      expect(event.generation).toBe(2);
      if (killAt?.kind === 'CKPT_END') {
        // Committed on the secondary, never acknowledged to the primary: its output is re-emitted.
        expect(event.epoch).toBe(killAt.epoch);
        expect(s.reemitted.length).toBeGreaterThan(0);
      }
      if (killAt?.kind === 'CKPT_PAGES') expect(event.epoch).toBe(killAt.epoch - 1);
      expect(p.lines.filter((l) => l.type === 'out').length).toBeGreaterThan(0);
      checkOutputs(p.lines, s.restored(), s.reemitted);
      // The memory the workload resumed on is the committed image, byte for byte.
      const image = new Uint8Array(SIZE);
      expect(s.secondary.materialize(image)).toBe(event.epoch);
      expect(Buffer.from(s.memory.bytes).equals(Buffer.from(image))).toBe(true);
      expect(s.secondary.status()).toMatchObject({ state: 'serving', generation: 2, fencingToken: 2 });
    });
  }

  it('stays passive when the dead primary never completed the first checkpoint', async () => {
    const arbiterDir = mkdtempSync(join(tmpdir(), 'mc-arbiter-'));
    cleanups.push(() => rmSync(arbiterDir, { recursive: true, force: true }));
    const s = await survivor(arbiterDir);
    const p = spawnPrimary(s.port, arbiterDir, { epoch: 1, kind: 'CKPT_BEGIN' });
    await p.exited;
    await until(() => s.secondary.state === 'passive', 5000, 'passive');
    expect(s.secondary.status().committedEpoch).toBe(0);
  });
});
