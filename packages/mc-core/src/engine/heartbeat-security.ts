import type { KeepaliveOptions, PeerAddress } from '@microcheckpoint/keepalive';
import { HandshakeError } from '../protocol/protocol-errors.js';
import { hostOf, type MessageChannel } from './channel.js';
import type { EngineChannelOptions, EngineKeepaliveOptions } from './common.js';

/** TLS exporter label (RFC 8446, section 7.5) of the per-session heartbeat secret. */
const HEARTBEAT_EXPORTER_LABEL = 'EXPORTER-microcheckpoint-heartbeat';
const SESSION_SECRET_BYTES = 32;

/** How the data channel is protected: what the `channel.security` option asks for. */
export type ChannelSecurityMode = 'plain' | 'tls' | 'psk';

export function configuredSecurityMode(channel: EngineChannelOptions): ChannelSecurityMode {
  return channel.security?.mode ?? 'plain';
}

/**
 * Heartbeats are authenticated whenever the data channel is (`tls` or `psk`): anyone who can send UDP
 * to a node could otherwise hide a dead peer or fake its death. The keys are bound to the channel's
 * session through the TLS exporter, so only the node that completed the handshake sends heartbeats
 * that count. An explicit `keepalive.authentication` (a shared secret) is kept as given; both nodes
 * decide the same way because both must name the same channel mode.
 */
export function engineKeepaliveOptions(
  role: 'primary' | 'secondary',
  nodeId: string,
  keepalive: EngineKeepaliveOptions,
  channel: EngineChannelOptions,
): KeepaliveOptions {
  const authenticate = keepalive.authentication !== undefined || configuredSecurityMode(channel) !== 'plain';
  return {
    ...keepalive,
    role,
    goodbyeOnClose: false,
    ...(authenticate ? { authentication: keepalive.authentication ?? { nodeId } } : {}),
  };
}

/**
 * The peer's heartbeat address as learned in HELLO; with authentication also its node id and the
 * session secret exported from the data channel (when it is TLS or PSK).
 * @throws HandshakeError when authentication is on but the channel cannot export a session secret
 * and no shared secret was given, or when both nodes carry the same id
 */
export function heartbeatPeer(
  options: KeepaliveOptions,
  channel: MessageChannel,
  heartbeatPort: number,
  peerNodeId: string,
): PeerAddress {
  const address = { address: hostOf(channel.remoteAddress), port: heartbeatPort };
  const auth = options.authentication;
  if (auth === undefined) return address;
  if (peerNodeId === auth.nodeId)
    throw new HandshakeError(
      `both nodes are called ${peerNodeId}: authenticated heartbeats need distinct node ids`,
    );
  const secured = channel.security !== undefined && channel.security.mode !== 'plain';
  if (!secured || channel.exportKeyingMaterial === undefined) {
    if (auth.secret === undefined)
      throw new HandshakeError(
        'authenticated heartbeats need a TLS or PSK data channel, or keepalive.authentication.secret',
      );
    return { ...address, nodeId: peerNodeId };
  }
  return {
    ...address,
    nodeId: peerNodeId,
    session: channel.exportKeyingMaterial(SESSION_SECRET_BYTES, HEARTBEAT_EXPORTER_LABEL),
  };
}
