import { PeerLostError } from '../errors.js';
import { decodeMessage, encodeMessage, type McMessage } from '../protocol/messages.js';

/** One received frame. */
export interface ChannelMessage {
  type: number;
  payload: Uint8Array;
}

/**
 * The ordered, framed, checksummed channel the engine speaks the MC protocol over. It is what
 * `@microcheckpoint/transport-tcp`'s `Channel` offers; any transport with these members fits.
 */
export interface MessageChannel {
  readonly closed: boolean;
  readonly remoteAddress: string;
  /** How the channel is protected (transport-tcp's `security`); absent means plain. */
  readonly security?: { readonly mode: 'plain' | 'tls' | 'psk' };
  /** Keying material bound to this TLS or PSK session (RFC 5705 / 8446 exporter). */
  exportKeyingMaterial?(length: number, label: string): Uint8Array;
  /** Sends one frame of `parts` (not copied); false means wait for `'drain'`. */
  send(type: number, payload: readonly Uint8Array[]): boolean;
  close(): Promise<void>;
  destroy(): void;
  on(event: 'message', listener: (message: ChannelMessage) => void): unknown;
  on(event: 'drain', listener: () => void): unknown;
  on(event: 'close', listener: (error: Error | undefined) => void): unknown;
  off(event: 'message', listener: (message: ChannelMessage) => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
  off(event: 'close', listener: (error: Error | undefined) => void): unknown;
}

/** Encodes and sends one message; returns the channel's backpressure verdict. */
export function sendMessage(channel: MessageChannel, message: McMessage): boolean {
  const { type, parts } = encodeMessage(message);
  return channel.send(type, parts);
}

/**
 * Resolves at the channel's next `'drain'`; rejects with PeerLostError if it closes first. Both
 * listeners go once either fires: a sync waits here thousands of times on one channel.
 */
export function waitForDrain(channel: MessageChannel): Promise<void> {
  if (channel.closed) return Promise.reject(new PeerLostError('the data channel is closed'));
  return new Promise((resolve, reject) => {
    const settle = () => {
      channel.off('drain', onDrain);
      channel.off('close', onClose);
    };
    const onDrain = () => {
      settle();
      resolve();
    };
    const onClose = (error: Error | undefined) => {
      settle();
      reject(new PeerLostError('the data channel closed while sending', error));
    };
    channel.on('drain', onDrain);
    channel.on('close', onClose);
  });
}

/** Sends messages in order, waiting for `'drain'` whenever the channel asks to. */
export async function sendAll(channel: MessageChannel, messages: readonly McMessage[]): Promise<void> {
  for (const message of messages) {
    if (channel.closed) throw new PeerLostError('the data channel is closed');
    if (!sendMessage(channel, message)) await waitForDrain(channel);
  }
}

/** Decodes a received frame into a message (throws a typed ProtocolError). */
export function receiveMessage(message: ChannelMessage): McMessage {
  return decodeMessage(message.type, message.payload);
}

/** The host part of `host:port` (IPv6 too). */
export function hostOf(address: string): string {
  const at = address.lastIndexOf(':');
  let host = at === -1 ? address : address.slice(0, at);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  // An IPv4 peer seen through a dual-stack socket: heartbeats go to the IPv4 address.
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host;
}
