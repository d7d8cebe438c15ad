import {
  DEFAULT_DRIFT_MARGIN_MS,
  DEFAULT_HOSTS,
  DEFAULT_PREFIX,
  DEFAULT_REQUEST_TIMEOUT_MS,
  MAX_TTL_MS,
} from './constants.js';
import { InvalidOptionError } from './errors.js';

/** Options of `createEtcdArbiter()`. */
export interface EtcdArbiterOptions {
  /**
   * etcd client URLs (`http://host:port` or `https://host:port`), one or several members of the same
   * cluster. Requests go to any of them; etcd's linearizable reads and transactions make the answer
   * the same whichever member serves it.
   * @default 'http://127.0.0.1:2379'
   */
  hosts?: string | readonly string[];
  /**
   * Key prefix; the arbiter writes `<prefix>/highest` and `<prefix>/owner/<generation>` and nothing
   * else. Every node arbitrating one protected workload must use the same prefix, and each workload
   * its own.
   * @default 'microcheckpoint/arbiter'
   */
  prefix?: string;
  /**
   * Deadline of every etcd request, in milliseconds. A request that does not complete in time rejects
   * with `ArbiterUnavailableError`; no call waits longer than this per etcd round trip (an acquire
   * makes at most three round trips per attempt).
   * @default 2000
   */
  requestTimeoutMs?: number;
  /**
   * Subtracted from every grant's validity, in milliseconds: the holder stops acting this long before
   * etcd could let the lease run out, covering clock-rate differences and the time between checking a
   * grant and acting on it. Must be smaller than every `ttlMs` asked for.
   * @default 100
   */
  driftMarginMs?: number;
}

/** Options with every default applied, validated. */
export interface ResolvedEtcdArbiterOptions {
  hosts: string[];
  prefix: string;
  requestTimeoutMs: number;
  driftMarginMs: number;
}

const HOST_PATTERN = /^https?:\/\/[^\s/]+$/;

/** Applies defaults and validates; throws `InvalidOptionError` naming the first bad option. */
export function resolveOptions(options: EtcdArbiterOptions): ResolvedEtcdArbiterOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('options', 'must be an object');
  }
  const rawHosts = options.hosts ?? DEFAULT_HOSTS;
  const hosts = typeof rawHosts === 'string' ? [rawHosts] : Array.isArray(rawHosts) ? [...rawHosts] : null;
  if (hosts === null || hosts.length === 0) {
    throw new InvalidOptionError('hosts', 'must be a URL string or a non-empty array of them');
  }
  for (const host of hosts) {
    if (typeof host !== 'string' || !HOST_PATTERN.test(host)) {
      throw new InvalidOptionError('hosts', `${JSON.stringify(host)} is not an http(s)://host:port URL`);
    }
  }
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix.endsWith('/')) {
    throw new InvalidOptionError('prefix', 'must be a non-empty string that does not end with "/"');
  }
  const requestTimeoutMs = integer(
    'requestTimeoutMs',
    options.requestTimeoutMs,
    DEFAULT_REQUEST_TIMEOUT_MS,
    1,
  );
  const driftMarginMs = integer('driftMarginMs', options.driftMarginMs, DEFAULT_DRIFT_MARGIN_MS, 0);
  return { hosts, prefix, requestTimeoutMs, driftMarginMs };
}

function integer(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > MAX_TTL_MS) {
    throw new InvalidOptionError(
      name,
      `must be an integer from ${min} to ${MAX_TTL_MS}, got ${String(value)}`,
    );
  }
  return value;
}
