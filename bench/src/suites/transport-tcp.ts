import { once } from 'node:events';
import { connect as rawConnect, type Socket } from 'node:net';
import { type Channel, connect } from '@microcheckpoint/transport-tcp';
import { opsPerSecond } from '../benny-cases.js';
import { startPeer } from '../peer-process.js';
import { type BenchCase, benchCase } from '../results.js';
import type { BenchSuite } from '../suite.js';

const MESSAGE_SIZES = [4 * 1024, 64 * 1024, 1024 * 1024];

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
    'MB/s of framed, checksummed (CRC32C, XXH64) messages between two processes on loopback, against a raw node:net socket sending the same bytes',
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
    return cases;
  },
};

export default suite;
