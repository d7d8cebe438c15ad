import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { InProcessGuest } from '@microcheckpoint/mc-core';
import { SOCKET_HIGH_WATER_MARK_BYTES } from './constants.js';
import { InvalidOptionError } from './errors.js';
import { type RespLimits, RespParser } from './resp.js';

/**
 * What the front end submits to the guest: a command from connection `connection`, or the protocol
 * error that ends that connection (answered in order, after the replies to earlier commands).
 */
export type KvRequest =
  | { readonly connection: number; readonly args: Uint8Array[] }
  | { readonly connection: number; readonly protocolError: string };

/** Options of `createKvServer()`. */
export interface KvServerOptions extends RespLimits {
  /** The guest that runs the commands. Required. */
  guest: InProcessGuest<KvRequest>;
  /**
   * Address to listen on.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * TCP port; 0 picks a free one.
   * @default 0
   */
  port?: number;
}

/**
 * The network front end of the KV service: sockets, RESP parsing, and delivering replies. None of
 * its state is workload state (a failover drops connections anyway); the table is in the guest.
 */
export interface KvServer {
  /** Starts listening; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number }>;
  /**
   * Writes a reply to a client: the guest's output ends here, directly or through the engine's cork
   * queue. Replies for connections that are gone are dropped.
   */
  deliver(connection: number, data: Uint8Array): void;
  /** Open client connections. */
  readonly connectionCount: number;
  /** Stops listening and closes every client connection. */
  close(): Promise<void>;
}

interface Connection {
  readonly socket: Socket;
  readonly parser: RespParser;
  submitted: number;
  delivered: number;
  /** A protocol error was submitted: close once its reply is out. */
  ending: boolean;
  /** Reading paused because this socket's output backs up. */
  blocked: boolean;
}

class KvFrontEnd implements KvServer {
  readonly #guest: InProcessGuest<KvRequest>;
  readonly #host: string;
  readonly #port: number;
  readonly #limits: RespLimits;
  readonly #server: Server;
  readonly #connections = new Map<number, Connection>();
  #nextId = 1;
  /** Reading paused on every socket because the guest's queue is full. */
  #congested = false;

  constructor(options: KvServerOptions) {
    if (options === null || typeof options !== 'object')
      throw new InvalidOptionError('options', 'must be an object');
    if (
      options.guest === null ||
      typeof options.guest !== 'object' ||
      typeof options.guest.submit !== 'function'
    ) {
      throw new InvalidOptionError('guest', 'must be an in-process guest from createInProcessGuest()');
    }
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new InvalidOptionError('port', `must be an integer from 0 to 65535, got ${String(port)}`);
    }
    for (const name of ['maxBulkBytes', 'maxArgs', 'maxInlineBytes'] as const) {
      const value = options[name];
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
        throw new InvalidOptionError(name, `must be a positive integer, got ${String(value)}`);
      }
    }
    this.#guest = options.guest;
    this.#host = options.host ?? '127.0.0.1';
    this.#port = port;
    this.#limits = {
      maxBulkBytes: options.maxBulkBytes,
      maxArgs: options.maxArgs,
      maxInlineBytes: options.maxInlineBytes,
    };
    this.#server = createServer({ noDelay: true }, (socket) => this.#accept(socket));
    this.#guest.on('drain', () => {
      this.#congested = false;
      for (const c of this.#connections.values()) if (!c.blocked) c.socket.resume();
    });
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  async listen(): Promise<{ host: string; port: number }> {
    this.#server.listen(this.#port, this.#host);
    await once(this.#server, 'listening');
    const address = this.#server.address() as AddressInfo;
    return { host: address.address, port: address.port };
  }

  deliver(connection: number, data: Uint8Array): void {
    const c = this.#connections.get(connection);
    if (c === undefined || c.socket.destroyed) return;
    c.delivered++;
    // Many replies in one turn (pipelined clients) leave in one write.
    if (!c.socket.writableCorked) {
      c.socket.cork();
      process.nextTick(() => c.socket.uncork());
    }
    if (!c.socket.write(data) && c.socket.writableLength > SOCKET_HIGH_WATER_MARK_BYTES && !c.blocked) {
      c.blocked = true;
      c.socket.pause();
    }
    if (c.ending && c.delivered === c.submitted) c.socket.end();
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const c of this.#connections.values()) c.socket.destroy();
    this.#connections.clear();
    await closed;
  }

  #accept(socket: Socket): void {
    const id = this.#nextId++;
    const c: Connection = {
      socket,
      parser: new RespParser(this.#limits),
      submitted: 0,
      delivered: 0,
      ending: false,
      blocked: false,
    };
    this.#connections.set(id, c);
    if (this.#congested) socket.pause();
    socket.on('data', (chunk: Buffer) => this.#receive(id, c, chunk));
    socket.on('drain', () => {
      if (!c.blocked) return;
      c.blocked = false;
      if (!this.#congested && !c.ending) socket.resume();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#connections.delete(id));
  }

  #receive(id: number, c: Connection, chunk: Buffer): void {
    if (c.ending) return;
    const { commands, error } = c.parser.push(chunk);
    for (const args of commands) this.#submit(c, { connection: id, args });
    if (error !== undefined) {
      c.ending = true;
      c.socket.pause();
      this.#submit(c, { connection: id, protocolError: error.message });
    }
  }

  #submit(c: Connection, request: KvRequest): void {
    c.submitted++;
    if (!this.#guest.submit(request) && !this.#congested) {
      // The guest is paused or behind: stop reading from everyone until it drains.
      this.#congested = true;
      for (const other of this.#connections.values()) other.socket.pause();
    }
  }
}

/** Creates the network front end of a KV service on a guest. */
export function createKvServer(options: KvServerOptions): KvServer {
  return new KvFrontEnd(options);
}
