import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@microcheckpoint/transport-tcp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveCertsOptions, writeCertificates } from '../src/commands/certs.js';
import { connectResp } from '../src/demo/resp-client.js';
import type { NodeStatusReport } from '../src/node/status-report.js';
import { cleanupsAfterEach } from './cleanups.js';
import { type McftRun, parsePrometheusText, runMcft, startMcft } from './mcft-process.js';

const { defer, tempDir } = cleanupsAfterEach('mcft-sec-');

function node(args: string[]): McftRun {
  const run = startMcft([...args, '--json']);
  defer(() => run.kill());
  return run;
}

/** A port nobody listens on (bound and released a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// Two independent CAs with their node certificates, one PSK, and an expired certificate: written once
// by the same code as `mcft certs` (its own test runs the command).
let root: string;
let main: string;
let other: string;
let expired: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'mcft-sec-certs-'));
  main = join(root, 'main');
  other = join(root, 'other');
  expired = join(root, 'expired');
  writeCertificates(resolveCertsOptions({ out: main, nodes: 'primary,secondary,witness,admin', psk: true }));
  writeCertificates(resolveCertsOptions({ out: other, nodes: 'primary,secondary', psk: true }));
  writeCertificates(resolveCertsOptions({ out: expired, nodes: 'primary', expired: true }));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tls = (dir: string, name: string) => [
  '--ca',
  join(dir, 'ca.pem'),
  '--cert',
  join(dir, `${name}.pem`),
  '--key',
  join(dir, `${name}.key`),
];
const DETECT = ['--detect-multiplier', '15', '--hang-timeout-ms', '3000'];

/** GET over HTTPS with (or without) a client certificate; resolves with the status and body, or the error. */
function httpsGet(
  address: string,
  path: string,
  client: { ca: string; cert?: string; key?: string },
): Promise<{ status: number; body: string } | { error: Error }> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const req = request(
      {
        host,
        port: Number(port),
        path,
        ca: readFileSync(client.ca),
        ...(client.cert === undefined
          ? {}
          : { cert: readFileSync(client.cert), key: readFileSync(client.key!) }),
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', (error) => resolve({ error }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ error }));
    req.end();
  });
}

const expectError = async (args: string[], code: string, ...texts: string[]) => {
  const run = await runMcft(args);
  expect(run.code, run.stderr).toBe(2);
  expect(run.stderr).toContain(code);
  for (const text of texts) expect(run.stderr).toContain(text);
  return run;
};

describe('secure by default', () => {
  it('primary, secondary and witness refuse to start without a security choice, explaining the three options', async () => {
    for (const args of [
      ['secondary', '--listen', '127.0.0.1:0', '--arbiter-dir', '/tmp'],
      ['primary', '--secondary', '127.0.0.1:7000', '--arbiter-dir', '/tmp'],
      ['witness', '--listen', '127.0.0.1:0', '--state-file', '/tmp/mcft-never-written.json'],
    ]) {
      await expectError(
        args,
        'MC_ERR_CLI_NO_SECURITY',
        '--ca FILE --cert FILE --key FILE',
        '--psk-file FILE',
        '--insecure-plain',
        'mcft certs --out DIR',
      );
    }
  });

  it.each([
    [['--insecure-plain', '--psk-file', '/tmp/x'], 'MC_ERR_CLI_BAD_FLAG', 'choose one'],
    [['--ca', '/tmp/ca.pem'], 'MC_ERR_CLI_BAD_FLAG', '--cert: is required with TLS'],
    [['--insecure-plain', '--psk-identity', 'me'], 'MC_ERR_CLI_BAD_FLAG', 'goes with --psk-file'],
    [['--insecure-plain', '--metrics', '0.0.0.0:0'], 'MC_ERR_CLI_BAD_FLAG', '--metrics-public'],
  ])('%j is %s', async (flags, code, text) => {
    await expectError(
      ['secondary', '--listen', '127.0.0.1:0', '--arbiter-dir', '/tmp', ...flags],
      code,
      text,
    );
  });

  it('a plain status endpoint may leave loopback only with --metrics-public', async () => {
    const secondary = node([
      'secondary',
      '--listen',
      '127.0.0.1:0',
      '--service',
      `127.0.0.1:${await closedPort()}`,
      '--arbiter-dir',
      tempDir(),
      '--memory-mib',
      '4',
      '--insecure-plain',
      '--metrics',
      '0.0.0.0:0',
      '--metrics-public',
    ]);
    const s = await secondary.waitFor((l) => l.type === 'listening', 30_000, 'the secondary listening');
    expect(s).toMatchObject({ security: 'plain', statusScheme: 'http' });
    expect(String(s.metrics)).toMatch(/^0\.0\.0\.0:\d+$/);
    const report = JSON.parse(
      (await runMcft(['status', `127.0.0.1:${s.metricsPort}`, '--json'])).stdout,
    ) as NodeStatusReport;
    expect(report.peer.channelSecurity).toBe('plain');
  });

  it('refuses bad credentials up front, naming the flag and the file', async () => {
    const dir = tempDir();
    const base = ['secondary', '--listen', '127.0.0.1:0', '--arbiter-dir', dir];
    const missing = join(dir, 'missing.pem');
    await expectError(
      [...base, '--ca', missing, '--cert', join(main, 'secondary.pem'), '--key', join(main, 'secondary.key')],
      'MC_ERR_CLI_CREDENTIALS',
      `--ca ${missing}: no such file`,
    );
    await expectError(
      [...base, ...tls(expired, 'primary')],
      'MC_ERR_CLI_CREDENTIALS',
      `--cert ${join(expired, 'primary.pem')}: the certificate expired on`,
    );
    await expectError(
      [
        ...base,
        '--ca',
        join(main, 'ca.pem'),
        '--cert',
        join(main, 'secondary.pem'),
        '--key',
        join(main, 'primary.key'),
      ],
      'MC_ERR_CLI_CREDENTIALS',
      `--key ${join(main, 'primary.key')}: does not belong to the certificate in ${join(main, 'secondary.pem')}`,
    );
    await expectError(
      [
        ...base,
        '--ca',
        join(main, 'ca.pem'),
        '--cert',
        join(other, 'secondary.pem'),
        '--key',
        join(other, 'secondary.key'),
      ],
      'MC_ERR_CLI_CREDENTIALS',
      `--cert ${join(other, 'secondary.pem')}: was not issued by the CA in ${join(main, 'ca.pem')}`,
    );
    await expectError(
      [
        ...base,
        '--ca',
        join(main, 'ca.key'),
        '--cert',
        join(main, 'secondary.pem'),
        '--key',
        join(main, 'secondary.key'),
      ],
      'MC_ERR_CLI_CREDENTIALS',
      `--ca ${join(main, 'ca.key')}: is not a PEM certificate`,
    );
    await expectError(
      [
        ...base,
        '--ca',
        join(main, 'secondary.pem'),
        '--cert',
        join(main, 'secondary.pem'),
        '--key',
        join(main, 'secondary.key'),
      ],
      'MC_ERR_CLI_CREDENTIALS',
      'is not a CA certificate',
    );
    const shortPsk = join(dir, 'short.key');
    writeFileSync(shortPsk, '00112233445566778899\n');
    await expectError(
      [...base, '--psk-file', shortPsk],
      'MC_ERR_CLI_CREDENTIALS',
      `--psk-file ${shortPsk}: holds 10 bytes`,
    );
    // The witness and mcft status check the same way.
    await expectError(
      ['witness', '--listen', '127.0.0.1:0', '--state-file', join(dir, 'w.json'), ...tls(expired, 'primary')],
      'MC_ERR_CLI_CREDENTIALS',
      'expired',
    );
    await expectError(
      ['status', '127.0.0.1:9', ...tls(expired, 'primary')],
      'MC_ERR_CLI_CREDENTIALS',
      'expired',
    );
  });
});

describe('TLS between the nodes, the witness and mcft status', () => {
  it('protects over TLS 1.3 with authenticated heartbeats, serves status over HTTPS to client certificates only, and fails over', async () => {
    const dir = tempDir();
    const witness = node([
      'witness',
      '--listen',
      '127.0.0.1:0',
      '--state-file',
      join(dir, 'witness.json'),
      ...tls(main, 'witness'),
    ]);
    const w = await witness.waitFor((l) => l.type === 'listening', 30_000, 'the witness listening');
    expect(w.security).toBe('tls');
    const arbiter = ['--arbiter', 'witness', '--witness', `127.0.0.1:${w.port}`];
    // The secondary's credentials come from a --config file.
    const config = join(dir, 'secondary.json');
    writeFileSync(
      config,
      JSON.stringify({
        ca: join(main, 'ca.pem'),
        cert: join(main, 'secondary.pem'),
        key: join(main, 'secondary.key'),
        memoryMib: 4,
      }),
    );
    const servicePort = await closedPort();
    const secondary = node([
      'secondary',
      '--config',
      config,
      '--listen',
      '127.0.0.1:0',
      '--service',
      `127.0.0.1:${servicePort}`,
      ...arbiter,
      ...DETECT,
    ]);
    const s = await secondary.waitFor((l) => l.type === 'listening', 30_000, 'the secondary listening');
    expect(s).toMatchObject({ security: 'tls', statusScheme: 'https' });
    // No --metrics: loopback.
    expect(String(s.metrics)).toMatch(/^127\.0\.0\.1:\d+$/);
    const primary = node([
      'primary',
      '--secondary',
      String(s.data),
      '--service',
      '127.0.0.1:0',
      '--memory-mib',
      '4',
      '--slots',
      '1024',
      '--epoch-ms',
      '10',
      ...arbiter,
      ...DETECT,
      ...tls(main, 'primary'),
    ]);
    const p = await primary.waitFor((l) => l.type === 'listening', 30_000, 'the primary listening');
    await primary.waitFor((l) => l.type === 'protected', 30_000, 'protection');
    const [host, port] = String(p.service).split(':');
    const client = await connectResp(host!, Number(port), 10_000);
    defer(() => client.close());
    expect(await client.pipeline([['SET', 'secret', 'kept']], 10_000)).toEqual(['OK']);

    // mcft status over HTTPS with a client certificate from the same CA (the admin's).
    const admin = tls(main, 'admin');
    const table = await runMcft(['status', String(p.metrics), ...admin]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(
      /channel security\s+TLS 1\.3, mutual certificates; heartbeats hmac-sha256-128, 0 rejected/,
    );
    const report = JSON.parse(
      (await runMcft(['status', String(s.metrics), '--json', ...admin])).stdout,
    ) as NodeStatusReport;
    expect(report.peer).toMatchObject({
      channelSecurity: 'tls',
      heartbeatAuthentication: 'hmac-sha256-128',
      rejectedHeartbeats: { forged: 0, replayed: 0, stale: 0, unauthenticated: 0 },
    });
    expect(report.peer.detector).toBe('alive');

    // Prometheus over HTTPS: the channel-security info metric and the rejected-heartbeats counter.
    const scrape = await httpsGet(String(s.metrics), '/metrics', {
      ca: join(main, 'ca.pem'),
      cert: join(main, 'admin.pem'),
      key: join(main, 'admin.key'),
    });
    if ('error' in scrape) throw scrape.error;
    const { samples, types } = parsePrometheusText(scrape.body);
    expect(samples.find((x) => x.name === 'mcft_channel_security_info')?.labels).toEqual({
      role: 'secondary',
      channel: 'tls',
      heartbeat_authentication: 'hmac-sha256-128',
    });
    expect(types.get('mcft_heartbeats_rejected_total')).toBe('counter');
    expect(
      samples
        .filter((x) => x.name === 'mcft_heartbeats_rejected_total')
        .map((x) => x.labels.reason)
        .sort(),
    ).toEqual(['forged', 'replayed', 'stale', 'unauthenticated']);

    // Without a client certificate, or with one from another CA: refused.
    const anonymous = await httpsGet(String(s.metrics), '/status', { ca: join(main, 'ca.pem') });
    expect('error' in anonymous).toBe(true);
    await expectError(['status', String(s.metrics)], 'MC_ERR_CLI_PEER_UNREACHABLE', 'HTTPS');
    await expectError(['status', String(s.metrics), ...tls(other, 'primary')], 'MC_ERR_CLI_PEER_REFUSED');

    // A witness refuses a node whose certificate is from another CA.
    await expectError(
      [
        'secondary',
        '--listen',
        '127.0.0.1:0',
        '--service',
        '127.0.0.1:0',
        ...arbiter,
        ...tls(other, 'secondary'),
      ],
      'MC_ERR_CLI_PEER_REFUSED',
      'the witness',
    );

    // And the secured pair still fails over.
    primary.child.kill('SIGKILL');
    const serving = await secondary.waitFor((l) => l.type === 'serving', 30_000, 'the takeover');
    expect(serving.generation).toBe(2);
    const survivor = await connectResp('127.0.0.1', servicePort, 10_000);
    defer(() => survivor.close());
    expect(await survivor.pipeline([['GET', 'secret']], 10_000)).toEqual(['kept']);
  });

  it('a node with a certificate from another CA is refused by the secondary, which logs why and commits nothing', async () => {
    const dir = tempDir();
    const secondary = node([
      'secondary',
      '--listen',
      '127.0.0.1:0',
      '--service',
      `127.0.0.1:${await closedPort()}`,
      '--arbiter-dir',
      dir,
      '--memory-mib',
      '4',
      ...tls(main, 'secondary'),
    ]);
    const s = await secondary.waitFor((l) => l.type === 'listening', 30_000, 'the secondary listening');
    const [host, port] = String(s.data).split(':');

    // A client that trusts the secondary's CA but presents a certificate from another CA: in TLS
    // 1.3 its handshake completes first, then the secondary refuses it and says why.
    const intruder = await connect({
      host: host!,
      port: Number(port),
      security: {
        mode: 'tls',
        ca: readFileSync(join(main, 'ca.pem'), 'utf8'),
        cert: readFileSync(join(other, 'primary.pem'), 'utf8'),
        key: readFileSync(join(other, 'primary.key'), 'utf8'),
      },
    }).catch((error: Error) => error);
    if (!(intruder instanceof Error)) {
      intruder.send(1, new Uint8Array(64));
      for (let i = 0; i < 100 && !intruder.closed; i++) await sleep(50);
      expect(intruder.closed).toBe(true);
      await intruder.close().catch(() => undefined);
    }
    const refusal = await secondary.waitFor(
      (l) => l.type === 'error' && String(l.code).startsWith('MC_ERR_TLS_'),
      30_000,
      'the refusal logged',
    );
    expect(refusal.code).toBe('MC_ERR_TLS_CERT_UNTRUSTED');

    // mcft primary with the other CA's credentials: a clear error, and nothing committed.
    const run = await runMcft([
      'primary',
      '--secondary',
      String(s.data),
      '--service',
      '127.0.0.1:0',
      '--arbiter-dir',
      dir,
      '--memory-mib',
      '4',
      '--attach-timeout-ms',
      '5000',
      ...tls(other, 'primary'),
    ]);
    expect(run.code, run.stderr).toBe(2);
    // The primary refuses the secondary's certificate and says so; on a loaded machine its last
    // attempt may instead run out of attach time, and the message still points at the certificates.
    expect(run.stderr).toMatch(
      /MC_ERR_CLI_PEER_REFUSED[\s\S]*MC_ERR_TLS_CERT_UNTRUSTED[\s\S]*the same --ca|MC_ERR_CLI_PEER_UNREACHABLE[\s\S]*refused each other's certificates/,
    );
    const report = JSON.parse(
      (await runMcft(['status', String(s.metrics), '--json', ...tls(main, 'admin')])).stdout,
    ) as NodeStatusReport;
    expect(report).toMatchObject({ state: 'listening', committedEpoch: 0, epoch: 0 });
    expect(report.peer.connected).toBe(false);
  });
});

describe('PSK between the nodes', () => {
  it('protects with the same key, and a wrong key is refused with nothing committed', async () => {
    const dir = tempDir();
    const secondary = node([
      'secondary',
      '--listen',
      '127.0.0.1:0',
      '--service',
      `127.0.0.1:${await closedPort()}`,
      '--arbiter-dir',
      join(dir, 'a'),
      '--memory-mib',
      '4',
      '--psk-file',
      join(main, 'psk.key'),
      ...DETECT,
    ]);
    const s = await secondary.waitFor((l) => l.type === 'listening', 30_000, 'the secondary listening');
    // PSK has no certificates for HTTPS: the status endpoint is plain HTTP, on loopback.
    expect(s).toMatchObject({ security: 'psk', statusScheme: 'http' });

    const wrong = await runMcft([
      'primary',
      '--secondary',
      String(s.data),
      '--service',
      '127.0.0.1:0',
      '--arbiter-dir',
      join(dir, 'a'),
      '--memory-mib',
      '4',
      '--attach-timeout-ms',
      '5000',
      '--psk-file',
      join(other, 'psk.key'),
    ]);
    expect(wrong.code, wrong.stderr).toBe(2);
    // TLS 1.3 may let the client finish first: then it sees the channel close, not the reason.
    expect(wrong.stderr).toMatch(
      /MC_ERR_CLI_PEER_REFUSED[\s\S]*MC_ERR_AUTH_PSK|MC_ERR_CLI_PEER_UNREACHABLE[\s\S]*pre-shared keys/,
    );
    await secondary.waitFor(
      (l) => l.type === 'error' && l.code === 'MC_ERR_AUTH_PSK',
      30_000,
      'the refusal logged',
    );
    const refused = JSON.parse(
      (await runMcft(['status', String(s.metrics), '--json'])).stdout,
    ) as NodeStatusReport;
    expect(refused).toMatchObject({ state: 'listening', committedEpoch: 0 });
    expect(refused.peer.channelSecurity).toBe('psk');
  });

  it('a pair with the same key protects, with authenticated heartbeats', async () => {
    const dir = tempDir();
    const psk = ['--psk-file', join(main, 'psk.key'), '--psk-identity', 'pair-1'];
    const secondary = node([
      'secondary',
      '--listen',
      '127.0.0.1:0',
      '--service',
      `127.0.0.1:${await closedPort()}`,
      '--arbiter-dir',
      dir,
      '--memory-mib',
      '4',
      ...psk,
      ...DETECT,
    ]);
    const s = await secondary.waitFor((l) => l.type === 'listening', 30_000, 'the secondary listening');
    const primary = node([
      'primary',
      '--secondary',
      String(s.data),
      '--service',
      '127.0.0.1:0',
      '--arbiter-dir',
      dir,
      '--memory-mib',
      '4',
      '--slots',
      '1024',
      ...psk,
      ...DETECT,
    ]);
    const p = await primary.waitFor((l) => l.type === 'listening', 30_000, 'the primary listening');
    await primary.waitFor((l) => l.type === 'protected', 30_000, 'protection');
    const report = JSON.parse(
      (await runMcft(['status', String(p.metrics), '--json'])).stdout,
    ) as NodeStatusReport;
    expect(report.peer).toMatchObject({ channelSecurity: 'psk', heartbeatAuthentication: 'hmac-sha256-128' });
  });
});
