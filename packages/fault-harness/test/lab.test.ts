import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createLab, HOST_NAMES, type Lab, labNamespaces, labSkipReason, ownerOf, sweep } from '../src/lab.js';
import { runSchedule } from '../src/run.js';
import { generateSchedule } from '../src/schedule.js';

// Real namespaces need root; in CI (CI=true) a missing privilege is a failure, not a skip.
const skipReason = process.env.CI === 'true' ? null : labSkipReason();
const labs: Lab[] = [];
afterAll(() => {
  for (const lab of labs) lab.teardown();
});

function namespacesOf(runId: string): string[] {
  return labNamespaces()
    .filter((n) => n.runId === runId)
    .map((n) => n.namespace);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The command lines of the processes in a network namespace. */
function commandsIn(namespace: string): string[] {
  const pids = spawnSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8' }).stdout;
  return pids
    .split('\n')
    .filter((pid) => pid.trim() !== '')
    .map((pid) => {
      try {
        return readFileSync(`/proc/${pid.trim()}/cmdline`, 'utf8').replaceAll('\0', ' ');
      } catch {
        return ''; // it exited meanwhile
      }
    });
}

/** Polls `condition` every 25 ms; throws after `timeoutMs` (only a hang guard). */
async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} not seen within ${timeoutMs} ms`);
    await sleep(25);
  }
}

describe.skipIf(skipReason !== null)(`lab${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('joins five hosts through a bridge and removes everything at teardown', async () => {
    const lab = createLab();
    labs.push(lab);
    expect(namespacesOf(lab.runId).sort()).toEqual(
      [...HOST_NAMES, 'net'].map((h) => `mcf-${lab.runId}-${h}`).sort(),
    );
    expect(ownerOf(lab.runId)).toBe(process.pid);
    // A server on the secondary's host answers a client on the client host, across the bridge.
    const server = lab.spawn('sec', process.execPath, [
      '-e',
      `require('net').createServer((s) => s.end('hello')).listen(9000, '${lab.hosts.sec.address}', () => console.log('up'))`,
    ]);
    await new Promise((resolve) => server.stdout?.once('data', resolve));
    const reply = lab.exec('cli', process.execPath, [
      '-e',
      `require('net').connect(9000, '${lab.hosts.sec.address}').on('data', (d) => process.stdout.write(d))`,
    ]);
    expect(reply).toBe('hello');
    const pid = server.pid!;
    expect(alive(pid)).toBe(true);
    lab.teardown();
    expect(namespacesOf(lab.runId)).toEqual([]);
    expect(existsSync(lab.dir)).toBe(false);
    await until(() => !alive(pid), 5_000, 'the server process gone');
    expect(alive(pid)).toBe(false);
    lab.teardown(); // idempotent
  });

  it('sweeps a lab whose harness process is gone, and leaves live labs alone', () => {
    const dead = spawnSync('true').pid!;
    const orphan = createLab(`${dead.toString(36)}zz`);
    labs.push(orphan);
    const live = createLab();
    labs.push(live);
    const removed = sweep();
    expect(removed).toEqual(
      expect.arrayContaining([...HOST_NAMES, 'net'].map((h) => `mcf-${orphan.runId}-${h}`)),
    );
    expect(existsSync(orphan.dir)).toBe(false);
    expect(namespacesOf(live.runId)).toHaveLength(6);
    live.teardown();
    expect(namespacesOf(live.runId)).toEqual([]);
  });

  it('tears the lab down when a run throws', async () => {
    let seen: Lab | null = null;
    await expect(
      runSchedule(generateSchedule(1, 'file'), {
        onLab: (lab) => {
          if (lab === null) return;
          seen = lab;
          throw new Error('the run failed');
        },
      }),
    ).rejects.toThrow('the run failed');
    expect(seen).not.toBeNull();
    const lab = seen as unknown as Lab;
    expect(lab.tornDown).toBe(true);
    expect(namespacesOf(lab.runId)).toEqual([]);
  });

  it('tears the lab down on SIGINT to the command', async () => {
    const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
    expect(existsSync(cli), 'build first: dist/cli.js').toBe(true);
    const child = spawn(process.execPath, [cli, '--runs', '1', '--seed', '3', '--out', '/dev/null'], {
      stdio: 'ignore',
    });
    const runId = await (async () => {
      for (let i = 0; i < 600; i++) {
        const mine = labNamespaces().find((n) => ownerOf(n.runId) === child.pid);
        if (mine) return mine.runId;
        await sleep(25);
      }
      throw new Error('the command created no lab within 15 s');
    })();
    // The clients start once the nodes are up and the primary is protected.
    await until(
      () => commandsIn(`mcf-${runId}-cli`).some((command) => command.includes('workload')),
      30_000,
      'the clients running',
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(namespacesOf(runId)).toEqual([]);
  });
});
