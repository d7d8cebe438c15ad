/**
 * @packageDocumentation
 * Framed, checksummed message channels over `node:net`, optionally inside TLS 1.3 with mutual
 * certificate or pre-shared-key authentication: the wire every microcheckpoint part uses.
 *
 * Every frame carries a 16-byte header (magic, version, type, flags, checksum algorithm, payload
 * length, and a CRC32C or XXH64 checksum over the header and payload). Frames arrive whole, in order, verified, or the connection ends with a typed
 * `MC_ERR_FRAME_*` error; a bad peer never disturbs the server or the other connections.
 *
 * @example
 * ```ts
 * import { connect, createServer } from '@microcheckpoint/transport-tcp';
 *
 * const server = createServer();
 * server.on('channel', (channel) => channel.on('message', (m) => channel.send(m.type, m.payload)));
 * const { port } = await server.listen();
 *
 * const channel = await connect({ port });
 * channel.send(7, new TextEncoder().encode('hello'));
 * for await (const reply of channel) { console.log(reply.type, reply.payload); break; }
 * await channel.close();
 * await server.close();
 * ```
 */
export {
  type CertificateAndKey,
  type CertificateAuthorityOptions,
  type CertificateKeyType,
  type CertificateValidityOptions,
  createCertificateAuthority,
  type IssueCertificateOptions,
  issueCertificate,
} from './certificates.js';
export { Channel, type ChannelEvents, type ChannelStats } from './channel.js';
export { type ChecksumAlgorithm, FrameChecksum } from './checksum.js';
export { type ConnectOptions, connect } from './connect.js';
export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_HIGH_WATER_MARK_BYTES,
  DEFAULT_KEEPALIVE_INITIAL_DELAY_MS,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_READ_BUFFER_BYTES,
  FRAME_HEADER_BYTES,
  FRAME_MAGIC,
  FRAME_VERSION,
} from './constants.js';
export {
  ChannelClosedError,
  ConnectError,
  FrameChecksumError,
  FrameHeaderError,
  FrameMagicError,
  FrameTooLargeError,
  FrameTruncatedError,
  FrameVersionError,
  InvalidArgumentError,
  InvalidOptionError,
  PskAuthError,
  SendQueueFullError,
  SocketError,
  TlsError,
  type TlsErrorCode,
  TransportError,
  type TransportErrorCode,
} from './errors.js';
export { FrameDecoder, type Message } from './frame-decoder.js';
export {
  coveredHeaderBytes,
  decodeFrameHeader,
  encodeFrame,
  encodeFrameHeader,
  type FrameHeader,
} from './frame-header.js';
export type { ChannelOptions } from './options.js';
export {
  type ChannelSecurity,
  MIN_PSK_BYTES,
  type Pem,
  type PlainSecurityOptions,
  type PskSecurityOptions,
  type SecurityMode,
  type SecurityOptions,
  type TlsSecurityOptions,
} from './security.js';
export { createServer, Server, type ServerEvents, type ServerOptions } from './server.js';
