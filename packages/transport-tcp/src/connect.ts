import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Channel } from './channel.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from './constants.js';
import { ConnectError, InvalidOptionError, type TransportError } from './errors.js';
import { type ChannelOptions, integerOption, resolveChannelOptions } from './options.js';
import { clientTlsOptions, handshakeError } from './security.js';

/** Options of `connect()`. */
export interface ConnectOptions extends ChannelOptions {
  /**
   * Host to connect to.
   * @default '127.0.0.1'
   */
  host?: string;
  /** TCP port of the server. Required. */
  port: number;
  /**
   * Time allowed to establish the connection (and finish the TLS handshake), in milliseconds.
   * @default 5000
   */
  connectTimeoutMs?: number;
}

/**
 * Connects to a server and resolves with the channel once the TCP connection is up and, with
 * `security` tls or psk, the TLS handshake has authenticated the server.
 *
 * With TLS 1.3 the client finishes its handshake before the server has checked the client's
 * certificate: a server that refuses this client ends the channel right after it opened (its
 * `'peerRefused'` event says why); `connect()` itself cannot know.
 *
 * @throws InvalidOptionError for bad options (synchronously, as a rejected promise);
 *   ConnectError when the connection is refused, unreachable or times out; TlsError
 *   (`MC_ERR_TLS_*`) when the server's certificate is not from `ca`, expired, or does not match the
 *   expected name or fingerprint; PskAuthError (`MC_ERR_AUTH_PSK`) when the PSK handshake fails.
 */
export async function connect(options: ConnectOptions): Promise<Channel> {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError('options', 'must be an object');
  const channelOptions = resolveChannelOptions(options);
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0)
    throw new InvalidOptionError('host', 'must be a non-empty string');
  if (options.port === undefined) throw new InvalidOptionError('port', 'is required');
  const port = integerOption('port', options.port, 0, 1, 65535);
  const timeoutMs = integerOption(
    'connectTimeoutMs',
    options.connectTimeoutMs,
    DEFAULT_CONNECT_TIMEOUT_MS,
    1,
    2 ** 31 - 1,
  );

  const security = channelOptions.security;
  let tcpConnected = false;
  const socket: Socket =
    security.mode === 'plain'
      ? netConnect({ host, port, noDelay: true })
      : tlsConnect({ host, port, ...clientTlsOptions(security, host) });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new ConnectError(
          `connect to ${host}:${port} timed out after ${timeoutMs} ms${tcpConnected && security.mode !== 'plain' ? ' (in the TLS handshake)' : ''}`,
        ),
      );
    }, timeoutMs);
    socket.once('connect', () => {
      tcpConnected = true;
    });
    socket.once(security.mode === 'plain' ? 'connect' : 'secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve();
    });
    const onError = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      // Errors before the TCP connection exists are connection errors; after it, handshake errors.
      const error: TransportError =
        security.mode === 'plain' || !tcpConnected
          ? new ConnectError(`connect to ${host}:${port} failed: ${err.message}`, { cause: err })
          : handshakeError(security, err);
      reject(error);
    };
    socket.once('error', onError);
    // A peer that hangs up mid-handshake without an alert leaves no 'error', only a close.
    const onEarlyClose = () => onError(new Error('the peer closed the connection during the handshake'));
    socket.once('close', onEarlyClose);
    socket.once(security.mode === 'plain' ? 'connect' : 'secureConnect', () =>
      socket.off('close', onEarlyClose),
    );
  });
  return new Channel(socket, channelOptions);
}
