import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect as rawConnect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  type Channel,
  connect,
  createCertificateAuthority,
  createServer,
  issueCertificate,
  type SecurityOptions,
} from '@microcheckpoint/transport-tcp';
import { opsPerSecond } from '../benny-cases.js';
import { type PeerProcess, startPeer } from '../peer-process.js';
import { type BenchCase, benchCase } from '../results.js';
import type { BenchSuite } from '../suite.js';

const MESSAGE_SIZES = [4 * 1024, 64 * 1024, 1024 * 1024];
/** Sizes of the TLS cases: the checkpoint channel's typical frames. */
const TLS_MESSAGE_SIZES = [64 * 1024, 1024 * 1024];
/** This file doubles as the TLS sink process (run with this flag), so the suite needs no other file. */
const TLS_SINK_FLAG = '--transport-tcp-tls-sink';

interface TlsSinkReady {
  plain: number;
  tls: number;
}

/**
 * The TLS sink: a plain framed server and a mutual-TLS framed server in one process, answering an empty
 * frame per `batchBytes` received, like tcp-sink's framed server. Certificates come in MC_BENCH_TLS.
 */
async function runTlsSink(batchBytes: number): Promise<void> {
  const security = JSON.parse(process.env.MC_BENCH_TLS ?? '{}') as SecurityOptions;
  const ports: number[] = [];
  for (const options of [{}, { security }]) {
    const server = createServer({ host: '127.0.0.1', port: 0, ...options });
    server.on('channel', (channel) => {
      let count = 0;
      channel.on('message', (m) => {
        count += m.payload.byteLength;
        while (count >= batchBytes) {
          count -= batchBytes;
          channel.send(0, new Uint8Array(0));
        }
      });
    });
    ports.push((await server.listen()).port);
  }
  const ready: TlsSinkReady = { plain: ports[0]!, tls: ports[1]! };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

if (process.argv[2] === TLS_SINK_FLAG) await runTlsSink(Number(process.argv[3]));

/** Starts this file as the TLS sink, with a server certificate from `ca`. */
async function startTlsSink(
  batchBytes: number,
  security: SecurityOptions,
): Promise<Omit<PeerProcess<TlsSinkReady>, 'child'> & { child: ReturnType<typeof spawn> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx/esm', fileURLToPath(import.meta.url), TLS_SINK_FLAG, String(batchBytes)],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, MC_BENCH_TLS: JSON.stringify(security) } },
  );
  const line = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const newline = buffered.indexOf('\n');
      if (newline >= 0) resolve(buffered.slice(0, newline));
    });
    child.once('exit', (code) => reject(new Error(`TLS sink exited with ${code} before it was ready`)));
  });
  return {
    ready: JSON.parse(line) as TlsSinkReady,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Sends `batchBytes` as raw writes of `size` bytes and waits for the sink's one-byte receipt. */
async function rawBatch(socket: Socket, payload: Uint8Array, batchBytes: number): Promise<void> {
  const receipt = once(socket, 'data');
  for (let sent = 0; sent < batchBytes; sent += payload.length) {
    if (!socket.write(payload)) await once(socket, 'drain');
  }
  await receipt;
}

/** Sends `batchBytes` as frames of `size` bytes and waits for the sink's empty receipt frame. */
async function framedBatch(channel: Channel, payload: Uint8Array, batchBytes: number): Promise<void> {
  const receipt = once(channel, 'message');
  for (let sent = 0; sent < batchBytes; sent += payload.length) {
    if (!channel.send(1, payload)) await once(channel, 'drain');
  }
  await receipt;
}

const suite: BenchSuite = {
  name: 'transport-tcp',
  question:
    'MB/s of framed, checksummed (CRC32C, XXH64) messages between two processes on loopback, against a raw node:net socket sending the same bytes; and of the same framing inside mutual TLS 1.3, against plain framing',
  async run(options) {
    const batchBytes = options.quick ? 16 * 1024 * 1024 : 64 * 1024 * 1024;
    const peer = await startPeer<{ raw: number; framed: number }>('tcp-sink', [String(batchBytes)]);
    const cases: BenchCase[] = [];
    try {
      const socket = rawConnect({ port: peer.ready.raw, host: '127.0.0.1', noDelay: true });
      await once(socket, 'connect');
      const channel = await connect({ port: peer.ready.framed });
      const xxhChannel = await connect({ port: peer.ready.framed, checksum: 'xxh64' });
      for (const size of MESSAGE_SIZES) {
        const payload = new Uint8Array(size).fill(0x5a);
        const label = size >= 1 << 20 ? `${size >> 20} MiB` : `${size >> 10} KiB`;
        const [framedOps, xxhOps, rawOps] = await opsPerSecond(
          `transport-tcp ${label}`,
          [
            { name: `framed crc32c ${label}`, fn: () => framedBatch(channel, payload, batchBytes) },
            { name: `framed xxh64 ${label}`, fn: () => framedBatch(xxhChannel, payload, batchBytes) },
            { name: `raw ${label}`, fn: () => rawBatch(socket, payload, batchBytes) },
          ],
          options,
        );
        const mb = batchBytes / 1e6;
        cases.push(benchCase(`${label} messages crc32c`, 'MB/s', framedOps! * mb, rawOps! * mb));
        cases.push(benchCase(`${label} messages xxh64`, 'MB/s', xxhOps! * mb, rawOps! * mb));
      }
      socket.destroy();
      await channel.close();
      await xxhChannel.close();
    } finally {
      await peer.stop();
    }
    cases.push(...(await tlsCases(batchBytes, options)));
    return cases;
  },
};

/** The cost of security: framed CRC32C messages inside mutual TLS 1.3 against plain framing, same sink process. */
async function tlsCases(batchBytes: number, options: Parameters<BenchSuite['run']>[0]): Promise<BenchCase[]> {
  const ca = createCertificateAuthority();
  const serverCert = issueCertificate(ca, { commonName: 'bench-secondary' });
  const clientCert = issueCertificate(ca, { commonName: 'bench-primary' });
  const sink = await startTlsSink(batchBytes, {
    mode: 'tls',
    ca: ca.certificate,
    cert: serverCert.certificate,
    key: serverCert.key,
  });
  const cases: BenchCase[] = [];
  try {
    const plain = await connect({ port: sink.ready.plain });
    const secure = await connect({
      port: sink.ready.tls,
      security: { mode: 'tls', ca: ca.certificate, cert: clientCert.certificate, key: clientCert.key },
    });
    const cipher = secure.security.cipher;
    for (const size of TLS_MESSAGE_SIZES) {
      const payload = new Uint8Array(size).fill(0x5a);
      const label = size >= 1 << 20 ? `${size >> 20} MiB` : `${size >> 10} KiB`;
      const [tlsOps, plainOps] = await opsPerSecond(
        `transport-tcp TLS ${label}`,
        [
          { name: `tls ${label}`, fn: () => framedBatch(secure, payload, batchBytes) },
          { name: `plain ${label}`, fn: () => framedBatch(plain, payload, batchBytes) },
        ],
        options,
      );
      const mb = batchBytes / 1e6;
      cases.push(
        benchCase(`${label} messages TLS 1.3 (${cipher}) vs plain`, 'MB/s', tlsOps! * mb, plainOps! * mb),
      );
    }
    await plain.close();
    await secure.close();
  } finally {
    await sink.stop();
  }
  return cases;
}

export default suite;
