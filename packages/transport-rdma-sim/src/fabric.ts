import { DEFAULT_SHARED_MEMORY_FABRIC, DEFAULT_TCP_HOST } from './constants.js';
import { InvalidOptionError } from './errors.js';
import { integerOption, optionsObject, stringOption } from './validate.js';

/**
 * Same-host fabric: NIC threads move data straight between `SharedArrayBuffer`s. Every device of the
 * process opened on the same fabric name, in any thread, can reach every other. A plain object, so
 * it can be handed to a worker in `workerData`.
 */
export interface SharedMemoryFabric {
  readonly kind: 'shared-memory';
  readonly name: string;
}

/**
 * Cross-host fabric: each device's NIC thread listens on TCP and talks to its peers' NICs with
 * `@microcheckpoint/transport-tcp` frames; the target NIC places writes into registered memory with
 * no help from the application.
 */
export interface TcpFabric {
  readonly kind: 'tcp';
  /** Address the NIC listens on. */
  readonly host: string;
  /** TCP port the NIC listens on; 0 picks a free one. */
  readonly port: number;
  /** Host name peers use to reach this NIC (appears in `device.address`). */
  readonly advertiseHost: string;
}

/** Where a device's NIC is attached. */
export type Fabric = SharedMemoryFabric | TcpFabric;

/** Options of {@link sharedMemoryFabric}. */
export interface SharedMemoryFabricOptions {
  /**
   * Fabric name; devices on different names cannot reach each other (separate test cases, say).
   * @default 'default'
   */
  name?: string;
}

/** Options of {@link tcpFabric}. */
export interface TcpFabricOptions {
  /**
   * Address the NIC listens on.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * TCP port the NIC listens on; 0 picks a free one.
   * @default 0
   */
  port?: number;
  /**
   * Host name peers use to reach this NIC; needed when `host` is a wildcard such as `0.0.0.0`.
   * @default the value of `host`
   */
  advertiseHost?: string;
}

/** Describes a same-host shared-memory fabric. */
export function sharedMemoryFabric(options: SharedMemoryFabricOptions = {}): SharedMemoryFabric {
  const o = optionsObject('options', options);
  const name = stringOption('name', o.name, DEFAULT_SHARED_MEMORY_FABRIC);
  if (/[\s/]/.test(name)) throw new InvalidOptionError('name', 'must not contain whitespace or "/"');
  return Object.freeze({ kind: 'shared-memory', name });
}

/** Describes a TCP fabric endpoint for one device. */
export function tcpFabric(options: TcpFabricOptions = {}): TcpFabric {
  const o = optionsObject('options', options);
  const host = stringOption('host', o.host, DEFAULT_TCP_HOST);
  const advertiseHost = stringOption('advertiseHost', o.advertiseHost, host);
  if (advertiseHost === '0.0.0.0' || advertiseHost === '::') {
    throw new InvalidOptionError('advertiseHost', 'must be an address peers can connect to, not a wildcard');
  }
  return Object.freeze({
    kind: 'tcp',
    host,
    port: integerOption('port', o.port, 0, 0, 65_535),
    advertiseHost,
  });
}

/** Validates a fabric given to `createDevice()` (it may come from another thread as a plain object). */
export function resolveFabric(fabric: Fabric | undefined): Fabric {
  if (fabric === undefined) return sharedMemoryFabric();
  if (fabric === null || typeof fabric !== 'object')
    throw new InvalidOptionError('fabric', 'must be a fabric object');
  if (fabric.kind === 'shared-memory') return sharedMemoryFabric({ name: fabric.name });
  if (fabric.kind === 'tcp') {
    return tcpFabric({ host: fabric.host, port: fabric.port, advertiseHost: fabric.advertiseHost });
  }
  throw new InvalidOptionError(
    'fabric.kind',
    `must be 'shared-memory' or 'tcp', got ${String((fabric as { kind?: unknown }).kind)}`,
  );
}
