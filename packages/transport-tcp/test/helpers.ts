import { randomFillSync } from 'node:crypto';
import {
  type Channel,
  connect,
  createServer,
  type Message,
  type Server,
  type ServerOptions,
} from '../src/index.js';

/** A listening server on a free loopback port and a client channel connected to it. */
export interface Pair {
  server: Server;
  client: Channel;
  /** The server side of the client's connection. */
  accepted: Channel;
  port: number;
}

export async function openPair(options: ServerOptions = {}): Promise<Pair> {
  const server = createServer(options);
  const acceptedPromise = new Promise<Channel>((resolve) => server.once('channel', resolve));
  const { port } = await server.listen();
  const client = await connect({ ...options, port });
  return { server, client, accepted: await acceptedPromise, port };
}

export async function closePair(pair: Pair): Promise<void> {
  pair.client.destroy();
  await pair.server.close();
}

export function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  // randomFillSync caps one call at 2^31-1 bytes and is slow for huge buffers; fill in slices.
  for (let pos = 0; pos < length; pos += 1 << 20) randomFillSync(bytes.subarray(pos, pos + (1 << 20)));
  return bytes;
}

/** Resolves with the next `count` messages received on `channel`. */
export function collect(channel: Channel, count: number): Promise<Message[]> {
  return new Promise((resolve, reject) => {
    const messages: Message[] = [];
    const onMessage = (m: Message) => {
      messages.push(m);
      if (messages.length === count) {
        channel.off('message', onMessage);
        resolve(messages);
      }
    };
    channel.on('message', onMessage);
    channel.once('close', (err) => reject(err ?? new Error(`closed after ${messages.length} of ${count}`)));
  });
}
