import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { DemoSummary } from '../src/demo/summary.js';
import { listNetns, netnsUnavailableReason } from '../src/netns.js';
import { cleanupsAfterEach } from './cleanups.js';
import { killTagged, processesTagged, runMcft, startMcft } from './mcft-process.js';

const TAG = 'MCFT_TEST_TAG';
const { defer } = cleanupsAfterEach('mcft-test-');

/** A fresh TMPDIR and process tag for one demo run, both checked and removed afterwards. */
function isolation(): { env: NodeJS.ProcessEnv; tmp: string; tag: string } {
  const tmp = mkdtempSync(join(tmpdir(), 'mcft-demo-test-'));
  const tag = randomUUID();
  defer(() => {
    killTagged(TAG, tag);
    rmSync(tmp, { recursive: true, force: true });
  });
  return { env: { TMPDIR: tmp, [TAG]: tag }, tmp, tag };
}

/** What the demo left in its TMPDIR (tsx, which runs the sources under test, keeps its cache there). */
function filesLeft(tmp: string): string[] {
  return readdirSync(tmp).filter((name) => !name.startsWith('tsx-'));
}

/** Processes die a moment after their parent is told; give them a bounded while. */
async function leftovers(tag: string): Promise<number[]> {
  for (let i = 0; i < 50; i++) {
    const pids = processesTagged(TAG, tag);
    if (pids.length === 0) return [];
    await sleep(100);
  }
  return processesTagged(TAG, tag);
}

const root = typeof process.getuid === 'function' && process.getuid() === 0;

describe('mcft demo --json', () => {
  const runs = [
    { fault: 'kill', transport: 'tcp' },
    { fault: 'stop', transport: 'tcp' },
    { fault: 'none', transport: 'tcp', plain: true },
    { fault: 'kill', transport: 'rdma-sim' },
  ] as const;
  for (const run_ of runs) {
    const { fault, transport } = run_;
    const plain = 'plain' in run_ && run_.plain === true;
    it(`passes with --fault ${fault} --transport ${transport}${plain ? ' --insecure-plain' : ' (TLS)'}, reports every summary field, and leaves nothing behind`, async () => {
      const { env, tmp, tag } = isolation();
      const args = [
        'demo',
        '--json',
        '--duration',
        '5',
        '--memory-mib',
        '8',
        '--fault',
        fault,
        '--transport',
        transport,
        ...(plain ? ['--insecure-plain'] : []),
      ];
      const run = await runMcft(args, {
        env,
        timeoutMs: 90_000,
      });
      expect(run.stderr).toBe('');
      const summary = JSON.parse(run.stdout) as DemoSummary;
      expect(summary.reasons).toEqual([]);
      expect(summary.verdict).toBe('pass');
      expect(run.code).toBe(0);
      expect(summary.config.transport).toBe(transport);
      // TLS by default, as the secondary itself reported it, with authenticated heartbeats.
      expect(summary.config.security).toBe(plain ? 'plain' : 'tls');
      expect(summary.channelSecurity).toBe(plain ? 'plain' : 'tls');
      expect(summary.heartbeatAuthentication).toBe(plain ? 'none' : 'hmac-sha256-128');
      expect(typeof summary.rejectedHeartbeats).toBe('number');
      expect(summary.epochs).toBeGreaterThan(0);
      expect(summary.checkpointsPerSec).toBeGreaterThan(0);
      expect(summary.pauseMs.p50).toBeGreaterThan(0);
      expect(summary.pauseMs.p99).toBeGreaterThanOrEqual(summary.pauseMs.p50);
      expect(summary.outputs.released).toBeGreaterThan(0);
      expect(summary.outputs.checkedWrites).toBeGreaterThan(0);
      expect(summary.outputs.lostCommitted).toBe(0);
      expect(summary.outputs.releasedAheadOfCommit).toBe(0);
      expect(summary.secondaryMemoryRatio).toBeGreaterThan(0);
      expect(summary.clients.followed).toBe(`${summary.config.connections}/${summary.config.connections}`);
      if (fault === 'none') {
        expect(summary.failover.detectMs).toBeNull();
        expect(summary.failover.takeoverMs).toBeNull();
        expect(summary.failover.survivor).toBe('primary');
      } else {
        expect(summary.failover.survivor).toBe('secondary');
        expect(summary.failover.detectMs).toBeGreaterThanOrEqual(0);
        expect(summary.failover.takeoverMs).toBeGreaterThanOrEqual(summary.failover.detectMs!);
        expect(summary.failover.generation).toBe(2);
        expect(summary.clients.repliesAfterFault).toBeGreaterThan(0);
      }
      // A hung primary that comes back finds itself deposed: it never serves alone.
      if (fault === 'stop') expect(summary.failover.oldPrimaryState).toBe('deposed');
      expect(await leftovers(tag)).toEqual([]);
      expect(filesLeft(tmp)).toEqual([]);
    });
  }

  it.each([
    [['--duration', 'soon'], '--duration'],
    [['--mix', 'set=10,get=10'], 'sum to 100'],
    [['--mix', 'get=100'], 'needs some set or incr'],
    [['--epoch-ms', '0'], '--epoch-ms'],
    [['--clients', '-1'], '--clients'],
  ])('rejects %j with MC_ERR_CLI_BAD_FLAG', async (args, text) => {
    const run = await runMcft(['demo', ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('MC_ERR_CLI_BAD_FLAG');
    expect(run.stderr).toContain(text);
  });

  it('rejects an unknown fault or transport with exit code 2', async () => {
    const fault = await runMcft(['demo', '--fault', 'meteor']);
    expect(fault.code).toBe(2);
    expect(fault.stderr).toContain('--fault');
    const transport = await runMcft(['demo', '--transport', 'carrier-pigeon']);
    expect(transport.code).toBe(2);
    expect(transport.stderr).toContain('--transport');
  });
});

describe('mcft demo interrupted', () => {
  const cases: Array<{ fault: 'kill' | 'partition'; skip: string | null }> = [
    { fault: 'kill', skip: null },
    {
      fault: 'partition',
      skip: root || process.env.CI === 'true' ? null : (netnsUnavailableReason() ?? 'needs root'),
    },
  ];
  for (const { fault, skip } of cases) {
    it.skipIf(skip !== null)(
      `with SIGINT (--fault ${fault}) stops every process it started and removes its files${fault === 'partition' ? ' and namespaces' : ''}${skip === null ? '' : ` (skipped: ${skip})`}`,
      async () => {
        const { env, tmp, tag } = isolation();
        const run = startMcft(['demo', '--duration', '30', '--memory-mib', '8', '--fault', fault], { env });
        defer(() => run.kill());
        // Interrupt once the whole cast runs: secondary, primary and clients.
        await run.waitForText('clients ', 60_000);
        expect(processesTagged(TAG, tag).length).toBeGreaterThanOrEqual(4);
        if (fault === 'partition') expect(listNetns()).toContain(`mcft-demo-${run.child.pid}-a`);
        run.child.kill('SIGINT');
        const { code } = await run.exited;
        expect(code).toBe(130);
        expect(run.stderr()).toContain('nothing left behind');
        expect(await leftovers(tag)).toEqual([]);
        expect(filesLeft(tmp)).toEqual([]);
        expect(listNetns().filter((ns) => ns.startsWith(`mcft-demo-${run.child.pid}-`))).toEqual([]);
      },
    );
  }
});
