/**
 * @packageDocumentation
 * The etcd arbiter for microcheckpoint: a side of a protected workload may act alone (take over, or
 * release output without a secondary) only while it holds a grant, and this package grants them
 * through a real etcd cluster.
 *
 * A grant is an etcd lease (TTL) plus a transaction that creates the generation's owner key on that
 * lease only if no other node holds a live owner key and no newer generation was ever granted. The
 * fencing token is the owner key's revision: etcd revisions grow across the whole cluster, so tokens
 * strictly increase. A lease alone is not enough (Jepsen showed etcd locks cannot promise mutual
 * exclusion by themselves): the holder counts its validity on its own monotonic clock from before the
 * request was sent, minus a drift margin, and every checkpoint, ACK and output carries the token.
 *
 * It satisfies the `Arbiter` contract of `@microcheckpoint/mc-core` structurally.
 *
 * @example
 * ```ts
 * import { createEtcdArbiter } from '@microcheckpoint/arbiter-etcd';
 *
 * const arbiter = createEtcdArbiter({ hosts: 'http://127.0.0.1:2379', prefix: 'kv-service' });
 * const grant = await arbiter.acquire({ generation: 2, node: 'b', ttlMs: 3000 });
 * if (grant) {
 *   // act alone until grant.validUntilMs (performance.now() clock); renew before then
 *   const renewed = await arbiter.renew(grant, 3000);
 * }
 * await arbiter.close();
 * ```
 */
export {
  ACQUIRE_MAX_ATTEMPTS,
  DEFAULT_DRIFT_MARGIN_MS,
  DEFAULT_HOSTS,
  DEFAULT_PREFIX,
  DEFAULT_REQUEST_TIMEOUT_MS,
  GENERATION_DIGITS,
  LEASE_GRANULARITY_MS,
  MAX_NODE_BYTES,
  MAX_TTL_MS,
} from './constants.js';
export type { Arbiter, ArbiterGrant, ArbiterRequest } from './contract.js';
export {
  ArbiterClosedError,
  ArbiterRequestError,
  ArbiterStateError,
  ArbiterUnavailableError,
  EtcdArbiterError,
  type EtcdArbiterErrorCode,
  InvalidArgumentError,
  InvalidOptionError,
} from './errors.js';
export { createEtcdArbiter, type EtcdArbiter, type EtcdArbiterState } from './etcd-arbiter.js';
export type { EtcdArbiterOptions } from './options.js';
