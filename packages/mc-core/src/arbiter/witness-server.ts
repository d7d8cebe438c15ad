import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import {
  type Channel,
  createServer,
  type Message,
  type SecurityOptions,
  type Server,
  type TransportError,
} from '@microcheckpoint/transport-tcp';
import {
  InvalidOptionError,
  WitnessClosedError,
  WitnessProtocolError,
  WitnessStateError,
} from '../errors.js';
import { DEFAULT_WITNESS_HOST, MAX_WITNESS_PAYLOAD_BYTES } from './witness-constants.js';
import {
  decodeRequest,
  encodeReply,
  type WitnessRefusal,
  type WitnessReply,
  type WitnessRequest,
  type WitnessStatus,
} from './witness-protocol.js';
import { loadWitnessState, saveWitnessState, type WitnessDurableState } from './witness-state.js';

/** Options of `createWitnessServer()`. */
export interface WitnessServerOptions {
  /**
   * Address to listen on.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * TCP port; 0 picks a free one (read it from `listen()`'s result).
   * @default 0
   */
  port?: number;
  /**
   * File that keeps the last token, the highest generation and the current owner across restarts,
   * replaced atomically before every grant is answered. Without it a restarted witness forgets
   * everything: tokens start again at 1 and old generations can be granted again, so give one to
   * every witness that may restart while a protected workload runs. One witness per file.
   * @default undefined (state in memory only)
   */
  stateFile?: string;
  /**
   * Who may vote-request: `{ mode: 'tls', ca, cert, key }` admits only nodes whose client
   * certificate chains to `ca`; `{ mode: 'psk', identity, key }` only holders of the key. Refused
   * peers are reported on `'peerError'` and never reach a decision.
   * @default plain (anyone who reaches the port may ask: a trusted lab network only)
   */
  security?: SecurityOptions;
}

/** One decision, for logs and status displays. */
export interface WitnessDecision {
  request: 'acquire' | 'renew' | 'release';
  generation: number;
  node: string;
  outcome: 'granted' | 'renewed' | 'refused' | 'released' | 'failed';
  /** The token of the grant (granted, renewed, released). */
  token?: number;
  /** Why it was refused. */
  reason?: WitnessRefusal;
}

/** Events of a WitnessServer. */
export interface WitnessServerEvents {
  /** Every acquire, renew and release, after it was decided (and persisted). */
  decision: [decision: WitnessDecision];
  /** A client sent something malformed or its connection failed; the witness carries on. */
  peerError: [error: WitnessProtocolError | TransportError];
  /** A release could not be persisted: it took effect, but a restart would treat the owner as live for one more TTL. */
  persistFailed: [error: WitnessStateError];
}

interface Owner {
  generation: number;
  node: string;
  token: number;
  ttlMs: number;
  /** On this process's monotonic clock. */
  expiresAtMs: number;
}

/**
 * The witness: a tiny server holding one vote per generation for one protected workload. It grants a
 * generation to one node, sticks to that owner until its grant runs out (or is released), refuses
 * older generations forever once a newer one was granted, and hands out strictly increasing fencing
 * tokens. It counts grants on its own monotonic clock from the moment it decided, which is later than
 * the client started counting, so the client's view always ends first.
 *
 * After a restart with a state file it remembers the last token, the highest generation and the last
 * owner, whom it treats as live for one full TTL from the restart, because it cannot know how much of
 * that grant was left.
 */
export class WitnessServer extends EventEmitter<WitnessServerEvents> {
  readonly #server: Server;
  readonly #stateFile: string | undefined;
  #lastToken = 0;
  #highest: { generation: number; node: string } | null = null;
  #owner: Owner | null = null;
  /** Requests are decided one at a time, in arrival order, each after the previous one was persisted. */
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  /** @internal use createWitnessServer() */
  constructor(options: WitnessServerOptions) {
    super();
    if (options === null || typeof options !== 'object')
      throw new InvalidOptionError('options', 'must be an object');
    const host = options.host ?? DEFAULT_WITNESS_HOST;
    if (typeof host !== 'string' || host.length === 0)
      throw new InvalidOptionError('host', 'must be a non-empty string');
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new InvalidOptionError('port', `must be an integer from 0 to 65535, got ${String(port)}`);
    }
    if (
      options.stateFile !== undefined &&
      (typeof options.stateFile !== 'string' || options.stateFile === '')
    ) {
      throw new InvalidOptionError('stateFile', 'must be a non-empty path');
    }
    this.#stateFile = options.stateFile;
    if (this.#stateFile !== undefined) this.#restore(loadWitnessState(this.#stateFile));
    this.#server = createServer({
      host,
      port,
      maxPayloadBytes: MAX_WITNESS_PAYLOAD_BYTES,
      ...(options.security ? { security: options.security } : {}),
    });
    this.#server.on('channel', (channel) => this.#accept(channel));
    this.#server.on('peerRefused', (error) => this.#peerError(error));
    this.#server.on('channelError', (error) => this.#peerError(error));
  }

  /** Starts listening; resolves with the bound address (the real port when `port` was 0). */
  async listen(): Promise<AddressInfo> {
    if (this.#closed) throw new WitnessClosedError('the witness server');
    return this.#server.listen();
  }

  /** The bound address, or null before `listen()` resolved. */
  address(): AddressInfo | null {
    return this.#server.address();
  }

  /** The witness's current view. */
  status(nowMs: number = performance.now()): WitnessStatus {
    const owner = this.#owner;
    return {
      highest: this.#highest && { ...this.#highest },
      lastToken: this.#lastToken,
      owner:
        owner && nowMs < owner.expiresAtMs
          ? {
              generation: owner.generation,
              node: owner.node,
              token: owner.token,
              remainingMs: owner.expiresAtMs - nowMs,
            }
          : null,
    };
  }

  /** Stops accepting, closes every connection and waits for the decision in progress to finish. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#server.close();
    await this.#queue;
  }

  #restore(state: WitnessDurableState | null): void {
    if (state === null) return;
    this.#lastToken = state.lastToken;
    this.#highest = state.highest;
    this.#owner = state.owner && { ...state.owner, expiresAtMs: performance.now() + state.owner.ttlMs };
  }

  #accept(channel: Channel): void {
    channel.on('message', (message) => this.#onMessage(channel, message));
  }

  #onMessage(channel: Channel, message: Message): void {
    let request: WitnessRequest;
    try {
      request = decodeRequest(message.type, message.payload);
    } catch (err) {
      const error = err instanceof WitnessProtocolError ? err : new WitnessProtocolError(String(err), err);
      this.#peerError(error);
      const id =
        message.payload.byteLength >= 4
          ? new DataView(message.payload.buffer, message.payload.byteOffset).getUint32(0, true)
          : 0;
      reply(channel, { kind: 'error', id, fault: 'protocol', message: error.message });
      // A client that sends garbage is not trusted with more requests on this connection.
      void channel.close();
      return;
    }
    this.#queue = this.#queue
      .then(async () => {
        if (this.#closed) return;
        reply(channel, await this.#decide(request));
      })
      .catch((err: unknown) => {
        // #decide turns every expected failure into a reply; anything else must not stall the queue.
        reply(channel, { kind: 'error', id: request.id, fault: 'state', message: String(err) });
      });
  }

  async #decide(request: WitnessRequest): Promise<WitnessReply> {
    switch (request.kind) {
      case 'acquire':
        return this.#acquire(request);
      case 'renew':
        return this.#renew(request);
      case 'release':
        return this.#release(request);
      case 'status':
        return { kind: 'status', id: request.id, status: this.status() };
    }
  }

  async #acquire(request: Extract<WitnessRequest, { kind: 'acquire' }>): Promise<WitnessReply> {
    const { id, generation, node, ttlMs } = request;
    const refusal = this.#refusal(generation, node, performance.now());
    if (refusal !== null) {
      this.emit('decision', { request: 'acquire', generation, node, outcome: 'refused', reason: refusal });
      return { kind: 'refused', id, reason: refusal };
    }
    const token = this.#lastToken + 1;
    try {
      await this.#persist({
        lastToken: token,
        highest: { generation, node },
        owner: { generation, node, token, ttlMs },
      });
    } catch (err) {
      return this.#failed('acquire', request, err);
    }
    this.#lastToken = token;
    this.#highest = { generation, node };
    // Counted from after the decision is durable: never earlier than the client started counting.
    this.#owner = { generation, node, token, ttlMs, expiresAtMs: performance.now() + ttlMs };
    this.emit('decision', { request: 'acquire', generation, node, outcome: 'granted', token });
    return { kind: 'granted', id, token, ttlMs };
  }

  /** Why `node` may not have `generation` now, or null when it may. */
  #refusal(generation: number, node: string, nowMs: number): WitnessRefusal | null {
    const highest = this.#highest;
    if (highest && generation < highest.generation) return 'superseded';
    if (highest && generation === highest.generation && highest.node !== node) return 'held';
    const owner = this.#owner;
    // A newer generation waits for the current holder's grant to run out, unless it is its own.
    if (owner && nowMs < owner.expiresAtMs && owner.node !== node) return 'held';
    return null;
  }

  async #renew(request: Extract<WitnessRequest, { kind: 'renew' }>): Promise<WitnessReply> {
    const { id, generation, node, token, ttlMs } = request;
    const owner = this.#owner;
    const current =
      owner !== null &&
      owner.generation === generation &&
      owner.node === node &&
      owner.token === token &&
      performance.now() < owner.expiresAtMs;
    if (!current) {
      this.emit('decision', {
        request: 'renew',
        generation,
        node,
        outcome: 'refused',
        reason: 'lost',
        token,
      });
      return { kind: 'refused', id, reason: 'lost' };
    }
    if (ttlMs !== owner.ttlMs) {
      // A restart counts the persisted TTL again; it must be the one the holder now relies on.
      try {
        await this.#persist({
          lastToken: this.#lastToken,
          highest: this.#highest,
          owner: { generation, node, token, ttlMs },
        });
      } catch (err) {
        return this.#failed('renew', request, err);
      }
      owner.ttlMs = ttlMs;
    }
    owner.expiresAtMs = performance.now() + ttlMs;
    this.emit('decision', { request: 'renew', generation, node, outcome: 'renewed', token });
    return { kind: 'granted', id, token, ttlMs };
  }

  async #release(request: Extract<WitnessRequest, { kind: 'release' }>): Promise<WitnessReply> {
    const { id, generation, node, token } = request;
    const owner = this.#owner;
    if (owner && owner.generation === generation && owner.node === node && owner.token === token) {
      this.#owner = null;
      try {
        await this.#persist({ lastToken: this.#lastToken, highest: this.#highest, owner: null });
      } catch (err) {
        // Released in memory already; persisting only spares a restarted witness one TTL of waiting.
        this.emit('persistFailed', toStateError(err));
      }
      this.emit('decision', { request: 'release', generation, node, outcome: 'released', token });
    }
    return { kind: 'released', id };
  }

  #failed(
    kind: 'acquire' | 'renew',
    request: { id: number; generation: number; node: string },
    err: unknown,
  ): WitnessReply {
    const error = toStateError(err);
    this.emit('decision', {
      request: kind,
      generation: request.generation,
      node: request.node,
      outcome: 'failed',
    });
    return { kind: 'error', id: request.id, fault: 'state', message: error.message };
  }

  async #persist(state: WitnessDurableState): Promise<void> {
    if (this.#stateFile !== undefined) await saveWitnessState(this.#stateFile, state);
  }

  #peerError(error: WitnessProtocolError | TransportError): void {
    if (this.listenerCount('peerError') > 0) this.emit('peerError', error);
  }
}

function toStateError(err: unknown): WitnessStateError {
  return err instanceof WitnessStateError ? err : new WitnessStateError(String(err), err);
}

function reply(channel: Channel, message: WitnessReply): void {
  if (channel.closed) return;
  const frame = encodeReply(message);
  try {
    channel.send(frame.type, frame.payload);
  } catch {
    // The client went away meanwhile; it will see its request time out or its connection close.
  }
}

/**
 * Creates a witness server; call `listen()` to start it.
 * @throws InvalidOptionError for a bad option; WitnessStateError when `stateFile` exists but cannot
 *   be trusted (corrupted, unreadable, another version): the witness refuses to start on it.
 */
export function createWitnessServer(options: WitnessServerOptions = {}): WitnessServer {
  return new WitnessServer(options);
}
