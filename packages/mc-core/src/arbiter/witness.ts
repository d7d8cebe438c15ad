import { type Channel, connect, type Message, type SecurityOptions } from '@microcheckpoint/transport-tcp';
import {
  InvalidArgumentError,
  InvalidOptionError,
  WitnessClosedError,
  WitnessError,
  WitnessProtocolError,
  WitnessStateError,
  WitnessUnavailableError,
} from '../errors.js';
import type { Arbiter, ArbiterGrant, ArbiterRequest } from './contract.js';
import {
  DEFAULT_WITNESS_DRIFT_MARGIN_MS,
  DEFAULT_WITNESS_HOST,
  DEFAULT_WITNESS_REQUEST_TIMEOUT_MS,
  MAX_WITNESS_NODE_BYTES,
  MAX_WITNESS_PAYLOAD_BYTES,
  MAX_WITNESS_TTL_MS,
} from './witness-constants.js';
import {
  decodeReply,
  encodeRequest,
  type WitnessReply,
  type WitnessRequest,
  type WitnessStatus,
} from './witness-protocol.js';

/** Options of `createWitnessArbiter()`. */
export interface WitnessArbiterOptions {
  /**
   * Host of the witness.
   * @default '127.0.0.1'
   */
  host?: string;
  /** TCP port of the witness. Required. */
  port: number;
  /**
   * Deadline of each request, connecting included, in milliseconds. Past it the request rejects
   * with `WitnessUnavailableError` and the connection is dropped, so a frozen witness costs one deadline
   * per request, never a hang.
   * @default 1000
   */
  requestTimeoutMs?: number;
  /**
   * Subtracted from every grant's validity, in milliseconds: the holder stops acting this long before
   * the witness could hand the next generation to someone else. Must be smaller than every `ttlMs`.
   * @default 50
   */
  driftMarginMs?: number;
  /**
   * How to reach the witness: the same mode it listens with (`tls` with this node's certificate, or
   * `psk`).
   * @default plain
   */
  security?: SecurityOptions;
}

/** An `Arbiter` that asks a witness process, plus status and shutdown. */
export interface WitnessArbiter extends Arbiter {
  /** The witness's current view (highest generation, last token, live owner). */
  status(): Promise<WitnessStatus>;
  /** Closes the connection; grants are not released (they run out). Later calls reject with `WitnessClosedError`. */
  close(): Promise<void>;
}

interface Pending {
  resolve: (reply: WitnessReply) => void;
  reject: (error: WitnessError) => void;
}

/**
 * Creates the client side of the witness arbiter: both sides of a protected workload ask one witness
 * process (`createWitnessServer`, started by `mcft witness`), a third vote on a third machine.
 *
 * The split-brain guarantee, in plain words: at any moment at most one node holds a grant that its
 * own clock says is valid, and each generation belongs to one node only. The witness counts a grant
 * from the moment it decided, the client from before it sent the request (minus `driftMarginMs`), so
 * the client's view ends first; a holder frozen past its grant wakes to an expired grant, and its
 * token is lower than the new owner's.
 *
 * What it assumes: one witness per protected workload, reachable by both sides (a side that cannot
 * reach it cannot win or renew, so it stops when its grant runs out); clocks that run at about the
 * same rate (over one TTL the client's monotonic clock runs slow by less than `driftMarginMs`); and a
 * `stateFile` for a witness that may restart while the workload runs (without one, a restarted
 * witness forgets tokens and generations).
 *
 * Connecting is lazy and automatic: the first request connects, and a request after a failure
 * reconnects. A request that times out may still reach the witness later; the rules make that safe
 * (a late acquire can only block others for one TTL, never grant twice).
 * @throws InvalidOptionError for a bad option.
 */
export function createWitnessArbiter(options: WitnessArbiterOptions): WitnessArbiter {
  return new WitnessArbiterClient(options);
}

class WitnessArbiterClient implements WitnessArbiter {
  readonly #host: string;
  readonly #port: number;
  readonly #security: SecurityOptions | undefined;
  readonly #requestTimeoutMs: number;
  readonly #driftMarginMs: number;
  #channel: Channel | null = null;
  #connecting: Promise<Channel> | null = null;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;

  constructor(options: WitnessArbiterOptions) {
    if (options === null || typeof options !== 'object')
      throw new InvalidOptionError('options', 'must be an object');
    this.#host = options.host ?? DEFAULT_WITNESS_HOST;
    if (typeof this.#host !== 'string' || this.#host.length === 0) {
      throw new InvalidOptionError('host', 'must be a non-empty string');
    }
    if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
      throw new InvalidOptionError('port', `must be an integer from 1 to 65535, got ${String(options.port)}`);
    }
    this.#port = options.port;
    this.#security = options.security;
    this.#requestTimeoutMs = integerOption(
      'requestTimeoutMs',
      options.requestTimeoutMs,
      DEFAULT_WITNESS_REQUEST_TIMEOUT_MS,
      1,
    );
    this.#driftMarginMs = integerOption(
      'driftMarginMs',
      options.driftMarginMs,
      DEFAULT_WITNESS_DRIFT_MARGIN_MS,
      0,
    );
  }

  async acquire(request: ArbiterRequest): Promise<ArbiterGrant | null> {
    if (request === null || typeof request !== 'object')
      throw new InvalidArgumentError('request must be an object');
    validateGeneration(request.generation);
    validateNode(request.node);
    this.#validateTtl(request.ttlMs);
    const { generation, node, ttlMs } = request;
    // Validity counts from before the request leaves: the witness starts counting later than this.
    const startedMs = performance.now();
    const reply = await this.#request((id) => ({
      kind: 'acquire',
      id,
      generation,
      node,
      ttlMs: Math.ceil(ttlMs),
    }));
    if (reply.kind === 'refused') return null;
    if (reply.kind !== 'granted') throw unexpected(reply);
    return {
      generation,
      node,
      token: reply.token,
      validUntilMs: startedMs + Math.min(ttlMs, reply.ttlMs) - this.#driftMarginMs,
    };
  }

  async renew(grant: ArbiterGrant, ttlMs: number): Promise<ArbiterGrant | null> {
    validateGrant(grant);
    this.#validateTtl(ttlMs);
    const { generation, node, token } = grant;
    const startedMs = performance.now();
    const reply = await this.#request((id) => ({
      kind: 'renew',
      id,
      generation,
      node,
      token,
      ttlMs: Math.ceil(ttlMs),
    }));
    if (reply.kind === 'refused') return null;
    if (reply.kind !== 'granted' || reply.token !== token) throw unexpected(reply);
    return {
      generation,
      node,
      token,
      validUntilMs: startedMs + Math.min(ttlMs, reply.ttlMs) - this.#driftMarginMs,
    };
  }

  async release(grant: ArbiterGrant): Promise<void> {
    validateGrant(grant);
    const { generation, node, token } = grant;
    const reply = await this.#request((id) => ({ kind: 'release', id, generation, node, token }));
    if (reply.kind !== 'released') throw unexpected(reply);
  }

  async status(): Promise<WitnessStatus> {
    const reply = await this.#request((id) => ({ kind: 'status', id }));
    if (reply.kind !== 'status') throw unexpected(reply);
    return reply.status;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(new WitnessClosedError());
    const channel = this.#channel;
    this.#channel = null;
    if (channel) await channel.close();
  }

  #validateTtl(ttlMs: number): void {
    if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0 || ttlMs > MAX_WITNESS_TTL_MS) {
      throw new InvalidArgumentError(
        `ttlMs must be positive and at most ${MAX_WITNESS_TTL_MS}, got ${ttlMs}`,
      );
    }
    if (ttlMs <= this.#driftMarginMs) {
      throw new InvalidArgumentError(
        `ttlMs ${ttlMs} must be larger than driftMarginMs ${this.#driftMarginMs}`,
      );
    }
  }

  /** Sends one request and waits for its reply, all within one deadline. */
  async #request(build: (id: number) => WitnessRequest): Promise<WitnessReply> {
    if (this.#closed) throw new WitnessClosedError();
    const deadline = performance.now() + this.#requestTimeoutMs;
    const channel = await this.#connected(deadline);
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1;
    const frame = encodeRequest(build(id));
    const reply = new Promise<WitnessReply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          this.#pending.delete(id);
          // The connection may be to a frozen witness: drop it so the next request starts afresh.
          this.#drop(channel);
          reject(
            new WitnessUnavailableError(`no answer within requestTimeoutMs ${this.#requestTimeoutMs} ms`),
          );
        },
        Math.max(0, deadline - performance.now()),
      );
    });
    try {
      channel.send(frame.type, frame.payload);
      return await Promise.race([reply, timeout]);
    } catch (err) {
      this.#pending.delete(id);
      if (err instanceof WitnessError) throw err;
      throw new WitnessUnavailableError('sending the request failed', err);
    } finally {
      clearTimeout(timer);
    }
  }

  async #connected(deadline: number): Promise<Channel> {
    if (this.#channel && !this.#channel.closed) return this.#channel;
    if (!this.#connecting) {
      const connectTimeoutMs = Math.max(1, Math.ceil(deadline - performance.now()));
      this.#connecting = connect({
        host: this.#host,
        port: this.#port,
        connectTimeoutMs,
        maxPayloadBytes: MAX_WITNESS_PAYLOAD_BYTES,
        ...(this.#security ? { security: this.#security } : {}),
      }).then(
        (channel) => {
          this.#connecting = null;
          if (this.#closed) {
            channel.destroy();
            throw new WitnessClosedError();
          }
          this.#attach(channel);
          return channel;
        },
        (err: unknown) => {
          this.#connecting = null;
          throw new WitnessUnavailableError(`cannot connect to ${this.#host}:${this.#port}`, err);
        },
      );
    }
    const connecting = this.#connecting;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new WitnessUnavailableError(
              `connecting took longer than requestTimeoutMs ${this.#requestTimeoutMs} ms`,
            ),
          ),
        Math.max(0, deadline - performance.now()),
      );
    });
    try {
      return await Promise.race([connecting, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #attach(channel: Channel): void {
    this.#channel = channel;
    channel.on('message', (message) => this.#onMessage(channel, message));
    channel.on('error', () => {
      // Reported through 'close', which always follows.
    });
    channel.on('close', (error) => {
      if (this.#channel === channel) this.#channel = null;
      this.#failAll(new WitnessUnavailableError('the connection to the witness closed', error));
    });
  }

  #onMessage(channel: Channel, message: Message): void {
    let reply: WitnessReply;
    try {
      reply = decodeReply(message.type, message.payload);
    } catch (err) {
      // A witness that sends garbage cannot be trusted with the requests still waiting on it.
      this.#failAll(err instanceof WitnessProtocolError ? err : new WitnessProtocolError(String(err), err));
      this.#drop(channel);
      return;
    }
    const pending = this.#pending.get(reply.id);
    if (!pending) return; // the answer to a request that already timed out
    this.#pending.delete(reply.id);
    if (reply.kind === 'error') {
      const error =
        reply.fault === 'state'
          ? new WitnessStateError(`the witness could not persist its decision: ${reply.message}`)
          : new WitnessProtocolError(`the witness rejected the request: ${reply.message}`);
      pending.reject(error);
      return;
    }
    pending.resolve(reply);
  }

  #drop(channel: Channel): void {
    if (this.#channel === channel) this.#channel = null;
    channel.destroy();
  }

  #failAll(error: WitnessError): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(error);
  }
}

function unexpected(reply: WitnessReply): WitnessProtocolError {
  return new WitnessProtocolError(`the witness answered ${reply.kind} to a request that does not take it`);
}

function integerOption(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > MAX_WITNESS_TTL_MS) {
    throw new InvalidOptionError(
      name,
      `must be an integer from ${min} to ${MAX_WITNESS_TTL_MS}, got ${String(value)}`,
    );
  }
  return value;
}

function validateGeneration(generation: number): void {
  if (!Number.isSafeInteger(generation) || generation < 1) {
    throw new InvalidArgumentError(`generation must be a positive integer, got ${generation}`);
  }
}

function validateNode(node: string): void {
  if (typeof node !== 'string' || node.length === 0)
    throw new InvalidArgumentError('node must be a non-empty string');
  if (Buffer.byteLength(node) > MAX_WITNESS_NODE_BYTES) {
    throw new InvalidArgumentError(`node must be at most ${MAX_WITNESS_NODE_BYTES} UTF-8 bytes`);
  }
}

function validateGrant(grant: ArbiterGrant): void {
  if (grant === null || typeof grant !== 'object') throw new InvalidArgumentError('grant must be an object');
  validateGeneration(grant.generation);
  validateNode(grant.node);
  if (!Number.isSafeInteger(grant.token) || grant.token < 1) {
    throw new InvalidArgumentError(`grant token must be a positive integer, got ${grant.token}`);
  }
}
