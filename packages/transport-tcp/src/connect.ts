import { connect as netConnect } from 'node:net';
import { Channel } from './channel.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from './constants.js';
import { ConnectError, InvalidOptionError } from './errors.js';
import { type ChannelOptions, integerOption, resolveChannelOptions } from './options.js';

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
   * Time allowed to establish the connection, in milliseconds.
   * @default 5000
   */
  connectTimeoutMs?: number;
}

/**
 * Connects to a server and resolves with the channel once the TCP connection is up.
 * @throws InvalidOptionError for bad options (synchronously, as a rejected promise);
 *   ConnectError when the connection is refused, unreachable or times out.
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

  const socket = netConnect({ host, port, noDelay: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ConnectError(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve();
    });
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(new ConnectError(`connect to ${host}:${port} failed: ${err.message}`, { cause: err }));
    };
    socket.once('error', onError);
  });
  return new Channel(socket, channelOptions);
}
