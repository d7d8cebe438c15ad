import { isIP } from 'node:net';

/**
 * Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost): reachable from this host only,
 * so an unauthenticated HTTP endpoint there is exposed to local users, not to the network.
 */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^(0*:)*:?0*1$/.test(host) || host.startsWith('::ffff:127.');
  return false;
}
