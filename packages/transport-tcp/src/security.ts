import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import {
  type ConnectionOptions,
  checkServerIdentity,
  type PeerCertificate,
  type TLSSocket,
  type TlsOptions,
} from 'node:tls';
import {
  InvalidOptionError,
  PskAuthError,
  TlsError,
  type TlsErrorCode,
  type TransportError,
} from './errors.js';

/**
 * How a channel protects its bytes and proves who the peer is.
 *
 * - `tls`: TLS 1.3 with mutual authentication. Each side presents `cert` (with `key`) and accepts only
 *   a peer whose certificate chains to `ca`; the server requires a client certificate.
 * - `psk`: TLS 1.3 authenticated by a pre-shared key (ECDHE key exchange on top, so still forward
 *   secret), for small setups without certificates.
 * - `plain`: no encryption and no authentication, for a trusted lab network only. Anyone who can reach
 *   the port can inject frames, including a forged checkpoint.
 */
export type SecurityOptions = PlainSecurityOptions | TlsSecurityOptions | PskSecurityOptions;

/** Plain TCP: nothing is encrypted or authenticated. */
export interface PlainSecurityOptions {
  mode: 'plain';
}

/** PEM text (string or bytes), or several of them (a CA bundle). */
export type Pem = string | Uint8Array;

/** TLS 1.3 with certificates on both sides. */
export interface TlsSecurityOptions {
  mode: 'tls';
  /** CA certificate(s), PEM, that the peer's certificate must chain to. Only these are trusted, not the system store. */
  ca: Pem | readonly Pem[];
  /** This node's certificate (chain), PEM. */
  cert: Pem;
  /** This node's private key, PEM. */
  key: Pem;
  /**
   * Name the peer's certificate must carry (a DNS name or IP address in its SubjectAltName). On
   * `connect()` the default is the `host` connected to; on a server, no name is required by default
   * (any client certificate from `ca` is accepted).
   * @default undefined
   */
  peerName?: string;
  /**
   * SHA-256 fingerprint(s) of the peer certificate(s) accepted (`AB:CD:...`, case and colons
   * optional): pins the exact peer on top of the CA check.
   * @default undefined (any certificate from `ca`)
   */
  peerFingerprint256?: string | readonly string[];
}

/** TLS 1.3 with a pre-shared key instead of certificates. */
export interface PskSecurityOptions {
  mode: 'psk';
  /** Identity this client announces / the only identity this server accepts (1 to 128 printable ASCII). */
  identity: string;
  /** The shared key, at least 16 random bytes (32 recommended). */
  key: Uint8Array;
}

/** The security mode a channel runs in. */
export type SecurityMode = SecurityOptions['mode'];

/** What a channel's security looks like once it is connected. */
export interface ChannelSecurity {
  mode: SecurityMode;
  /** Negotiated protocol, e.g. `'TLSv1.3'`; null for plain. */
  protocol: string | null;
  /** Negotiated cipher suite, e.g. `'TLS_AES_128_GCM_SHA256'`; null for plain. */
  cipher: string | null;
  /** The peer certificate's subject common name (tls mode), else null. */
  peerCommonName: string | null;
  /** The peer certificate's SHA-256 fingerprint (tls mode), else null. */
  peerFingerprint256: string | null;
  /** The PSK identity in use (psk mode), else null. */
  pskIdentity: string | null;
}

/** TLS 1.3 PSK through OpenSSL's PSK callbacks works only with SHA-256 suites; AES-GCM first (AES-NI). */
const PSK_CIPHER_SUITES = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256';
/** Shortest PSK accepted: 128 bits. */
export const MIN_PSK_BYTES = 16;
const MAX_PSK_IDENTITY_CHARS = 128;

/** Validated security options. */
export type ResolvedSecurity =
  | { mode: 'plain' }
  | {
      mode: 'tls';
      ca: Buffer[];
      cert: Buffer;
      key: Buffer;
      peerName: string | undefined;
      peerFingerprints: string[] | undefined;
    }
  | { mode: 'psk'; identity: string; key: Buffer };

function pemOption(name: string, value: unknown): Buffer {
  if (typeof value === 'string' && value.includes('-----BEGIN')) return Buffer.from(value);
  if (value instanceof Uint8Array && value.byteLength > 0) {
    const copy = Buffer.from(value);
    if (copy.includes('-----BEGIN')) return copy;
  }
  throw new InvalidOptionError(name, 'must be PEM text (string or Uint8Array)');
}

function normalizeFingerprint(value: string): string {
  return value.replace(/:/g, '').toUpperCase();
}

/** Validates the `security` option; undefined means plain (backward compatible). */
export function resolveSecurityOptions(options: SecurityOptions | undefined): ResolvedSecurity {
  if (options === undefined) return { mode: 'plain' };
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('security', "must be { mode: 'tls' | 'psk' | 'plain', ... }");
  }
  switch (options.mode) {
    case 'plain':
      return { mode: 'plain' };
    case 'tls': {
      const cas = Array.isArray(options.ca) ? options.ca : [options.ca];
      if (cas.length === 0) throw new InvalidOptionError('security.ca', 'must name at least one CA');
      const ca = cas.map((pem) => pemOption('security.ca', pem));
      for (const pem of ca) {
        try {
          new X509Certificate(pem);
        } catch (err) {
          throw new InvalidOptionError('security.ca', `is not a certificate: ${(err as Error).message}`);
        }
      }
      const cert = pemOption('security.cert', options.cert);
      const key = pemOption('security.key', options.key);
      checkOwnCertificate(cert, key);
      const peerName = options.peerName;
      if (peerName !== undefined && (typeof peerName !== 'string' || peerName.length === 0)) {
        throw new InvalidOptionError('security.peerName', 'must be a non-empty string');
      }
      const pins = options.peerFingerprint256;
      let peerFingerprints: string[] | undefined;
      if (pins !== undefined) {
        const list = typeof pins === 'string' ? [pins] : Array.isArray(pins) ? pins : null;
        if (list === null || list.length === 0) {
          throw new InvalidOptionError(
            'security.peerFingerprint256',
            'must be a fingerprint or a non-empty list',
          );
        }
        peerFingerprints = list.map((pin) => {
          const hex = typeof pin === 'string' ? normalizeFingerprint(pin) : '';
          if (!/^[0-9A-F]{64}$/.test(hex)) {
            throw new InvalidOptionError(
              'security.peerFingerprint256',
              `${String(pin)} is not a SHA-256 fingerprint`,
            );
          }
          return hex;
        });
      }
      return { mode: 'tls', ca, cert, key, peerName, peerFingerprints };
    }
    case 'psk': {
      const { identity, key } = options;
      if (
        typeof identity !== 'string' ||
        identity.length === 0 ||
        identity.length > MAX_PSK_IDENTITY_CHARS ||
        !/^[\x20-\x7e]+$/.test(identity)
      ) {
        throw new InvalidOptionError('security.identity', 'must be 1 to 128 printable ASCII characters');
      }
      if (!(key instanceof Uint8Array) || key.byteLength < MIN_PSK_BYTES) {
        throw new InvalidOptionError(
          'security.key',
          `must be a Uint8Array of at least ${MIN_PSK_BYTES} bytes`,
        );
      }
      return { mode: 'psk', identity, key: Buffer.from(key) };
    }
    default:
      throw new InvalidOptionError(
        'security.mode',
        `must be 'tls', 'psk' or 'plain', got ${JSON.stringify((options as { mode?: unknown }).mode)}`,
      );
  }
}

/**
 * Fails early, naming the option, on what every peer would refuse anyway: a certificate that does not
 * parse, a key that is not its key, or a certificate outside its validity window (expired, or not
 * valid yet: check the clocks).
 */
function checkOwnCertificate(certPem: Buffer, keyPem: Buffer): void {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch (err) {
    throw new InvalidOptionError('security.cert', `is not a certificate: ${(err as Error).message}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new InvalidOptionError('security.key', `is not a private key: ${(err as Error).message}`);
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new InvalidOptionError(
      'security.key',
      `does not belong to security.cert (${certificate.subject.replace(/\n/g, ', ')})`,
    );
  }
  const now = Date.now();
  const from = Date.parse(certificate.validFrom);
  const to = Date.parse(certificate.validTo);
  if (now > to) throw new InvalidOptionError('security.cert', `expired on ${new Date(to).toISOString()}`);
  if (now < from) {
    throw new InvalidOptionError(
      'security.cert',
      `is not valid before ${new Date(from).toISOString()} (check the clock)`,
    );
  }
}

/** `tls.createServer()` options for a TLS or PSK server. */
export function serverTlsOptions(
  security: Exclude<ResolvedSecurity, { mode: 'plain' }>,
  handshakeTimeoutMs: number,
): TlsOptions {
  if (security.mode === 'tls') {
    return {
      minVersion: 'TLSv1.3',
      ca: security.ca,
      cert: security.cert,
      key: security.key,
      requestCert: true,
      // Verified by this package right after the handshake (verifyPeer), which knows *why* a
      // certificate is bad; Node's own rejection would only say "socket hang up".
      rejectUnauthorized: false,
      handshakeTimeout: handshakeTimeoutMs,
    };
  }
  const { identity, key } = security;
  return {
    minVersion: 'TLSv1.3',
    ciphers: PSK_CIPHER_SUITES,
    honorCipherOrder: true,
    handshakeTimeout: handshakeTimeoutMs,
    pskCallback: (socket: TLSSocket, offered: string) => {
      if (offered !== identity) {
        (socket as TLSSocket & { mcPskRefusal?: string }).mcPskRefusal =
          `unknown PSK identity ${JSON.stringify(offered)}`;
        return null;
      }
      return key;
    },
  };
}

/** `tls.connect()` options for a TLS or PSK client. */
export function clientTlsOptions(
  security: Exclude<ResolvedSecurity, { mode: 'plain' }>,
  host: string,
): ConnectionOptions {
  if (security.mode === 'tls') {
    const expected = security.peerName ?? host;
    return {
      minVersion: 'TLSv1.3',
      ca: security.ca,
      cert: security.cert,
      key: security.key,
      rejectUnauthorized: true,
      // SNI carries host names only, never IP literals.
      ...(/^[a-zA-Z]/.test(expected) && !expected.includes(':') ? { servername: expected } : {}),
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        const nameError = checkServerIdentity(expected, cert);
        if (nameError) return nameError;
        return fingerprintError(security.peerFingerprints, cert);
      },
    };
  }
  const { identity, key } = security;
  return {
    minVersion: 'TLSv1.3',
    ciphers: PSK_CIPHER_SUITES,
    // The PSK is the authentication: there is no certificate to check a name against.
    checkServerIdentity: () => undefined,
    pskCallback: () => ({ identity, psk: key }),
  };
}

function fingerprintError(pins: string[] | undefined, cert: PeerCertificate): Error | undefined {
  if (pins === undefined) return undefined;
  const found = normalizeFingerprint(cert.fingerprint256 ?? '');
  if (pins.includes(found)) return undefined;
  return Object.assign(
    new Error(`peer certificate ${cert.fingerprint256} is not one of the pinned fingerprints`),
    {
      code: 'ERR_MC_FINGERPRINT_MISMATCH',
    },
  );
}

/**
 * Server side, right after the handshake: refuses a client without a certificate, with one not
 * chained to the CA, expired, or not matching the name or fingerprint pins. Returns the reason, or
 * null when the peer is accepted. Nothing has been read from the socket yet.
 */
export function verifyClient(security: ResolvedSecurity, socket: TLSSocket): TransportError | null {
  if (security.mode !== 'tls') return null;
  const cert = socket.getPeerCertificate();
  if (cert === null || typeof cert !== 'object' || Object.keys(cert).length === 0) {
    return new TlsError(
      'MC_ERR_TLS_NO_PEER_CERT',
      'NO_PEER_CERTIFICATE',
      'the peer presented no certificate',
    );
  }
  if (!socket.authorized) {
    const reason = String(socket.authorizationError ?? 'UNKNOWN');
    return new TlsError(
      certificateErrorCode(reason),
      reason,
      `peer certificate ${describeCert(cert)} refused: ${reason}`,
    );
  }
  if (security.peerName !== undefined) {
    const nameError = checkServerIdentity(security.peerName, cert);
    if (nameError) {
      return new TlsError(
        'MC_ERR_TLS_PEER_IDENTITY',
        'NAME_MISMATCH',
        `peer certificate ${describeCert(cert)}: ${nameError.message}`,
        {
          cause: nameError,
        },
      );
    }
  }
  const pinError = fingerprintError(security.peerFingerprints, cert);
  if (pinError) return new TlsError('MC_ERR_TLS_PEER_IDENTITY', 'FINGERPRINT_MISMATCH', pinError.message);
  return null;
}

function describeCert(cert: PeerCertificate): string {
  const cn = cert.subject?.CN;
  return `${typeof cn === 'string' ? `CN=${cn}` : 'without CN'} (${cert.fingerprint256})`;
}

function certificateErrorCode(reason: string): TlsErrorCode {
  if (reason === 'CERT_HAS_EXPIRED' || reason === 'CERT_NOT_YET_VALID') return 'MC_ERR_TLS_CERT_EXPIRED';
  if (reason === 'ERR_TLS_CERT_ALTNAME_INVALID' || reason === 'ERR_MC_FINGERPRINT_MISMATCH') {
    return 'MC_ERR_TLS_PEER_IDENTITY';
  }
  if (
    reason === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    reason === 'UNABLE_TO_GET_ISSUER_CERT' ||
    reason === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' ||
    reason === 'SELF_SIGNED_CERT_IN_CHAIN' ||
    reason === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    reason === 'CERT_SIGNATURE_FAILURE' ||
    reason === 'CERT_UNTRUSTED' ||
    reason === 'INVALID_CA' ||
    reason === 'INVALID_PURPOSE' ||
    reason === 'CERT_REJECTED'
  ) {
    return 'MC_ERR_TLS_CERT_UNTRUSTED';
  }
  return 'MC_ERR_TLS_HANDSHAKE';
}

/** The typed error for a failed handshake, on either side. */
export function handshakeError(security: ResolvedSecurity, err: unknown, socket?: TLSSocket): TransportError {
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const code = typeof e?.code === 'string' ? e.code : 'UNKNOWN';
  const message = e instanceof Error ? e.message : String(err);
  if (
    code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' ||
    code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'
  ) {
    return new TlsError('MC_ERR_TLS_NO_PEER_CERT', code, 'no client certificate was presented', {
      cause: err,
    });
  }
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') {
    return new TlsError('MC_ERR_TLS_HANDSHAKE', code, 'the TLS handshake timed out', { cause: err });
  }
  if (security.mode === 'psk') {
    const refusal = (socket as (TLSSocket & { mcPskRefusal?: string }) | undefined)?.mcPskRefusal;
    return new PskAuthError(code, `PSK authentication failed: ${refusal ?? message}`, { cause: err });
  }
  const certificateCode = certificateErrorCode(code);
  if (certificateCode !== 'MC_ERR_TLS_HANDSHAKE') {
    return new TlsError(certificateCode, code, `peer certificate refused: ${message}`, { cause: err });
  }
  return new TlsError('MC_ERR_TLS_HANDSHAKE', code, `TLS handshake failed: ${message}`, { cause: err });
}

/** What the connected socket negotiated, for status reports. */
export function describeSecurity(security: ResolvedSecurity, socket: TLSSocket | null): ChannelSecurity {
  if (security.mode === 'plain' || socket === null) {
    return {
      mode: 'plain',
      protocol: null,
      cipher: null,
      peerCommonName: null,
      peerFingerprint256: null,
      pskIdentity: null,
    };
  }
  const cipher = socket.getCipher();
  const cert = security.mode === 'tls' ? socket.getPeerCertificate() : null;
  const cn = cert?.subject?.CN;
  return {
    mode: security.mode,
    protocol: socket.getProtocol() ?? null,
    cipher: cipher?.standardName ?? cipher?.name ?? null,
    peerCommonName: typeof cn === 'string' ? cn : null,
    peerFingerprint256: cert?.fingerprint256 ?? null,
    pskIdentity: security.mode === 'psk' ? security.identity : null,
  };
}
