import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';

/**
 * The local IP address this host sends from to reach `host`: a UDP socket "connected" to it asks the
 * kernel's routing table without sending anything. The heartbeat socket must bind there, because
 * the peer accepts heartbeats only from the address it sees the data channel come from.
 */
export async function localAddressFor(host: string): Promise<string> {
  const family = isIP(host) === 6 ? 'udp6' : 'udp4';
  const socket = createSocket(family);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(9, host, () => resolve());
    });
    return socket.address().address;
  } finally {
    socket.close();
  }
}
