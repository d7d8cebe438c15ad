import {
  type ClientClosedError,
  castGrpcError,
  Etcd3,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  GRPCGenericError,
  type ICompare,
  type IKeyValue,
  type IOptions,
  type IRequestOp,
  isRecoverableError,
} from 'etcd3';
import {
  ACQUIRE_MAX_ATTEMPTS,
  KEEPALIVE_RETRY_PAUSE_MS,
  LEASE_GRANULARITY_MS,
  MAX_NODE_BYTES,
  MAX_TTL_MS,
} from './constants.js';
import type { Arbiter, ArbiterGrant, ArbiterRequest } from './contract.js';
import {
  ArbiterClosedError,
  ArbiterRequestError,
  ArbiterStateError,
  ArbiterUnavailableError,
  EtcdArbiterError,
  InvalidArgumentError,
} from './errors.js';
import { decodeHighest, encodeHighest, type HighestRecord, KeyLayout } from './keys.js';
import { type EtcdArbiterOptions, type ResolvedEtcdArbiterOptions, resolveOptions } from './options.js';

/** What the arbiter's keys say right now (from one linearizable read). */
export interface EtcdArbiterState {
  /** The highest generation ever granted under this prefix and its node; null before the first grant. */
  highest: { generation: number; node: string } | null;
  /** The live owner (its lease has not run out and it did not release), or null. */
  owner: { generation: number; node: string; token: number } | null;
}

/** An `Arbiter` backed by etcd, plus inspection and shutdown. */
export interface EtcdArbiter extends Arbiter {
  /** One linearizable read of the arbiter's keys, for status displays and tests. */
  state(): Promise<EtcdArbiterState>;
  /**
   * Closes the etcd connection. Grants are not released: they run out with their leases (call
   * `release` first to hand over at once). Every later call rejects with `ArbiterClosedError`.
   */
  close(): Promise<void>;
}

/** An owner key as read, with the numbers parsed. */
interface OwnerRecord {
  key: Buffer;
  generation: number;
  node: string;
  modRevision: number;
  lease: string;
}

interface Snapshot {
  highest: (HighestRecord & { modRevision: number }) | null;
  owners: OwnerRecord[];
}

/** The lease behind a grant this instance made: needed to renew and release it. */
interface HeldLease {
  leaseId: string;
  generation: number;
}

type FaultPolicy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/**
 * Creates an arbiter over etcd. Connecting is lazy: this never fails for an unreachable etcd; the
 * first request does, with `ArbiterUnavailableError`.
 * @throws InvalidOptionError for a bad option.
 */
export function createEtcdArbiter(options: EtcdArbiterOptions = {}): EtcdArbiter {
  return new EtcdArbiterImpl(resolveOptions(options));
}

class EtcdArbiterImpl implements EtcdArbiter {
  readonly #options: ResolvedEtcdArbiterOptions;
  readonly #client: Etcd3;
  readonly #keys: KeyLayout;
  /** Leases of the grants this instance made, by token. */
  readonly #held = new Map<number, HeldLease>();
  #closed = false;

  constructor(options: ResolvedEtcdArbiterOptions) {
    this.#options = options;
    this.#keys = new KeyLayout(options.prefix);
    this.#client = new Etcd3({
      hosts: options.hosts,
      // etcd3's defaults retry three times and open a five-second circuit breaker after three
      // failures: an arbiter must answer within its deadline and notice etcd coming back at once,
      // so each request tries each host at most once, all within one deadline.
      faultHandling: { host: () => passThrough(1), global: passThrough(options.hosts.length) },
    });
  }

  async acquire(request: ArbiterRequest): Promise<ArbiterGrant | null> {
    this.#checkOpen();
    validateRequest(request, this.#options.driftMarginMs);
    const { generation, node, ttlMs } = request;
    for (let attempt = 0; attempt < ACQUIRE_MAX_ATTEMPTS; attempt++) {
      const snapshot = await this.#snapshot('acquire');
      const plan = planAcquire(snapshot, request, this.#keys);
      if (plan === null) return null;

      // Validity is counted from before the lease exists: etcd starts its TTL later than this.
      const startedMs = performance.now();
      const lease = await this.#rpc('acquire (lease grant)', (callOptions) =>
        this.#client.leaseClient.leaseGrant({ TTL: Math.ceil(ttlMs / LEASE_GRANULARITY_MS) }, callOptions),
      );
      if (lease.error) throw new ArbiterRequestError('acquire (lease grant)', new Error(lease.error));
      let committed: { succeeded: boolean; revision: number };
      try {
        committed = await this.#rpc('acquire (transaction)', async (callOptions) => {
          const response = await this.#client.kv.txn(
            {
              compare: plan.compare,
              success: [
                ...plan.success,
                {
                  request_put: {
                    key: this.#keys.owner(generation),
                    value: Buffer.from(node),
                    lease: lease.ID,
                  },
                },
              ],
            },
            callOptions,
          );
          return { succeeded: response.succeeded, revision: Number(response.header.revision) };
        });
      } catch (err) {
        // The transaction may or may not have been applied; without the lease the key goes away at
        // once instead of blocking the next generation for a whole TTL.
        await this.#revokeQuietly(lease.ID);
        throw err;
      }
      if (!committed.succeeded) {
        // Someone else changed the state between the read and the transaction: decide again.
        await this.#revokeQuietly(lease.ID);
        continue;
      }
      if (!Number.isSafeInteger(committed.revision) || committed.revision < 1) {
        throw new ArbiterStateError(
          this.#keys.owner(generation).toString(),
          `bad revision ${committed.revision}`,
        );
      }
      for (const replaced of plan.replacedLeases) {
        if (replaced !== lease.ID) await this.#revokeQuietly(replaced);
      }
      for (const [token, held] of this.#held) {
        // Superseded leases are gone; entries of older generations are only a cache (renew and
        // release find a lease through the owner key without one), so the map stays small.
        if (plan.replacedLeases.includes(held.leaseId) || held.generation < generation)
          this.#held.delete(token);
      }
      this.#held.set(committed.revision, { leaseId: lease.ID, generation });
      const grantedMs = Math.min(ttlMs, Number(lease.TTL) * LEASE_GRANULARITY_MS);
      return {
        generation,
        node,
        token: committed.revision,
        validUntilMs: startedMs + grantedMs - this.#options.driftMarginMs,
      };
    }
    // Every attempt lost a race against other acquires: the others are the ones winning.
    return null;
  }

  async renew(grant: ArbiterGrant, ttlMs: number): Promise<ArbiterGrant | null> {
    this.#checkOpen();
    validateGrant(grant);
    validateTtl(ttlMs, this.#options.driftMarginMs);
    const held = this.#held.get(grant.token) ?? (await this.#discover(grant, 'renew'));
    if (held === null) return null;

    const startedMs = performance.now();
    const leaseTtlSeconds = await this.#keepAliveOnce(held.leaseId);
    if (leaseTtlSeconds <= 0) {
      this.#held.delete(grant.token);
      return null;
    }
    // The lease lives; the grant lives only if the owner key is still the one this grant created.
    const owner = await this.#rpc('renew (owner read)', (callOptions) =>
      this.#client.kv.range({ key: this.#keys.owner(grant.generation) }, callOptions),
    );
    const kv = owner.kvs[0];
    if (!kv || !isOwnerOf(kv, grant) || kv.lease !== held.leaseId) {
      this.#held.delete(grant.token);
      await this.#revokeQuietly(held.leaseId);
      return null;
    }
    const grantedMs = Math.min(ttlMs, leaseTtlSeconds * LEASE_GRANULARITY_MS);
    return {
      generation: grant.generation,
      node: grant.node,
      token: grant.token,
      validUntilMs: startedMs + grantedMs - this.#options.driftMarginMs,
    };
  }

  async release(grant: ArbiterGrant): Promise<void> {
    this.#checkOpen();
    validateGrant(grant);
    const held = this.#held.get(grant.token) ?? (await this.#discover(grant, 'release'));
    if (held === null) return;
    try {
      await this.#rpc('release', (callOptions) =>
        this.#client.leaseClient.leaseRevoke({ ID: held.leaseId }, callOptions),
      );
    } catch (err) {
      // Already gone (expired or revoked): released is released.
      if (!(err instanceof ArbiterRequestError && err.cause instanceof EtcdLeaseInvalidError)) throw err;
    }
    this.#held.delete(grant.token);
  }

  async state(): Promise<EtcdArbiterState> {
    this.#checkOpen();
    const snapshot = await this.#snapshot('state');
    const highest = snapshot.highest && {
      generation: snapshot.highest.generation,
      node: snapshot.highest.node,
    };
    const live = snapshot.owners.at(-1);
    return {
      highest,
      owner: live ? { generation: live.generation, node: live.node, token: live.modRevision } : null,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#held.clear();
    this.#client.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new ArbiterClosedError();
  }

  /** The highest record and every owner key, in one linearizable read. */
  async #snapshot(operation: string): Promise<Snapshot> {
    const response = await this.#rpc(`${operation} (read)`, (callOptions) =>
      this.#client.kv.txn(
        {
          compare: [],
          success: [
            { request_range: { key: this.#keys.highest } },
            { request_range: { key: this.#keys.ownersStart, range_end: this.#keys.ownersEnd } },
          ],
        },
        callOptions,
      ),
    );
    const highestKv = response.responses[0]?.response_range?.kvs[0];
    const ownerKvs = response.responses[1]?.response_range?.kvs ?? [];
    const highestKey = this.#keys.highest.toString();
    const highest = highestKv
      ? { ...decodeHighest(highestKey, highestKv.value), modRevision: Number(highestKv.mod_revision) }
      : null;
    const owners = ownerKvs.map((kv): OwnerRecord => {
      const generation = this.#keys.ownerGeneration(kv.key);
      const node = kv.value.toString('utf8');
      if (node.length === 0) throw new ArbiterStateError(kv.key.toString(), 'owner key holds no node name');
      return { key: kv.key, generation, node, modRevision: Number(kv.mod_revision), lease: kv.lease };
    });
    return { highest, owners };
  }

  /** Finds the lease of a grant made by another instance (another process of the same node). */
  async #discover(grant: ArbiterGrant, operation: string): Promise<HeldLease | null> {
    const owner = await this.#rpc(`${operation} (owner read)`, (callOptions) =>
      this.#client.kv.range({ key: this.#keys.owner(grant.generation) }, callOptions),
    );
    const kv = owner.kvs[0];
    if (!kv || !isOwnerOf(kv, grant) || kv.lease === '0') return null;
    return { leaseId: kv.lease, generation: grant.generation };
  }

  /** One keepalive on the lease; resolves with the TTL etcd reset it to, 0 when the lease is gone. */
  async #keepAliveOnce(leaseId: string): Promise<number> {
    return this.#rpc('renew (keepalive)', async (callOptions) => {
      // Keepalive is a stream, which etcd3 neither retries nor steers to another member: each attempt
      // lands on a random member. With several members, retry recoverable failures (a member down)
      // until the deadline; with one, fail at once.
      const retries = this.#options.hosts.length > 1;
      for (;;) {
        try {
          return await this.#keepAliveStream(leaseId, callOptions);
        } catch (err) {
          const error = err instanceof Error ? castGrpcError(err) : err;
          const recoverable = error instanceof Error && isRecoverableError(error);
          if (
            !retries ||
            !recoverable ||
            this.#closed ||
            Date.now() + KEEPALIVE_RETRY_PAUSE_MS >= callOptions.deadline
          ) {
            throw error;
          }
          await new Promise((resolve) => setTimeout(resolve, KEEPALIVE_RETRY_PAUSE_MS));
        }
      }
    });
  }

  async #keepAliveStream(leaseId: string, callOptions: { deadline: number }): Promise<number> {
    const stream = await this.#client.leaseClient.leaseKeepAlive(callOptions);
    try {
      const response = await new Promise<{ TTL: string }>((resolve, reject) => {
        stream.on('data', resolve);
        stream.on('error', reject);
        stream.on('end', () => reject(new GRPCGenericError('keepalive stream ended without an answer')));
        stream.write({ ID: leaseId });
      });
      return Number(response.TTL);
    } finally {
      stream.end();
    }
  }

  async #revokeQuietly(leaseId: string): Promise<void> {
    try {
      await this.#rpc('lease revoke', (callOptions) =>
        this.#client.leaseClient.leaseRevoke({ ID: leaseId }, callOptions),
      );
    } catch {
      // Best effort: an unrevoked lease still runs out after its TTL.
    }
  }

  /**
   * One etcd round trip under the request deadline. gRPC enforces the deadline on the call; the timer
   * here also bounds what happens around it (connection setup, a stream that never answers).
   */
  async #rpc<T>(operation: string, call: (callOptions: { deadline: number }) => Promise<T>): Promise<T> {
    this.#checkOpen();
    const timeoutMs = this.#options.requestTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RequestTimeout(timeoutMs)), timeoutMs);
    });
    try {
      return await Promise.race([call({ deadline: Date.now() + timeoutMs }), timeout]);
    } catch (err) {
      throw classify(operation, err, this.#closed);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The transaction that takes a generation, or null when the request must be refused. */
interface AcquirePlan {
  compare: ICompare[];
  success: IRequestOp[];
  /** Leases of this node's own earlier grants that the transaction supersedes. */
  replacedLeases: string[];
}

/**
 * The arbitration rules, decided on one snapshot and then guarded by compares on everything the
 * decision read, so that the transaction applies only if nothing changed in between:
 * - a generation below the highest granted is refused forever;
 * - the highest generation belongs to the node it was granted to (which may take it again);
 * - a newer generation is granted only while no other node holds a live owner key.
 */
function planAcquire(snapshot: Snapshot, request: ArbiterRequest, keys: KeyLayout): AcquirePlan | null {
  const { generation, node } = request;
  const highest = snapshot.highest;
  if (highest && generation < highest.generation) return null;
  if (highest && generation === highest.generation && highest.node !== node) return null;
  if (snapshot.owners.some((owner) => owner.node !== node)) return null;

  const compare: ICompare[] = [
    highest
      ? { key: keys.highest, target: 'Mod', result: 'Equal', mod_revision: highest.modRevision }
      : { key: keys.highest, target: 'Create', result: 'Equal', create_revision: 0 },
  ];
  const success: IRequestOp[] = [];
  if (!highest || generation > highest.generation) {
    success.push({ request_put: { key: keys.highest, value: encodeHighest({ generation, node }) } });
  }
  let ownKeyExists = false;
  for (const owner of snapshot.owners) {
    compare.push({ key: owner.key, target: 'Mod', result: 'Equal', mod_revision: owner.modRevision });
    if (owner.generation === generation) ownKeyExists = true;
    // This node's grant of an older generation ends with this one (the put replaces a same-generation key).
    else success.push({ request_delete_range: { key: owner.key } });
  }
  if (!ownKeyExists) {
    compare.push({ key: keys.owner(generation), target: 'Create', result: 'Equal', create_revision: 0 });
  }
  const replacedLeases = snapshot.owners.map((owner) => owner.lease).filter((lease) => lease !== '0');
  return { compare, success, replacedLeases };
}

function isOwnerOf(kv: IKeyValue, grant: ArbiterGrant): boolean {
  return Number(kv.mod_revision) === grant.token && kv.value.toString('utf8') === grant.node;
}

class RequestTimeout extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within requestTimeoutMs ${timeoutMs} ms`);
  }
}

function classify(operation: string, err: unknown, closed: boolean): EtcdArbiterError {
  if (err instanceof EtcdArbiterError) return err;
  if (closed) return new ArbiterClosedError();
  if (err instanceof EtcdLeaseInvalidError || err instanceof EtcdPermissionDeniedError) {
    return new ArbiterRequestError(operation, err);
  }
  if (err instanceof RequestTimeout || (err instanceof Error && isRecoverableError(err))) {
    return new ArbiterUnavailableError(operation, err);
  }
  if (isClientClosed(err)) return new ArbiterClosedError();
  // Anything else from the client (a generic gRPC failure, a connection pool with no host) means
  // etcd gave no usable answer: treat it as unavailable, never as a grant.
  if (err instanceof Error && !(err instanceof GRPCGenericError && /etcdserver:/.test(err.message))) {
    return new ArbiterUnavailableError(operation, err);
  }
  return new ArbiterRequestError(operation, err);
}

function isClientClosed(err: unknown): err is ClientClosedError {
  return err instanceof Error && err.name === 'ClientClosedError';
}

/** A fault-handling policy that runs the call and retries recoverable failures on the next host. */
function passThrough(maxAttempts: number): FaultPolicy {
  const noSubscription = () => ({ dispose: () => undefined });
  return {
    _altReturn: undefined as never,
    onSuccess: noSubscription,
    onFailure: noSubscription,
    async execute(fn, signal) {
      const context = { signal: signal ?? new AbortController().signal };
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn(context);
        } catch (err) {
          if (attempt >= maxAttempts || !(err instanceof Error) || !isRecoverableError(err)) throw err;
        }
      }
    },
  };
}

function validateRequest(request: ArbiterRequest, driftMarginMs: number): void {
  if (request === null || typeof request !== 'object')
    throw new InvalidArgumentError('request must be an object');
  validateGeneration(request.generation);
  validateNode(request.node);
  validateTtl(request.ttlMs, driftMarginMs);
}

function validateGrant(grant: ArbiterGrant): void {
  if (grant === null || typeof grant !== 'object') throw new InvalidArgumentError('grant must be an object');
  validateGeneration(grant.generation);
  validateNode(grant.node);
  if (!Number.isSafeInteger(grant.token) || grant.token < 1) {
    throw new InvalidArgumentError(`grant token must be a positive integer, got ${grant.token}`);
  }
}

function validateGeneration(generation: number): void {
  if (!Number.isSafeInteger(generation) || generation < 1) {
    throw new InvalidArgumentError(`generation must be a positive integer, got ${generation}`);
  }
}

function validateNode(node: string): void {
  if (typeof node !== 'string' || node.length === 0)
    throw new InvalidArgumentError('node must be a non-empty string');
  if (Buffer.byteLength(node) > MAX_NODE_BYTES) {
    throw new InvalidArgumentError(`node must be at most ${MAX_NODE_BYTES} UTF-8 bytes`);
  }
}

function validateTtl(ttlMs: number, driftMarginMs: number): void {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0 || ttlMs > MAX_TTL_MS) {
    throw new InvalidArgumentError(`ttlMs must be positive and at most ${MAX_TTL_MS}, got ${ttlMs}`);
  }
  if (ttlMs <= driftMarginMs) {
    throw new InvalidArgumentError(`ttlMs ${ttlMs} must be larger than driftMarginMs ${driftMarginMs}`);
  }
}
