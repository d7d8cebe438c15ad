import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SecurityOptions } from '@microcheckpoint/transport-tcp';
import { BadFlagError, CredentialError, NoSecurityError } from '../errors.js';

/** Shortest pre-shared key accepted: 128 bits (transport-tcp's own minimum). */
export const MIN_PSK_FILE_BYTES = 16;
/** PSK identity both sides announce when `--psk-identity` is not given. */
export const DEFAULT_PSK_IDENTITY = 'mcft';

/** The security flags of `mcft primary`, `secondary` and `witness` (or their `--config` keys). */
export interface SecurityFlags {
  ca?: unknown;
  cert?: unknown;
  key?: unknown;
  pskFile?: unknown;
  pskIdentity?: unknown;
  insecurePlain?: unknown;
}

/** Where a TLS node's credentials came from, for messages and the status endpoint. */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** How a node protects its channels, with its credentials loaded and checked. */
export type NodeSecurity =
  | {
      mode: 'tls';
      /** PEM text of the CA, this node's certificate and its key. */
      ca: string;
      cert: string;
      key: string;
      files: TlsFiles;
      /** This node's certificate subject and end of validity, for the start message. */
      subject: string;
      validTo: Date;
    }
  | { mode: 'psk'; identity: string; key: Uint8Array; file: string }
  | { mode: 'plain' };

/** What transport-tcp, the engine and the witness take as `security`. */
export function securityOptions(s: NodeSecurity): SecurityOptions {
  if (s.mode === 'tls') return { mode: 'tls', ca: s.ca, cert: s.cert, key: s.key };
  if (s.mode === 'psk') return { mode: 'psk', identity: s.identity, key: s.key };
  return { mode: 'plain' };
}

/** One line saying what protects the channels, for start messages. */
export function describeSecurity(s: NodeSecurity): string {
  if (s.mode === 'tls')
    return `TLS 1.3, mutual certificates from ${s.files.ca} (this node: ${s.subject}, valid until ${s.validTo.toISOString().slice(0, 10)})`;
  if (s.mode === 'psk') return `TLS 1.3 with the pre-shared key in ${s.file} (identity ${s.identity})`;
  return 'PLAIN TCP (--insecure-plain: a trusted lab network only; anyone who reaches the ports can forge checkpoints, heartbeats and votes)';
}

const optionalPath = (flag: string, value: unknown): string | undefined => {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new BadFlagError(flag, 'expects a file path');
  return value;
};

/**
 * Checks the security flags and loads what they name. Exactly one of TLS (`--ca`, `--cert`,
 * `--key`, all three), PSK (`--psk-file`) or `--insecure-plain` must be chosen: without any, the
 * command refuses to start (secure by default). `now` is the clock certificates are checked against.
 */
export function resolveSecurity(command: string, flags: SecurityFlags, now = new Date()): NodeSecurity {
  const ca = optionalPath('--ca', flags.ca);
  const cert = optionalPath('--cert', flags.cert);
  const key = optionalPath('--key', flags.key);
  const pskFile = optionalPath('--psk-file', flags.pskFile);
  const plain = flags.insecurePlain === true || flags.insecurePlain === 'true';
  if (flags.insecurePlain !== undefined && typeof flags.insecurePlain !== 'boolean' && !plain)
    throw new BadFlagError('--insecure-plain', 'is a switch (true in a config file)');
  const tls = ca !== undefined || cert !== undefined || key !== undefined;
  const chosen = [
    tls && '--ca/--cert/--key',
    pskFile !== undefined && '--psk-file',
    plain && '--insecure-plain',
  ].filter((x): x is string => typeof x === 'string');
  if (chosen.length > 1)
    throw new BadFlagError(
      chosen[1]!,
      `does not go with ${chosen[0]}: choose one way to protect the channels`,
    );
  if (flags.pskIdentity !== undefined && pskFile === undefined)
    throw new BadFlagError('--psk-identity', 'goes with --psk-file');
  if (chosen.length === 0) throw new NoSecurityError(command);
  if (plain) return { mode: 'plain' };
  if (pskFile !== undefined) return loadPsk(pskFile, flags.pskIdentity);
  for (const [flag, value] of [
    ['--ca', ca],
    ['--cert', cert],
    ['--key', key],
  ] as const) {
    if (value === undefined)
      throw new BadFlagError(flag, 'is required with TLS: give --ca, --cert and --key together');
  }
  return loadTls({ ca: ca!, cert: cert!, key: key! }, now);
}

function readText(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new CredentialError(
      flag,
      path,
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : 'cannot be read',
      { cause: error },
    );
  }
}

function parseCertificate(flag: string, path: string, pem: string): X509Certificate {
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new CredentialError(flag, path, 'is not a PEM certificate (no BEGIN CERTIFICATE block)');
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new CredentialError(flag, path, `is not a valid certificate: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function checkValidity(flag: string, path: string, certificate: X509Certificate, now: Date): void {
  const from = new Date(certificate.validFrom);
  const to = new Date(certificate.validTo);
  if (now.getTime() > to.getTime())
    throw new CredentialError(
      flag,
      path,
      `the certificate expired on ${to.toISOString()} (now ${now.toISOString()}); issue a new one (mcft certs)`,
    );
  if (now.getTime() < from.getTime())
    throw new CredentialError(
      flag,
      path,
      `the certificate is not valid before ${from.toISOString()} (now ${now.toISOString()}); check this host's clock`,
    );
}

/** Loads and checks TLS credentials up front, so a bad file is reported now, by flag and path. */
export function loadTls(files: TlsFiles, now = new Date()): NodeSecurity {
  const caPem = readText('--ca', files.ca);
  const certPem = readText('--cert', files.cert);
  const keyPem = readText('--key', files.key);
  const ca = parseCertificate('--ca', files.ca, caPem);
  if (!ca.ca)
    throw new CredentialError('--ca', files.ca, 'is not a CA certificate (basicConstraints CA is not set)');
  checkValidity('--ca', files.ca, ca, now);
  const cert = parseCertificate('--cert', files.cert, certPem);
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new CredentialError('--key', files.key, `is not a PEM private key: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!cert.checkPrivateKey(key))
    throw new CredentialError('--key', files.key, `does not belong to the certificate in ${files.cert}`);
  if (!cert.verify(ca.publicKey))
    throw new CredentialError(
      '--cert',
      files.cert,
      `was not issued by the CA in ${files.ca} (issuer: ${cert.issuer.replace(/\n/g, ', ')}); every node must use certificates from the same CA`,
    );
  checkValidity('--cert', files.cert, cert, now);
  return {
    mode: 'tls',
    ca: caPem,
    cert: certPem,
    key: keyPem,
    files,
    subject: commonNameOf(cert),
    validTo: new Date(cert.validTo),
  };
}

function commonNameOf(cert: X509Certificate): string {
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject);
  return cn?.[1] ?? cert.subject.replace(/\n/g, ', ');
}

/**
 * Reads a PSK file: the key as hex (e.g. 64 hex digits), or as raw bytes. At least 16 bytes; it
 * should be random (a password is guessable offline).
 */
function loadPsk(path: string, identity: unknown): NodeSecurity {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new CredentialError('--psk-file', path, code === 'ENOENT' ? 'no such file' : 'cannot be read', {
      cause: error,
    });
  }
  const text = raw.toString('latin1').trim();
  const key = /^(?:[0-9a-fA-F]{2})+$/.test(text) ? Buffer.from(text, 'hex') : raw;
  if (key.byteLength < MIN_PSK_FILE_BYTES)
    throw new CredentialError(
      '--psk-file',
      path,
      `holds ${key.byteLength} bytes; a pre-shared key needs at least ${MIN_PSK_FILE_BYTES} random bytes (mcft certs --out DIR --psk writes 32)`,
    );
  const id = identity ?? DEFAULT_PSK_IDENTITY;
  if (typeof id !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(id))
    throw new BadFlagError('--psk-identity', 'must be 1 to 128 printable ASCII characters without spaces');
  return { mode: 'psk', identity: id, key: new Uint8Array(key), file: path };
}
