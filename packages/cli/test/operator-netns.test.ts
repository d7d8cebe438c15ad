import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveCertsOptions, writeCertificates } from '../src/commands/certs.js';
import { createNetnsPair, listNetns, netnsUnavailableReason } from '../src/netns.js';
import type { NodeStatusReport } from '../src/node/status-report.js';
import { cleanupsAfterEach } from './cleanups.js';
import { type McftRun, parsePrometheusText, runMcft, startMcft } from './mcft-process.js';

const { defer } = cleanupsAfterEach('mcft-test-');

const unavailable = netnsUnavailableReason();
// Root is needed for namespaces; on CI this must run (and fail loudly if it cannot).
const skip = unavailable !== null && process.env.CI !== 'true';

/** redis-cli (Debian redis-tools), run inside a namespace: a real client of the KV service. */
function redis(ns: string, host: string, args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'redis-cli', '-h', host, '-p', '6379', ...args], {
    encoding: 'utf8',
    timeout: 10_000,
  }).trim();
}

describe.skipIf(skip)(
  `mcft primary and secondary on two hosts (network namespaces)${skip ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    it.each(['tcp', 'rdma-sim'])(
      'protect the KV service across a veth link (--transport %s), report status on both, and fail over on SIGKILL',
      async (transport) => {
        const pair = createNetnsPair(`mcft-t-${process.pid}`, 7);
        defer(() => pair.destroy());
        const dir = mkdtempSync(join(tmpdir(), 'mcft-netns-'));
        defer(() => rmSync(dir, { recursive: true, force: true }));
        const A = pair.addressA;
        const B = pair.addressB;
        // Secure as in production: certificates for both hosts' addresses from one CA.
        const certs = join(dir, 'certs');
        writeCertificates(
          resolveCertsOptions({ out: certs, nodes: 'primary,secondary,witness,admin', ip: `${A},${B}` }),
        );
        const tls = (name: string) => [
          '--ca',
          join(certs, 'ca.pem'),
          '--cert',
          join(certs, `${name}.pem`),
          '--key',
          join(certs, `${name}.key`),
        ];
        const start = (ns: string, name: string, args: string[]): McftRun => {
          const run = startMcft([...args, ...tls(name), '--json'], { prefix: pair.exec(ns) });
          defer(() => run.kill());
          return run;
        };
        // Host b runs the witness and the secondary; host a the primary.
        const witness = start(pair.b, 'witness', [
          'witness',
          '--listen',
          `${B}:7100`,
          '--state-file',
          join(dir, 'witness.json'),
        ]);
        await witness.waitFor((l) => l.type === 'listening', 30_000, 'the witness listening');
        const arbiter = [
          '--arbiter',
          'witness',
          '--witness',
          `${B}:7100`,
          '--detect-multiplier',
          '15',
          '--hang-timeout-ms',
          '3000',
          '--transport',
          transport,
        ];
        const secondary = start(pair.b, 'secondary', [
          'secondary',
          '--listen',
          `${B}:7000`,
          '--service',
          `${B}:6379`,
          '--metrics',
          `${B}:9464`,
          '--memory-mib',
          '8',
          ...arbiter,
        ]);
        const s = await secondary.waitFor((l) => l.type === 'listening', 30_000, 'the secondary listening');
        expect(s.heartbeat).toBe(B);
        expect(s.transport).toBe(transport);
        const primary = start(pair.a, 'primary', [
          'primary',
          '--secondary',
          `${B}:7000`,
          '--service',
          `${A}:6379`,
          '--metrics',
          `${A}:9464`,
          '--memory-mib',
          '8',
          ...arbiter,
        ]);
        const p = await primary.waitFor((l) => l.type === 'listening', 30_000, 'the primary listening');
        // The primary found its own address on the link by itself, for its heartbeats.
        expect(p.heartbeat).toBe(A);
        await primary.waitFor((l) => l.type === 'protected', 30_000, 'protection');

        // A client on host b drives the primary on host a.
        for (let i = 0; i < 20; i++) expect(redis(pair.b, A, ['SET', `k${i}`, `v${i}`])).toBe('OK');
        expect(redis(pair.b, A, ['INCR', 'n'])).toBe('1');
        expect(redis(pair.b, A, ['GET', 'k3'])).toBe('v3');

        // mcft status across the link, both ways, over HTTPS with a client certificate.
        const ps = await runMcft(['status', `${A}:9464`, '--json', ...tls('admin')], {
          prefix: pair.exec(pair.b),
        });
        expect(ps.code, ps.stderr).toBe(0);
        const pr = JSON.parse(ps.stdout) as NodeStatusReport;
        expect(pr).toMatchObject({
          role: 'primary',
          state: 'protected',
          peer: {
            detector: 'alive',
            connected: true,
            channelSecurity: 'tls',
            heartbeatAuthentication: 'hmac-sha256-128',
          },
        });
        const ss = await runMcft(['status', `${B}:9464`, ...tls('admin')], { prefix: pair.exec(pair.a) });
        expect(ss.code, ss.stderr).toBe(0);
        expect(ss.stdout).toMatch(/role \/ state\s+secondary \/ protecting/);
        const metrics = execFileSync(
          'ip',
          [
            'netns',
            'exec',
            pair.a,
            'curl',
            '-sf',
            '--cacert',
            join(certs, 'ca.pem'),
            '--cert',
            join(certs, 'admin.pem'),
            '--key',
            join(certs, 'admin.key'),
            `https://${B}:9464/metrics`,
          ],
          { encoding: 'utf8', timeout: 10_000 },
        );
        const info = parsePrometheusText(metrics).samples.find((x) => x.name === 'mcft_node_info');
        expect(info?.labels).toMatchObject({ role: 'secondary', state: 'protecting' });

        primary.child.kill('SIGKILL');
        const serving = await secondary.waitFor((l) => l.type === 'serving', 30_000, 'the takeover');
        expect(serving).toMatchObject({ generation: 2, service: `${B}:6379` });
        // Everything acknowledged is on host b now, and it serves new writes.
        expect(redis(pair.a, B, ['GET', 'k19'])).toBe('v19');
        expect(redis(pair.a, B, ['INCR', 'n'])).toBe('2');
        // Without a client certificate the status endpoint answers nothing.
        const anonymous = await runMcft(['status', `${B}:9464`], { prefix: pair.exec(pair.a) });
        expect(anonymous.code).toBe(2);
        const after = JSON.parse(
          (await runMcft(['status', `${B}:9464`, '--json', ...tls('admin')], { prefix: pair.exec(pair.a) }))
            .stdout,
        ) as NodeStatusReport;
        expect(after).toMatchObject({ role: 'secondary', state: 'serving', generation: 2 });

        pair.destroy();
        expect(listNetns().filter((ns) => ns.startsWith(`mcft-t-${process.pid}-`))).toEqual([]);
      },
    );
  },
);
