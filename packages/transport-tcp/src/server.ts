import { EventEmitter } from 'node:events';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Channel } from './channel.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from './constants.js';
import { InvalidOptionError, SocketError, type TransportError } from './errors.js';
import {
  type ChannelOptions,
  integerOption,
  type ResolvedChannelOptions,
  resolveChannelOptions,
} from './options.js';
import { handshakeError, type SecurityMode, serverTlsOptions, verifyClient } from './security.js';

/** Options of `createServer()`. */
export interface ServerOptions extends ChannelOptions {
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
   * Time a client gets to complete the TLS handshake before it is dropped (`MC_ERR_TLS_HANDSHAKE`
   * on `'peerRefused'`), milliseconds. Ignored in plain mode.
   * @default 10000
   */
  handshakeTimeoutMs?: number;
}

/** Events of a Server. */
export interface ServerEvents {
  /** A peer connected. Attach a `'message'` listener or iterate it; reading starts then. */
  channel: [channel: Channel];
  /** One connection failed (bad frame, reset). The server and every other connection keep working. */
  channelError: [error: TransportError, channel: Channel];
  /**
   * A client was refused before any of its frames was read: its TLS handshake failed, its certificate
   * is missing, not from the CA, expired or not the pinned one, or its PSK is wrong. `error.code` says
   * which (`MC_ERR_TLS_*`, `MC_ERR_AUTH_PSK`); the server keeps running either way.
   */
  peerRefused: [error: TransportError, remoteAddress: string];
  /** The listening socket itself failed. */
  error: [error: TransportError];
}

/**
 * Accepts framed channels. A connection that sends bad input is ended with a typed error reported
 * on `'channelError'` (and on the channel's own `'error'`); it never affects the other connections.
 */
export class Server extends EventEmitter<ServerEvents> {
  readonly #server: NetServer;
  readonly #host: string;
  readonly #port: number;
  readonly #channelOptions: ResolvedChannelOptions;
  readonly #channels = new Set<Channel>();
  #refusedPeers = 0;

  /** @internal use createServer() */
  constructor(options: ServerOptions) {
    super();
    this.#channelOptions = resolveChannelOptions(options);
    this.#host = options.host ?? '127.0.0.1';
    if (typeof this.#host !== 'string' || this.#host.length === 0) {
      throw new InvalidOptionError('host', 'must be a non-empty string');
    }
    this.#port = integerOption('port', options.port, 0, 0, 65535);
    const handshakeTimeoutMs = integerOption(
      'handshakeTimeoutMs',
      options.handshakeTimeoutMs,
      DEFAULT_HANDSHAKE_TIMEOUT_MS,
      1,
      2 ** 31 - 1,
    );
    const security = this.#channelOptions.security;
    if (security.mode === 'plain') {
      this.#server = createNetServer({ noDelay: true }, (socket) => this.#accept(socket));
    } else {
      const tlsServer = createTlsServer(
        { noDelay: true, ...serverTlsOptions(security, handshakeTimeoutMs) },
        (socket) => this.#acceptSecure(socket),
      );
      tlsServer.on('tlsClientError', (err, socket) =>
        this.#refuse(handshakeError(security, err, socket), socket),
      );
      this.#server = tlsServer;
    }
    this.#server.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', new SocketError(err));
    });
  }

  /** The security mode every channel of this server runs in. */
  get securityMode(): SecurityMode {
    return this.#channelOptions.security.mode;
  }

  /** Clients refused so far (see `'peerRefused'`). */
  get refusedPeers(): number {
    return this.#refusedPeers;
  }

  /** Channels open right now. */
  get channels(): ReadonlySet<Channel> {
    return this.#channels;
  }

  /** Starts listening; resolves with the bound address (the real port when `port` was 0). */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new SocketError(err));
      this.#server.once('error', onError);
      this.#server.listen(this.#port, this.#host, () => {
        this.#server.off('error', onError);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  /** The bound address, or null before `listen()` resolved. */
  address(): AddressInfo | null {
    return (this.#server.address() as AddressInfo | null) ?? null;
  }

  /** Stops accepting, closes every channel (gracefully, destroying after `closeTimeoutMs`) and resolves when all are gone. */
  async close(): Promise<void> {
    const stopped = new Promise<void>((resolve) => {
      if (!this.#server.listening) resolve();
      else this.#server.close(() => resolve());
    });
    await Promise.all([...this.#channels].map((channel) => channel.close()));
    await stopped;
  }

  #acceptSecure(socket: TLSSocket): void {
    // Checked before a Channel exists, so not one byte of a refused peer is ever decoded.
    const refusal = verifyClient(this.#channelOptions.security, socket);
    if (refusal) this.#refuse(refusal, socket);
    else this.#accept(socket);
  }

  #refuse(error: TransportError, socket: TLSSocket): void {
    this.#refusedPeers++;
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('error', () => undefined);
    socket.destroy();
    if (this.listenerCount('peerRefused') > 0) this.emit('peerRefused', error, remote);
  }

  #accept(socket: Socket): void {
    const channel = new Channel(socket, this.#channelOptions);
    this.#channels.add(channel);
    channel.on('error', (error) => this.emit('channelError', error, channel));
    channel.on('close', () => this.#channels.delete(channel));
    this.emit('channel', channel);
  }
}

/** Creates a server of framed channels; call `listen()` to start it. Throws InvalidOptionError on bad options. */
export function createServer(options: ServerOptions = {}): Server {
  return new Server(options);
}
