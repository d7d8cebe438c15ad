import { DEFAULT_RDMA_MIN_PLACED_BYTES, DEFAULT_RDMA_RING_BYTES } from '../constants.js';
import { InvalidOptionError } from '../errors.js';
import { numberOption, stringOption } from './common.js';
import type { RdmaSimTransportOptions } from './rdma-sim-link.js';

/**
 * Which transport carries checkpoints: TCP (transport-tcp frames, the default), or the RDMA-semantics
 * transport, where page messages are one-sided writes into a ring on the secondary and the rest of
 * the protocol runs over a TCP control channel (as RDMA-CM plus a doorbell would).
 */
export type EngineTransportOptions = { kind: 'tcp' } | RdmaSimTransportOptions;

/** Validates the `transport` option of either role. */
export function transportOption(value: unknown): EngineTransportOptions {
  if (value === undefined) return { kind: 'tcp' };
  if (value === null || typeof value !== 'object')
    throw new InvalidOptionError('transport', 'must be an object');
  const o = value as Record<string, unknown>;
  if (o.kind === 'tcp') return { kind: 'tcp' };
  if (o.kind !== 'rdma-sim')
    throw new InvalidOptionError('transport.kind', `must be 'tcp' or 'rdma-sim', got ${String(o.kind)}`);
  const host = stringOption('transport.host', o.host, '127.0.0.1');
  const advertiseHost = stringOption('transport.advertiseHost', o.advertiseHost, host);
  if (advertiseHost === '0.0.0.0' || advertiseHost === '::')
    throw new InvalidOptionError(
      'transport.advertiseHost',
      'must be an address the peer can reach, not a wildcard',
    );
  const performance = o.performance;
  if (performance !== undefined && (performance === null || typeof performance !== 'object'))
    throw new InvalidOptionError('transport.performance', 'must be an object');
  return {
    kind: 'rdma-sim',
    host,
    advertiseHost,
    ringBytes: numberOption('transport.ringBytes', o.ringBytes, DEFAULT_RDMA_RING_BYTES, 4096, 0xffff_ffff),
    minPlacedBytes: numberOption(
      'transport.minPlacedBytes',
      o.minPlacedBytes,
      DEFAULT_RDMA_MIN_PLACED_BYTES,
      1,
      0xffff_ffff,
    ),
    ...(performance ? { performance: performance as RdmaSimTransportOptions['performance'] } : {}),
  } as RdmaSimTransportOptions;
}
