import { isIP } from 'node:net';
import { BadFlagError } from './errors.js';

/** A host and port, as given in a `HOST:PORT` flag. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parses `HOST:PORT` (`[v6]:PORT` for IPv6). `allowZero` lets port 0 through (listen on any free
 * port); a peer address needs a real port.
 */
export function parseHostPort(flag: string, value: unknown, allowZero = false): HostPort {
  if (typeof value !== 'string' || value.length === 0) throw new BadFlagError(flag, 'expects HOST:PORT');
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  if (match === null) throw new BadFlagError(flag, `expects HOST:PORT, got ${JSON.stringify(value)}`);
  const host = (match[1] ?? match[2])!;
  if (match[1] !== undefined && isIP(host) !== 6)
    throw new BadFlagError(flag, `${JSON.stringify(host)} is not an IPv6 address`);
  const port = Number(match[3]);
  if (port > 65535 || (port === 0 && !allowZero)) {
    throw new BadFlagError(flag, `port must be from ${allowZero ? 0 : 1} to 65535, got ${match[3]}`);
  }
  return { host, port };
}

/** Formats an address the way `parseHostPort` reads it. */
export function formatHostPort({ host, port }: HostPort): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses a whole number within bounds. */
export function parseInteger(flag: string, value: unknown, min: number, max: number): number {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^-?\d+$/.test(text.trim()))
    throw new BadFlagError(flag, `expects a whole number, got ${JSON.stringify(value)}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new BadFlagError(flag, `must be from ${min} to ${max}, got ${text}`);
  return n;
}

/** Parses a number (fractions allowed) within bounds. */
export function parseNumber(flag: string, value: unknown, min: number, max: number): number {
  const text = typeof value === 'number' ? String(value) : value;
  const n = typeof text === 'string' && text.trim() !== '' ? Number(text) : Number.NaN;
  if (!Number.isFinite(n) || n < min || n > max)
    throw new BadFlagError(flag, `must be a number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

/** Checks that a value is one of a fixed set. */
export function parseChoice<T extends string>(flag: string, value: unknown, choices: readonly T[]): T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new BadFlagError(flag, `must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}
