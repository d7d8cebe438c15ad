import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanups, runCleanups, until } from './engine-helpers.js';

afterEach(runCleanups);

interface Line {
  type: string;
  node?: string;
  total?: number;
  port?: number;
  request?: number;
  epoch?: number;
  generation?: number;
  fencingToken?: number;
  trigger?: string;
  durationMs?: number;
  error?: string;
  status?: { epoch: number; committedEpoch: number; generation: number; fencingToken: number };
}

/** Every line any node printed, in arrival order. */
const all: Line[] = [];

/** One node of fixtures/chain-node.ts in its own process. */
function spawnNode(config: {
  role: 'primary' | 'secondary';
  name: string;
  arbiterDir: string;
  port?: number;
}) {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx/esm',
      new URL('./fixtures/chain-node.ts', import.meta.url).pathname,
      JSON.stringify(config),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  const lines: Line[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as Line;
    lines.push(line);
    all.push(line);
  });
  const exited = once(child, 'exit');
  const find = (type: string) => lines.find((l) => l.type === type);
  return {
    name: config.name,
    child,
    lines,
    exited,
    find,
    async wait(type: string, timeoutMs = 20_000): Promise<Line> {
      await until(() => find(type) !== undefined, timeoutMs, `${config.name}: ${type}`);
      return find(type)!;
    },
    send(command: object) {
      child.stdin!.write(`${JSON.stringify(command)}\n`);
    },
  };
}

const totalAfter = (k: number) => (k * (k + 1)) / 2;

/**
 * After a hop to a survivor that restored the state after request `restored`: no reply any dead node
 * released is ahead of that state, and every reply of requests 1..restored was released by some node
 * or re-emitted by a survivor (a client that saw it keeps it; one that did not gets it re-emitted).
 */
function checkHop(dead: readonly string[], restored: number): void {
  const outs = all.filter((l) => l.type === 'out');
  const ahead = outs.filter((l) => dead.includes(l.node!) && l.total! > totalAfter(restored));
  expect(ahead, 'replies released ahead of the committed state').toEqual([]);
  const seen = new Set(all.filter((l) => l.type === 'out' || l.type === 'reemit').map((l) => l.total!));
  const missing: number[] = [];
  for (let k = 1; k <= restored; k++) if (!seen.has(totalAfter(k))) missing.push(k);
  expect(missing, 'committed replies neither released nor re-emitted').toEqual([]);
}

describe('failover chains with re-protection (real processes, SIGKILL, file arbiter)', () => {
  it('A fails to B, C attaches to B, B fails to C, D attaches to C, C fails to D: no committed output lost', async () => {
    all.length = 0;
    const arbiterDir = mkdtempSync(join(tmpdir(), 'mc-chain-'));
    cleanups.push(() => rmSync(arbiterDir, { recursive: true, force: true }));

    let survivor = spawnNode({ role: 'secondary', name: 'B', arbiterDir });
    const first = await survivor.wait('listening');
    const a = spawnNode({ role: 'primary', name: 'A', arbiterDir, port: first.port! });
    await a.wait('protected');
    let victim: { name: string; child: ChildProcess; exited: Promise<unknown> } = a;
    const dead: string[] = [];
    let lastRestored = 0;
    for (const [hop, next] of [
      [1, 'C'],
      [2, 'D'],
      [3, null],
    ] as const) {
      // Let clients work a random while, then kill the node serving them.
      await sleep(150 + Math.random() * 250);
      victim.child.kill('SIGKILL');
      await victim.exited;
      dead.push(victim.name);
      const takeover = await survivor.wait('takeover');
      const restored = survivor.find('restored')!;
      expect(takeover).toMatchObject({ trigger: 'failure', generation: hop + 1, fencingToken: hop + 1 });
      // Epochs and requests never go back: the survivor resumes after everything committed before.
      expect(restored.request!).toBeGreaterThanOrEqual(lastRestored);
      lastRestored = restored.request!;
      checkHop(dead, restored.request!);
      // The survivor serves: a reply beyond the restored state leaves it.
      await until(
        () => survivor.lines.some((l) => l.type === 'out' && l.total! > totalAfter(restored.request!)),
        20_000,
        `${survivor.name} serving`,
      );
      if (next === null) break;

      const attached = spawnNode({ role: 'secondary', name: next, arbiterDir });
      const listening = await attached.wait('listening');
      survivor.send({ protect: listening.port });
      const protectedLine = await survivor.wait('protected');
      expect(protectedLine.status).toMatchObject({ generation: hop + 1, fencingToken: hop + 1 });
      // The re-protected survivor continues the epochs of the state it took over.
      expect(protectedLine.status!.committedEpoch).toBeGreaterThan(takeover.epoch!);
      victim = survivor;
      survivor = attached;
    }
    expect(dead).toEqual(['A', 'B', 'C']);
  });

  it('switchovers under load A → B → C → D: the replies clients saw are exactly the survivor state, nothing lost', async () => {
    all.length = 0;
    const arbiterDir = mkdtempSync(join(tmpdir(), 'mc-chain-'));
    cleanups.push(() => rmSync(arbiterDir, { recursive: true, force: true }));

    let target = spawnNode({ role: 'secondary', name: 'B', arbiterDir });
    const first = await target.wait('listening');
    let serving = spawnNode({ role: 'primary', name: 'A', arbiterDir, port: first.port! });
    await serving.wait('protected');
    const handedOver: string[] = [];
    for (const [hop, next] of [
      [1, 'C'],
      [2, 'D'],
      [3, null],
    ] as const) {
      await sleep(150 + Math.random() * 250);
      serving.send({ switchover: true });
      const event = await serving.wait('switchover');
      const takeover = await target.wait('takeover');
      expect(takeover).toMatchObject({ trigger: 'handover', epoch: event.epoch, generation: hop + 1 });
      expect(event.durationMs!).toBeGreaterThan(0);
      handedOver.push(serving.name);
      const restored = target.find('restored')!.request!;
      checkHop(handedOver, restored);
      // Zero loss: the old node released the reply of every request in the survivor's state.
      const old = all.filter((l) => l.type === 'out' && handedOver.includes(l.node!)).map((l) => l.total!);
      expect(Math.max(...old)).toBe(totalAfter(restored));
      await until(
        () => target.lines.some((l) => l.type === 'out' && l.total! > totalAfter(restored)),
        20_000,
        `${target.name} serving`,
      );
      serving.child.kill('SIGKILL');
      await serving.exited;
      if (next === null) break;
      const attached = spawnNode({ role: 'secondary', name: next, arbiterDir });
      const listening = await attached.wait('listening');
      target.send({ protect: listening.port });
      await target.wait('protected');
      serving = target;
      target = attached;
    }
    expect(handedOver).toEqual(['A', 'B', 'C']);
  });
});
