import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import {
  derBitString,
  derBoolean,
  derExplicit,
  derImplicitPrimitive,
  derInteger,
  derNamedBits,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derTime,
  derUnsignedInteger,
  derUtf8String,
} from './der.js';
import { InvalidOptionError } from './errors.js';

/**
 * Test-setup certificates written with nothing but `node:crypto`: a CA, and node certificates it signs,
 * for the checkpoint channel's mutual TLS. Keys are ECDSA P-256 (the curve every TLS 1.3 stack
 * supports) or Ed25519. Good enough for labs and tests; production deployments should use their own
 * PKI and pass its PEM files to `security: { mode: 'tls' }`.
 */

/** Key algorithm of a generated certificate. */
export type CertificateKeyType = 'p256' | 'ed25519';

/** A certificate and its private key, both PEM. */
export interface CertificateAndKey {
  /** The certificate, PEM (`-----BEGIN CERTIFICATE-----`). */
  certificate: string;
  /** Its private key, PKCS#8 PEM. Keep it secret. */
  key: string;
  /** SHA-256 fingerprint as Node prints it (`AB:CD:...`), for pinning with `peerFingerprint256`. */
  fingerprint256: string;
}

/** Options shared by {@link createCertificateAuthority} and {@link issueCertificate}. */
export interface CertificateValidityOptions {
  /**
   * Start of validity.
   * @default now minus 5 minutes (tolerates a little clock skew between the test machines)
   */
  notBefore?: Date;
  /**
   * End of validity; a date in the past yields an expired certificate (for tests).
   * @default notBefore plus `validDays`
   */
  notAfter?: Date;
  /**
   * Validity length in days when `notAfter` is not given.
   * @default 365 (CA: 3650)
   */
  validDays?: number;
  /**
   * Key algorithm.
   * @default 'p256'
   */
  keyType?: CertificateKeyType;
}

/** Options of {@link createCertificateAuthority}. */
export interface CertificateAuthorityOptions extends CertificateValidityOptions {
  /**
   * Subject common name of the CA.
   * @default 'microcheckpoint test CA'
   */
  commonName?: string;
}

/** Options of {@link issueCertificate}. */
export interface IssueCertificateOptions extends CertificateValidityOptions {
  /** Subject common name, e.g. the node id. Required. */
  commonName: string;
  /**
   * DNS names the certificate is valid for (SubjectAltName).
   * @default [commonName] when it looks like a host name, else []
   */
  dnsNames?: readonly string[];
  /**
   * IP addresses the certificate is valid for (SubjectAltName), IPv4 or IPv6 literals.
   * @default ['127.0.0.1', '::1']
   */
  ipAddresses?: readonly string[];
  /**
   * What the key may authenticate: a checkpoint node is both a TLS server (secondary) and a client
   * (primary), so both by default.
   * @default ['server', 'client']
   */
  usages?: ReadonlyArray<'server' | 'client'>;
}

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ed25519: '1.3.101.112',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

// keyUsage named bits (RFC 5280 4.2.1.3).
const DIGITAL_SIGNATURE = 0;
const KEY_CERT_SIGN = 5;
const CRL_SIGN = 6;

const DAY_MS = 86_400_000;
const CLOCK_SKEW_MS = 5 * 60_000;
const HOST_NAME =
  /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/**
 * Creates a self-signed certificate authority (basicConstraints CA, keyUsage keyCertSign and cRLSign)
 * for a test setup. Throws `InvalidOptionError` for a bad option.
 */
export function createCertificateAuthority(options: CertificateAuthorityOptions = {}): CertificateAndKey {
  const commonName = nameOption('commonName', options.commonName ?? 'microcheckpoint test CA');
  const { notBefore, notAfter } = validityOption(options, 3650);
  const keys = generateKeys(keyTypeOption(options.keyType));
  const subject = distinguishedName(commonName);
  const keyId = keyIdentifier(keys.publicKey);
  const extensions = [
    extension(OID.basicConstraints, true, derSequence([derBoolean(true)])),
    extension(OID.keyUsage, true, derNamedBits([DIGITAL_SIGNATURE, KEY_CERT_SIGN, CRL_SIGN])),
    extension(OID.subjectKeyIdentifier, false, derOctetString(keyId)),
  ];
  return build({
    subject,
    issuer: subject,
    notBefore,
    notAfter,
    subjectKeys: keys,
    signer: keys.privateKey,
    extensions,
  });
}

/**
 * Issues a node certificate signed by `authority` (as returned by {@link createCertificateAuthority},
 * or any PEM CA certificate and key with an ECDSA P-256 or Ed25519 key). Throws `InvalidOptionError`
 * for a bad option or an authority whose key does not match its certificate.
 */
export function issueCertificate(
  authority: Pick<CertificateAndKey, 'certificate' | 'key'>,
  options: IssueCertificateOptions,
): CertificateAndKey {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError('options', 'must be an object');
  const commonName = nameOption('commonName', options.commonName);
  const { notBefore, notAfter } = validityOption(options, 365);
  const dnsNames = listOption('dnsNames', options.dnsNames, HOST_NAME.test(commonName) ? [commonName] : []);
  for (const name of dnsNames) {
    if (!HOST_NAME.test(name))
      throw new InvalidOptionError('dnsNames', `${JSON.stringify(name)} is not a DNS name`);
  }
  const ipAddresses = listOption('ipAddresses', options.ipAddresses, ['127.0.0.1', '::1']).map((ip) =>
    ipAddressBytes(ip),
  );
  const usages = listOption('usages', options.usages, ['server', 'client']);
  for (const usage of usages) {
    if (usage !== 'server' && usage !== 'client') {
      throw new InvalidOptionError(
        'usages',
        `must hold 'server' and/or 'client', got ${JSON.stringify(usage)}`,
      );
    }
  }
  const ca = caOption(authority);
  const keys = generateKeys(keyTypeOption(options.keyType));

  const altNames = [
    ...dnsNames.map((name) => derImplicitPrimitive(2, new TextEncoder().encode(name))),
    ...ipAddresses.map((bytes) => derImplicitPrimitive(7, bytes)),
  ];
  const extensions = [
    extension(OID.basicConstraints, true, derSequence([])),
    extension(OID.keyUsage, true, derNamedBits([DIGITAL_SIGNATURE])),
    extension(
      OID.extKeyUsage,
      false,
      derSequence(usages.map((usage) => derOid(usage === 'server' ? OID.serverAuth : OID.clientAuth))),
    ),
    extension(OID.subjectKeyIdentifier, false, derOctetString(keyIdentifier(keys.publicKey))),
    extension(OID.authorityKeyIdentifier, false, derSequence([derImplicitPrimitive(0, ca.keyId)])),
  ];
  if (altNames.length > 0) extensions.push(extension(OID.subjectAltName, false, derSequence(altNames)));
  return build({
    subject: distinguishedName(commonName),
    issuer: ca.subject,
    notBefore,
    notAfter,
    subjectKeys: keys,
    signer: ca.privateKey,
    extensions,
  });
}

interface KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
}

function build(parts: {
  subject: Uint8Array;
  issuer: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  subjectKeys: KeyPair;
  signer: KeyObject;
  extensions: Uint8Array[];
}): CertificateAndKey {
  const algorithm = signatureAlgorithm(parts.signer);
  const spki = new Uint8Array(parts.subjectKeys.publicKey.export({ type: 'spki', format: 'der' }));
  // RFC 5280: a positive serial of at most 20 octets; 16 random bytes make collisions irrelevant.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const tbs = derSequence([
    derExplicit(0, derInteger(2)), // v3
    derUnsignedInteger(serial),
    algorithm,
    parts.issuer,
    derSequence([derTime(parts.notBefore), derTime(parts.notAfter)]),
    parts.subject,
    spki,
    derExplicit(3, derSequence(parts.extensions)),
  ]);
  // ECDSA signatures go in X.509 as DER SEQUENCE { r, s }; Ed25519 takes no digest.
  const isEd25519 = parts.signer.asymmetricKeyType === 'ed25519';
  const signature = isEd25519
    ? sign(null, tbs, parts.signer)
    : sign('sha256', tbs, { key: parts.signer, dsaEncoding: 'der' });
  const certificate = derSequence([tbs, algorithm, derBitString(new Uint8Array(signature))]);
  const pem = toPem('CERTIFICATE', certificate);
  return {
    certificate: pem,
    key: parts.subjectKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    fingerprint256: new X509Certificate(pem).fingerprint256,
  };
}

function signatureAlgorithm(signer: KeyObject): Uint8Array {
  if (signer.asymmetricKeyType === 'ed25519') return derSequence([derOid(OID.ed25519)]);
  // RFC 5758: ecdsa-with-SHA256 has no parameters at all (not even NULL).
  return derSequence([derOid(OID.ecdsaWithSha256)]);
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  // DER omits a BOOLEAN equal to its DEFAULT (FALSE).
  return derSequence([derOid(oid), ...(critical ? [derBoolean(true)] : []), derOctetString(value)]);
}

function distinguishedName(commonName: string): Uint8Array {
  return derSequence([
    derSet([derSequence([derOid(OID.organization), derUtf8String('microcheckpoint')])]),
    derSet([derSequence([derOid(OID.commonName), derUtf8String(commonName)])]),
  ]);
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (an identifier, not a security hash). */
function keyIdentifier(publicKey: KeyObject): Uint8Array {
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  return new Uint8Array(createHash('sha1').update(subjectPublicKeyBits(spki)).digest());
}

/** The BIT STRING content (minus its unused-bits byte) at the end of a SubjectPublicKeyInfo. */
function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  // SPKI = SEQUENCE { AlgorithmIdentifier, BIT STRING }: skip the outer header and the algorithm.
  let at = 1 + lengthOfLength(spki, 1);
  at += 1 + lengthOfLength(spki, at + 1) + readLength(spki, at + 1);
  const header = 1 + lengthOfLength(spki, at + 1);
  return spki.subarray(at + header + 1);
}

function lengthOfLength(bytes: Uint8Array, at: number): number {
  const first = bytes[at]!;
  return first < 0x80 ? 1 : 1 + (first & 0x7f);
}

function readLength(bytes: Uint8Array, at: number): number {
  const first = bytes[at]!;
  if (first < 0x80) return first;
  let length = 0;
  for (let i = 1; i <= (first & 0x7f); i++) length = length * 256 + bytes[at + i]!;
  return length;
}

function toPem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function generateKeys(type: CertificateKeyType): KeyPair {
  return type === 'ed25519'
    ? generateKeyPairSync('ed25519')
    : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

function keyTypeOption(value: unknown): CertificateKeyType {
  if (value === undefined) return 'p256';
  if (value !== 'p256' && value !== 'ed25519') {
    throw new InvalidOptionError('keyType', `must be 'p256' or 'ed25519', got ${JSON.stringify(value)}`);
  }
  return value;
}

function nameOption(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 64) {
    throw new InvalidOptionError(name, 'must be a string of 1 to 64 characters');
  }
  return value;
}

function listOption<T>(name: string, value: readonly T[] | undefined, fallback: T[]): T[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value)) throw new InvalidOptionError(name, 'must be an array');
  return [...value];
}

function validityOption(
  options: CertificateValidityOptions,
  defaultDays: number,
): { notBefore: Date; notAfter: Date } {
  const notBefore = options.notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  if (!(notBefore instanceof Date) || !Number.isFinite(notBefore.getTime())) {
    throw new InvalidOptionError('notBefore', 'must be a valid Date');
  }
  const days = options.validDays ?? defaultDays;
  if (typeof days !== 'number' || !Number.isFinite(days) || days <= 0) {
    throw new InvalidOptionError('validDays', `must be a positive number, got ${String(days)}`);
  }
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + days * DAY_MS);
  if (!(notAfter instanceof Date) || !Number.isFinite(notAfter.getTime())) {
    throw new InvalidOptionError('notAfter', 'must be a valid Date');
  }
  if (notAfter.getTime() <= notBefore.getTime())
    throw new InvalidOptionError('notAfter', 'must be after notBefore');
  // Certificate times carry whole seconds.
  return {
    notBefore: new Date(Math.floor(notBefore.getTime() / 1000) * 1000),
    notAfter: new Date(Math.floor(notAfter.getTime() / 1000) * 1000),
  };
}

function caOption(authority: Pick<CertificateAndKey, 'certificate' | 'key'>): {
  subject: Uint8Array;
  privateKey: KeyObject;
  keyId: Uint8Array;
} {
  if (authority === null || typeof authority !== 'object') {
    throw new InvalidOptionError('authority', 'must be { certificate, key }');
  }
  let certificate: X509Certificate;
  let privateKey: KeyObject;
  try {
    certificate = new X509Certificate(authority.certificate);
    privateKey = createPrivateKey(authority.key);
  } catch (err) {
    throw new InvalidOptionError('authority', `is not a PEM certificate and key: ${(err as Error).message}`);
  }
  if (!certificate.ca)
    throw new InvalidOptionError('authority', 'certificate is not a CA (basicConstraints)');
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new InvalidOptionError('authority', 'key does not belong to the certificate');
  }
  const type = privateKey.asymmetricKeyType;
  if (
    type !== 'ed25519' &&
    !(type === 'ec' && privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1')
  ) {
    throw new InvalidOptionError('authority', `key type ${type} is not supported (P-256 or Ed25519)`);
  }
  return {
    subject: subjectOf(certificate),
    privateKey,
    keyId: keyIdentifier(createPublicKey(privateKey)),
  };
}

/** The issuer of an issued certificate must be the CA's subject byte for byte: cut it out of the CA's DER. */
function subjectOf(certificate: X509Certificate): Uint8Array {
  const der = new Uint8Array(certificate.raw);
  // Certificate SEQUENCE -> tbsCertificate SEQUENCE -> [0] version, serial, algorithm, issuer, validity, subject.
  let at = 1 + lengthOfLength(der, 1);
  at += 1 + lengthOfLength(der, at + 1);
  for (let field = 0; field < 5; field++) at += 1 + lengthOfLength(der, at + 1) + readLength(der, at + 1);
  const end = at + 1 + lengthOfLength(der, at + 1) + readLength(der, at + 1);
  return der.slice(at, end);
}

function ipAddressBytes(ip: string): Uint8Array {
  if (typeof ip === 'string' && isIPv4(ip)) return Uint8Array.from(ip.split('.').map(Number));
  if (typeof ip === 'string' && isIPv6(ip)) return ipv6Bytes(ip);
  throw new InvalidOptionError('ipAddresses', `${JSON.stringify(ip)} is not an IP address literal`);
}

function ipv6Bytes(ip: string): Uint8Array {
  let text = ip.replace(/%.*$/, '');
  // A trailing dotted IPv4 part stands for the last two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros =
    tail === undefined ? [] : new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  const groups = [...headGroups, ...zeros, ...tailGroups];
  const out = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = Number.parseInt(group, 16);
    out[i * 2] = value >> 8;
    out[i * 2 + 1] = value & 0xff;
  });
  return out;
}
