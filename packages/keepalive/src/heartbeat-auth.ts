import { createHmac, hkdfSync, type KeyObject } from 'node:crypto';
import { MIN_HEARTBEAT_SECRET_BYTES } from './constants.js';
import { InvalidArgumentError } from './errors.js';

/** Bytes of the truncated HMAC-SHA256 tag on an authenticated heartbeat (128 bits, as RFC 4868 uses). */
export const HEARTBEAT_MAC_BYTES = 16;
/** Bytes of a heartbeat key. */
export const HEARTBEAT_KEY_BYTES = 32;

const KEY_LABEL = new TextEncoder().encode('microcheckpoint heartbeat v2');
const MAX_NODE_ID_BYTES = 255;

/** The two keys of one pair of nodes, as seen from one of them. */
export interface HeartbeatKeys {
  /** Key of heartbeats this node sends to the peer. */
  send: Uint8Array;
  /** Key of heartbeats this node accepts from the peer. */
  receive: Uint8Array;
}

/** What the keys of a pair are derived from. */
export interface HeartbeatKeyMaterial {
  /** Shared secret of the deployment (at least 16 bytes), if any. */
  secret?: Uint8Array;
  /**
   * Secret bound to this session (at least 16 bytes), e.g. keying material exported from the
   * authenticated data channel. Heartbeats recorded in another session then never verify.
   */
  session?: Uint8Array;
  /** This node's id. */
  localId: string;
  /** The peer's id. */
  peerId: string;
}

function idBytes(name: string, id: string): Uint8Array {
  const bytes = new TextEncoder().encode(id);
  if (typeof id !== 'string' || bytes.length === 0 || bytes.length > MAX_NODE_ID_BYTES) {
    throw new InvalidArgumentError(`${name} must be a string of 1 to ${MAX_NODE_ID_BYTES} UTF-8 bytes`);
  }
  return bytes;
}

/**
 * HKDF-SHA256 key of the direction `senderId -> receiverId`. Each direction has its own key, so a
 * heartbeat reflected back at its sender does not verify (it would otherwise prove the sender's own
 * life as the peer's). Ids are length-prefixed so no two pairs of ids give the same input.
 */
export function deriveDirectionKey(
  material: Pick<HeartbeatKeyMaterial, 'secret' | 'session'>,
  senderId: string,
  receiverId: string,
): Uint8Array {
  const sender = idBytes('sender id', senderId);
  const receiver = idBytes('receiver id', receiverId);
  const { secret, session } = material;
  for (const [name, value] of [
    ['secret', secret],
    ['session', session],
  ] as const) {
    if (
      value !== undefined &&
      (!(value instanceof Uint8Array) || value.byteLength < MIN_HEARTBEAT_SECRET_BYTES)
    ) {
      throw new InvalidArgumentError(
        `heartbeat ${name} must be a Uint8Array of at least ${MIN_HEARTBEAT_SECRET_BYTES} bytes`,
      );
    }
  }
  const ikm = secret ?? session;
  if (ikm === undefined) throw new InvalidArgumentError('heartbeat keys need a secret or a session secret');
  const salt = secret !== undefined && session !== undefined ? session : new Uint8Array(0);
  const info = new Uint8Array(KEY_LABEL.length + 1 + 2 + sender.length + 2 + receiver.length);
  let at = 0;
  info.set(KEY_LABEL, at);
  at += KEY_LABEL.length + 1; // a zero byte ends the label
  new DataView(info.buffer).setUint16(at, sender.length);
  info.set(sender, at + 2);
  at += 2 + sender.length;
  new DataView(info.buffer).setUint16(at, receiver.length);
  info.set(receiver, at + 2);
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, HEARTBEAT_KEY_BYTES));
}

/** Both directional keys of a pair, from this node's point of view. Throws if the two ids are equal. */
export function deriveHeartbeatKeys(material: HeartbeatKeyMaterial): HeartbeatKeys {
  if (material.localId === material.peerId) {
    throw new InvalidArgumentError(`the peer's node id must differ from this node's (${material.localId})`);
  }
  return {
    send: deriveDirectionKey(material, material.localId, material.peerId),
    receive: deriveDirectionKey(material, material.peerId, material.localId),
  };
}

/** The truncated HMAC-SHA256 of `bytes[0, length)`. */
export function heartbeatMac(key: Uint8Array | KeyObject, bytes: Uint8Array, length: number): Uint8Array {
  const digest = createHmac('sha256', key).update(bytes.subarray(0, length)).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, HEARTBEAT_MAC_BYTES);
}
