// A receiving peer in its own process for the transport-tcp suite. It listens twice: a raw node:net
// server and a framed transport-tcp server. Both count payload bytes and answer one byte (raw) or one
// empty frame (framed) each time another `batchBytes` have arrived, so the sender can time batches.
// Prints `{"raw":port,"framed":port}` on stdout when ready; exits when stdin closes.
import { createServer as createRawServer } from 'node:net';
import { createServer } from '@microcheckpoint/transport-tcp';

const batchBytes = Number(process.argv[2]);
if (!Number.isInteger(batchBytes) || batchBytes <= 0) throw new Error('usage: tcp-sink <batchBytes>');

const raw = createRawServer({ noDelay: true }, (socket) => {
  let count = 0;
  socket.on('data', (chunk: Buffer) => {
    count += chunk.length;
    while (count >= batchBytes) {
      count -= batchBytes;
      socket.write(new Uint8Array(1));
    }
  });
  socket.on('error', () => socket.destroy());
});
await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));

const framed = createServer({ host: '127.0.0.1', port: 0 });
framed.on('channel', (channel) => {
  let count = 0;
  channel.on('message', (m) => {
    count += m.payload.byteLength;
    while (count >= batchBytes) {
      count -= batchBytes;
      channel.send(0, new Uint8Array(0));
    }
  });
});
const { port: framedPort } = await framed.listen();

process.stdout.write(
  `${JSON.stringify({ raw: (raw.address() as { port: number }).port, framed: framedPort })}\n`,
);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
