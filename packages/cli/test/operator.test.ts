import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectResp } from '../src/demo/resp-client.js';
import type { NodeStatusReport } from '../src/node/status-report.js';
import { cleanupsAfterEach } from './cleanups.js';
import { type McftRun, parsePrometheusText, runMcft, startMcft } from './mcft-process.js';

const { defer, tempDir } = cleanupsAfterEach('mcft-op-');

/** A node on a trusted test machine: plain TCP, named explicitly (security.test.ts covers TLS and PSK). */
function node(args: string[]): McftRun {
  const run = startMcft([...args, '--insecure-plain', '--json']);
  defer(() => run.kill());
  return run;
}

/** A port held by a listener of the test, so that mcft finds it taken. */
async function takenPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

/** A port nobody listens on (bound and released a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function fetchText(url: string): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

/**
 * Repeats `read` until `done` holds for what it returned: on a loaded host a late heartbeat may make
 * the detector suspect for a moment. 30 s is only the hang guard.
 */
async function readUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`${what} not seen within 30 s; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Generous detector settings: a loaded test machine must not make a live node look dead.
const DETECT = ['--detect-multiplier', '15', '--hang-timeout-ms', '3000'];

describe('mcft witness, secondary, primary and status on loopback', () => {
  it('protects the KV service, reports status and Prometheus metrics, and fails over to the secondary', async () => {
    const dir = tempDir();
    const witness = node(['witness', '--listen', '127.0.0.1:0', '--state-file', join(dir, 'witness.json')]);
    const w = await witness.waitFor((l) => l.type === 'listening', 30_000, 'the witness listening');
    const arbiter = ['--arbiter', 'witness', '--witness', `127.0.0.1:${w.port}`];
    const servicePort = await closedPort();
    const secondary = node([
      'secondary',
      '--listen',
      '127.0.0.1:0',
      '--service',
      `127.0.0.1:${servicePort}`,
      '--metrics',
      '127.0.0.1:0',
      '--memory-mib',
      '4',
      ...arbiter,
      ...DETECT,
    ]);
    const s = await secondary.waitFor((l) => l.type === 'listening', 30_000, 'the secondary listening');
    const primary = node([
      'primary',
      '--secondary',
      String(s.data),
      '--service',
      '127.0.0.1:0',
      '--metrics',
      '127.0.0.1:0',
      '--memory-mib',
      '4',
      '--slots',
      '1024',
      '--epoch-ms',
      '10',
      ...arbiter,
      ...DETECT,
    ]);
    const p = await primary.waitFor((l) => l.type === 'listening', 30_000, 'the primary listening');
    await primary.waitFor((l) => l.type === 'protected', 30_000, 'protection');

    const [host, port] = String(p.service).split(':');
    const client = await connectResp(host!, Number(port), 10_000);
    defer(() => client.close());
    const writes = Array.from({ length: 200 }, (_, i) => ['SET', `key${i}`, `value${i}`]);
    expect(await client.pipeline(writes, 10_000)).toEqual(writes.map(() => 'OK'));
    expect(
      await client.pipeline(
        [
          ['INCR', 'n'],
          ['INCR', 'n'],
          ['GET', 'key7'],
        ],
        10_000,
      ),
    ).toEqual([1, 2, 'value7']);

    // mcft status, as a table and as JSON, on both nodes.
    const table = await readUntil(
      () => runMcft(['status', String(p.metrics)]),
      (run) => /detector\s+alive/.test(run.stdout),
      'the detector alive in the status table',
    );
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/role \/ state\s+primary \/ protected/);
    expect(table.stdout).toMatch(/detector\s+alive/);
    expect(table.stdout).toMatch(
      /channel security\s+PLAIN TCP \(trusted lab network only\); heartbeats unauthenticated/,
    );
    const pj = await readUntil(
      async () =>
        JSON.parse((await runMcft(['status', String(p.metrics), '--json'])).stdout) as NodeStatusReport,
      (report) => report.peer.detector === 'alive',
      'the detector alive in the JSON status',
    );
    expect(pj.role).toBe('primary');
    expect(pj.state).toBe('protected');
    expect(pj.committedEpoch).toBeGreaterThan(0);
    expect(pj.peer.detector).toBe('alive');
    expect(pj.peer.connected).toBe(true);
    expect(pj.peer).toMatchObject({ channelSecurity: 'plain', heartbeatAuthentication: 'none' });
    expect(pj.service).toEqual({ host: '127.0.0.1', port: Number(port) });
    const sj = JSON.parse(
      (await runMcft(['status', String(s.metrics), '--json'])).stdout,
    ) as NodeStatusReport;
    expect(sj.role).toBe('secondary');
    expect(sj.state).toBe('protecting');
    expect(sj.memory.storeRamBytes).toBeGreaterThan(0);
    expect(sj.memory.storeRamRatio).toBeGreaterThan(0);

    // Prometheus text that a strict reader accepts, with the node's numbers in it.
    const metrics = await readUntil(
      () => fetchText(`http://${String(p.metrics)}/metrics`),
      (m) => /peer_detector="alive"/.test(m.text),
      'the detector alive in the metrics',
    );
    expect(metrics.status).toBe(200);
    expect(metrics.type).toContain('text/plain; version=0.0.4');
    const { samples, types } = parsePrometheusText(metrics.text);
    const sample = (name: string) => samples.find((x) => x.name === name);
    expect(sample('mcft_node_info')?.labels).toMatchObject({
      role: 'primary',
      state: 'protected',
      peer_detector: 'alive',
    });
    expect(sample('mcft_committed_epoch')?.value).toBeGreaterThan(0);
    expect(sample('mcft_peer_connected')?.value).toBe(1);
    expect(samples.filter((x) => x.name === 'mcft_pause_seconds').map((x) => x.labels.quantile)).toEqual([
      '0.5',
      '0.99',
      '1',
    ]);
    expect(types.get('mcft_epoch')).toBe('gauge');
    expect(sample('mcft_channel_security_info')?.labels).toEqual({
      role: 'primary',
      channel: 'plain',
      heartbeat_authentication: 'none',
    });
    // A primary has no checkpoint store: absent, not a false zero.
    expect(sample('mcft_store_ram_bytes')).toBeUndefined();
    const sm = parsePrometheusText((await fetchText(`http://${String(s.metrics)}/metrics`)).text).samples;
    expect(sm.find((x) => x.name === 'mcft_store_ram_bytes')?.value).toBeGreaterThan(0);
    expect((await fetchText(`http://${String(p.metrics)}/nothing`)).status).toBe(404);

    // The primary dies; the secondary takes over with everything acknowledged.
    primary.child.kill('SIGKILL');
    const serving = await secondary.waitFor((l) => l.type === 'serving', 30_000, 'the takeover');
    expect(serving.generation).toBe(2);
    expect(serving.service).toBe(`127.0.0.1:${servicePort}`);
    const survivor = await connectResp('127.0.0.1', servicePort, 10_000);
    defer(() => survivor.close());
    expect(
      await survivor.pipeline(
        [
          ['GET', 'key199'],
          ['GET', 'n'],
          ['SET', 'after', 'failover'],
        ],
        10_000,
      ),
    ).toEqual(['value199', '2', 'OK']);
    const after = JSON.parse(
      (await runMcft(['status', String(s.metrics), '--json'])).stdout,
    ) as NodeStatusReport;
    expect(after.state).toBe('serving');
    expect(after.generation).toBe(2);
    expect(after.service?.port).toBe(servicePort);
    // The witness saw it all: generation 1 for the primary, 2 for the secondary.
    expect(
      witness.lines.filter((l) => l.type === 'decision' && l.outcome === 'granted').map((l) => l.generation),
    ).toEqual([1, 2]);
  });

  it('runs a secondary from a --config file, flags overriding it', async () => {
    const dir = tempDir();
    const config = join(dir, 'secondary.json');
    writeFileSync(
      config,
      JSON.stringify({ listen: '127.0.0.1:0', arbiterDir: dir, memoryMib: 4, metrics: '127.0.0.1:1' }),
    );
    const secondary = node([
      'secondary',
      '--config',
      config,
      '--metrics',
      '127.0.0.1:0',
      '--service',
      `127.0.0.1:${await closedPort()}`,
    ]);
    const s = await secondary.waitFor((l) => l.type === 'listening', 30_000, 'the secondary listening');
    expect(s.arbiter).toBe(`file ${dir}`);
    const report = JSON.parse(
      (await runMcft(['status', String(s.metrics), '--json'])).stdout,
    ) as NodeStatusReport;
    expect(report.memory.guestBytes).toBe(4 * 1024 * 1024);
    expect(report.state).toBe('listening');
  });
});

describe('mcft errors', () => {
  /** `mcft primary` towards a port nobody listens on, giving up after 300 ms. */
  const primaryWithoutSecondary = (arbiterDir: string, port: number, ...extra: string[]) => [
    'primary',
    '--secondary',
    `127.0.0.1:${port}`,
    '--service',
    '127.0.0.1:0',
    '--arbiter-dir',
    arbiterDir,
    '--memory-mib',
    '4',
    '--attach-timeout-ms',
    '300',
    '--insecure-plain',
    ...extra,
  ];
  const expectError = async (args: string[], code: string, text?: string) => {
    const run = await runMcft(args);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain(code);
    if (text !== undefined) expect(run.stderr).toContain(text);
  };

  it.each([
    [['secondary', '--arbiter-dir', '/tmp'], '--listen'],
    [['secondary', '--listen', 'nowhere', '--arbiter-dir', '/tmp'], 'HOST:PORT'],
    [['secondary', '--listen', '127.0.0.1:70000', '--arbiter-dir', '/tmp'], 'port must be'],
    [['secondary', '--listen', '127.0.0.1:0'], '--arbiter-dir'],
    [['secondary', '--listen', '127.0.0.1:0', '--arbiter', 'witness'], '--witness'],
    [['secondary', '--listen', '127.0.0.1:0', '--arbiter', 'etcd', '--etcd', 'etcd:2379'], 'http(s)'],
    [
      ['secondary', '--listen', '127.0.0.1:0', '--arbiter-dir', '/tmp', '--witness', '127.0.0.1:1'],
      'does not go with',
    ],
    [
      ['secondary', '--listen', '127.0.0.1:0', '--arbiter-dir', '/tmp', '--memory-mib', 'lots'],
      '--memory-mib',
    ],
    [['primary', '--arbiter-dir', '/tmp'], '--secondary'],
    [['primary', '--secondary', '127.0.0.1:0', '--arbiter-dir', '/tmp'], 'port must be'],
    [['primary', '--secondary', '127.0.0.1:7000', '--arbiter-dir', '/tmp', '--epoch-ms', '0'], '--epoch-ms'],
    [
      ['primary', '--secondary', '127.0.0.1:7000', '--arbiter-dir', '/tmp', '--generation', '0'],
      '--generation',
    ],
    [['witness', '--listen', '127.0.0.1:0'], '--state-file'],
    [['witness', '--state-file', '/tmp/x'], '--listen'],
    [['status', 'localhost'], 'HOST:PORT'],
  ])('%j is MC_ERR_CLI_BAD_FLAG naming %s', async (args, text) => {
    await expectError(args, 'MC_ERR_CLI_BAD_FLAG', text);
  });

  it('an unknown option or command exits 2 with usage help', async () => {
    const run = await runMcft(['secondary', '--no-such-flag']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown option '--no-such-flag'");
    expect((await runMcft(['frobnicate'])).code).toBe(2);
  });

  it('a bad --config file is MC_ERR_CLI_CONFIG', async () => {
    const dir = tempDir();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"listen": "127.0.0.1:0", "colour": "blue"}');
    await expectError(['secondary', '--config', bad], 'MC_ERR_CLI_CONFIG', 'unknown key "colour"');
    writeFileSync(bad, '{"listen": ');
    await expectError(['secondary', '--config', bad], 'MC_ERR_CLI_CONFIG', 'is not JSON');
    await expectError(
      ['secondary', '--config', join(dir, 'missing.json')],
      'MC_ERR_CLI_CONFIG',
      'cannot be read',
    );
  });

  it('a taken port is MC_ERR_CLI_PORT_IN_USE, for the data channel, the service and the metrics', async () => {
    const dir = tempDir();
    const taken = await takenPort();
    const base = ['--arbiter-dir', dir, '--memory-mib', '4', '--insecure-plain'];
    await expectError(
      ['secondary', '--listen', `127.0.0.1:${taken}`, '--service', '127.0.0.1:0', ...base],
      'MC_ERR_CLI_PORT_IN_USE',
      `127.0.0.1:${taken}`,
    );
    await expectError(
      ['secondary', '--listen', '127.0.0.1:0', '--service', `127.0.0.1:${taken}`, ...base],
      'MC_ERR_CLI_PORT_IN_USE',
      '--service',
    );
    await expectError(
      [
        'secondary',
        '--listen',
        '127.0.0.1:0',
        '--service',
        '127.0.0.1:0',
        '--metrics',
        `127.0.0.1:${taken}`,
        ...base,
      ],
      'MC_ERR_CLI_PORT_IN_USE',
      '--metrics',
    );
    await expectError(
      ['witness', '--listen', `127.0.0.1:${taken}`, '--state-file', join(dir, 'w.json'), '--insecure-plain'],
      'MC_ERR_CLI_PORT_IN_USE',
    );
  });

  it('an unreachable secondary, witness or status endpoint is MC_ERR_CLI_PEER_UNREACHABLE', async () => {
    const dir = tempDir();
    const nobody = await closedPort();
    await expectError(
      primaryWithoutSecondary(dir, nobody),
      'MC_ERR_CLI_PEER_UNREACHABLE',
      `the secondary at 127.0.0.1:${nobody}`,
    );
    await expectError(
      [
        'secondary',
        '--listen',
        '127.0.0.1:0',
        '--service',
        '127.0.0.1:0',
        '--arbiter',
        'witness',
        '--witness',
        `127.0.0.1:${nobody}`,
        '--insecure-plain',
      ],
      'MC_ERR_CLI_PEER_UNREACHABLE',
      'the witness',
    );
    await expectError(
      ['status', `127.0.0.1:${nobody}`],
      'MC_ERR_CLI_PEER_UNREACHABLE',
      `127.0.0.1:${nobody}`,
    );
  });

  it('a primary restarted over the arbiter state of a failed start is MC_ERR_CLI_GENERATION_TAKEN, until --generation says the next one', async () => {
    const dir = tempDir();
    const nobody = await closedPort();
    const primary = (...extra: string[]) => primaryWithoutSecondary(dir, nobody, ...extra);
    // The first start wins generation 1, then finds no secondary.
    await expectError(primary(), 'MC_ERR_CLI_PEER_UNREACHABLE', `the secondary at 127.0.0.1:${nobody}`);
    // A second process asks for generation 1 again: the arbiter granted it once already.
    await expectError(primary(), 'MC_ERR_CLI_GENERATION_TAKEN', '--generation 2');
    // With the next generation it gets past the arbiter, and again finds no secondary.
    await expectError(primary('--generation', '2'), 'MC_ERR_CLI_PEER_UNREACHABLE', 'the secondary');
  });

  it('a peer with another guest geometry is MC_ERR_CLI_VERSION_MISMATCH', async () => {
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
    ]);
    const s = await secondary.waitFor((l) => l.type === 'listening', 30_000, 'the secondary listening');
    await expectError(
      [
        'primary',
        '--secondary',
        String(s.data),
        '--service',
        '127.0.0.1:0',
        '--arbiter-dir',
        dir,
        '--memory-mib',
        '8',
        '--insecure-plain',
      ],
      'MC_ERR_CLI_VERSION_MISMATCH',
      'pages',
    );
  });

  it('--help on every command exits 0 and shows examples', async () => {
    for (const command of ['', 'demo', 'primary', 'secondary', 'witness', 'status', 'certs', 'bench']) {
      const run = await runMcft([...(command === '' ? [] : [command]), '--help']);
      expect(run.code, command).toBe(0);
      expect(run.stdout, command).toContain('Examples:');
    }
  });
});
