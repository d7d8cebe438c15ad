import { createServer } from 'node:net';
import { PortInUseError } from '../errors.js';
import { formatHostPort, type HostPort } from '../flags.js';

/**
 * Checks now that `address` can be listened on, for a listener that opens only later (the
 * secondary's KV service opens at takeover, which is no time to find out that its port is taken).
 */
export async function probeListen(what: string, address: HostPort): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(new PortInUseError(what, formatHostPort(address), { cause: error })),
    );
    server.listen(address.port, address.host, () => resolve());
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A port that was free on `host` a moment ago (for addresses that must be known before their listener opens). */
export async function freePort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
