import { X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  derBoolean,
  derElement,
  derInteger,
  derNamedBits,
  derOid,
  derSequence,
  derSet,
  derTime,
  derUnsignedInteger,
  encodeLength,
} from '../src/der.js';
import {
  connect,
  createCertificateAuthority,
  createServer,
  InvalidArgumentError,
  issueCertificate,
  type SecurityOptions,
} from '../src/index.js';
import { integerValue, oidValue, readDer, readWholeDer } from './der-reader.js';
import { collect } from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const arbOid = fc
  .tuple(
    fc.integer({ min: 0, max: 2 }),
    fc.integer({ min: 0, max: 39 }),
    fc.array(fc.bigInt({ min: 0n, max: (1n << 70n) - 1n }), { maxLength: 8 }),
  )
  .map(([a, b, rest]) => [a, b, ...rest].join('.'));

function parseDerTime(tag: number, text: string): number {
  const m =
    tag === 0x17
      ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text)
      : /^(\d\d\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
  if (!m) throw new Error(`bad time ${text}`);
  let year = Number(m[1]);
  if (tag === 0x17) year += year >= 50 ? 1900 : 2000;
  const date = new Date(0);
  date.setUTCFullYear(year, Number(m[2]) - 1, Number(m[3]));
  date.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), 0);
  return date.getTime();
}

describe('DER encoder (property tests against a strict reader)', () => {
  it('lengths are minimal and read back', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (length) => {
        const encoded = encodeLength(length);
        if (length < 128) expect(encoded).toEqual(Uint8Array.of(length));
        else {
          expect(encoded[0]! & 0x80).toBe(0x80);
          expect(encoded[1]).not.toBe(0);
          let value = 0;
          for (const b of encoded.subarray(1)) value = value * 256 + b;
          expect(value).toBe(length);
          expect(encoded.length - 1).toBe(Math.ceil(Math.log2(length + 1) / 8));
        }
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70_000 }), (content) => {
        const node = readWholeDer(derElement(0x04, content));
        expect(node.tag).toBe(0x04);
        expect(Buffer.from(node.content).equals(content)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it("integers are minimal two's complement and round-trip", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 200n), max: 1n << 200n }), (value) => {
        const node = readWholeDer(derInteger(value));
        expect(node.tag).toBe(0x02);
        expect(integerValue(node.content)).toBe(value);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 24 }), (bytes) => {
        const node = readWholeDer(derUnsignedInteger(bytes));
        let expected = 0n;
        for (const b of bytes) expected = (expected << 8n) | BigInt(b);
        expect(integerValue(node.content)).toBe(expected);
      }),
    );
    expect(derInteger(0)).toEqual(Uint8Array.of(2, 1, 0));
    expect(derInteger(128)).toEqual(Uint8Array.of(2, 2, 0, 128));
    expect(derInteger(-128)).toEqual(Uint8Array.of(2, 1, 0x80));
    expect(derInteger(-129)).toEqual(Uint8Array.of(2, 2, 0xff, 0x7f));
    expect(() => derInteger(2 ** 60)).toThrow(InvalidArgumentError);
  });

  it('object identifiers round-trip, including arcs beyond 64 bits', () => {
    fc.assert(
      fc.property(arbOid, (dotted) => {
        const node = readWholeDer(derOid(dotted));
        expect(node.tag).toBe(0x06);
        expect(oidValue(node.content)).toBe(dotted);
      }),
    );
    expect(derOid('1.2.840.10045.4.3.2')).toEqual(
      Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02),
    );
    for (const bad of ['1', '3.1', '1.40', '1..2', 'a.b', ''])
      expect(() => derOid(bad)).toThrow(InvalidArgumentError);
  });

  it('times pick UTCTime for 1950-2049 and GeneralizedTime otherwise, to the second', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(0, 0, 1) - 1900 * 365.2425 * 86_400_000, max: Date.UTC(9999, 11, 31) }),
        (ms) => {
          const date = new Date(ms);
          if (date.getUTCFullYear() < 0) return;
          const node = readWholeDer(derTime(date));
          const year = date.getUTCFullYear();
          expect(node.tag).toBe(year >= 1950 && year < 2050 ? 0x17 : 0x18);
          expect(parseDerTime(node.tag, new TextDecoder().decode(node.content))).toBe(
            Math.floor(ms / 1000) * 1000,
          );
        },
      ),
    );
    expect(() => derTime(new Date(Number.NaN))).toThrow(InvalidArgumentError);
  });

  it('named bit strings drop trailing zero bits; sets are sorted; booleans are 0xff', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 12 }),
        (bits) => {
          const node = readWholeDer(derNamedBits(bits));
          const unused = node.content[0]!;
          const data = node.content.subarray(1);
          expect(unused).toBeLessThan(8);
          const found: number[] = [];
          data.forEach((byte, i) => {
            for (let b = 0; b < 8; b++) if (byte & (0x80 >> b)) found.push(i * 8 + b);
          });
          expect(found).toEqual([...bits].sort((a, b) => a - b));
          // The last bit in use is set, and the unused bits after it are zero.
          expect(8 * data.length - unused - 1).toBe(Math.max(...bits));
        },
      ),
    );
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 6 }), { maxLength: 6 }), (contents) => {
        const node = readWholeDer(derSet(contents.map((c) => derElement(0x04, c))));
        const encodings = node.children.map((c) => Buffer.from(derElement(c.tag, c.content)));
        const sorted = [...encodings].sort(Buffer.compare);
        expect(encodings).toEqual(sorted);
      }),
    );
    expect(derBoolean(true)).toEqual(Uint8Array.of(1, 1, 0xff));
    expect(readWholeDer(derSequence([derBoolean(false), derInteger(5)])).children).toHaveLength(2);
  });

  it('the reader refuses what DER forbids (so the properties above can fail)', () => {
    expect(() => readWholeDer(Uint8Array.of(0x04, 0x81, 0x05, 1, 2, 3, 4, 5))).toThrow(/long-form/);
    expect(() => readWholeDer(Uint8Array.of(0x04, 0x80))).toThrow(/indefinite/);
    expect(() => integerValue(Uint8Array.of(0, 5))).toThrow(/redundant/);
    expect(() => readDer(Uint8Array.of(0x04, 0x05, 1))).toThrow(/truncated/);
  });
});

describe('certificates written with node:crypto only', () => {
  const arbIpv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
  const arbIpv6 = fc
    .array(fc.nat(0xffff), { minLength: 8, maxLength: 8 })
    .map((g) => g.map((x) => x.toString(16)).join(':'));

  it('parse with X509Certificate, verify against the CA, carry the names and dates given', () => {
    const ca = createCertificateAuthority();
    const caCert = new X509Certificate(ca.certificate);
    expect(caCert.ca).toBe(true);
    expect(caCert.verify(caCert.publicKey)).toBe(true);
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/),
        fc.array(fc.oneof(arbIpv4, arbIpv6), { maxLength: 4 }),
        fc.integer({ min: Date.UTC(1951, 0, 1), max: Date.UTC(2140, 0, 1) }),
        fc.integer({ min: 1, max: 20_000 }),
        (name, ips, start, days) => {
          const notBefore = new Date(start);
          const issued = issueCertificate(ca, {
            commonName: name,
            ipAddresses: ips,
            notBefore,
            validDays: days,
          });
          const x = new X509Certificate(issued.certificate);
          expect(x.verify(caCert.publicKey)).toBe(true);
          expect(x.checkIssued(caCert)).toBe(true);
          expect(x.ca).toBe(false);
          expect(x.subject).toContain(`CN=${name}`);
          expect(x.issuer).toBe(caCert.subject);
          expect(x.checkHost(name)).toBe(name);
          for (const ip of ips) expect(x.checkIP(ip)).toBe(ip);
          expect(new Date(x.validFrom).getTime()).toBe(Math.floor(start / 1000) * 1000);
          expect(new Date(x.validTo).getTime()).toBe(Math.floor(start / 1000) * 1000 + days * 86_400_000);
          expect(x.fingerprint256).toBe(issued.fingerprint256);
          expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('Ed25519 certificates complete a mutual TLS 1.3 handshake too', async () => {
    const ca = createCertificateAuthority({ keyType: 'ed25519' });
    const a = issueCertificate(ca, { commonName: 'node-a', keyType: 'ed25519' });
    const b = issueCertificate(ca, { commonName: 'node-b' }); // P-256 key under an Ed25519 CA
    const security = (cert: typeof a): SecurityOptions => ({
      mode: 'tls',
      ca: ca.certificate,
      cert: cert.certificate,
      key: cert.key,
    });
    const server = createServer({ security: security(a) });
    cleanups.push(() => server.close());
    server.on('channel', (ch) => ch.on('message', (m) => ch.send(m.type, m.payload)));
    const { port } = await server.listen();
    const channel = await connect({ port, security: security(b) });
    cleanups.push(() => channel.destroy());
    const reply = collect(channel, 1);
    channel.send(1, Uint8Array.of(1, 2, 3));
    expect([...(await reply)[0]!.payload]).toEqual([1, 2, 3]);
    expect(channel.security.peerCommonName).toBe('node-a');
  });

  it('rejects bad options naming them', () => {
    const ca = createCertificateAuthority();
    const leaf = issueCertificate(ca, { commonName: 'leaf' });
    const other = createCertificateAuthority();
    const bad: Array<[() => unknown, RegExp]> = [
      [() => issueCertificate(ca, { commonName: '' }), /commonName/],
      [() => issueCertificate(ca, { commonName: 'x', ipAddresses: ['300.1.1.1'] }), /ipAddresses/],
      [() => issueCertificate(ca, { commonName: 'x', dnsNames: ['bad name'] }), /dnsNames/],
      [() => issueCertificate(ca, { commonName: 'x', validDays: 0 }), /validDays/],
      [
        () => issueCertificate(ca, { commonName: 'x', notBefore: new Date(1000), notAfter: new Date(0) }),
        /notAfter/,
      ],
      [() => issueCertificate(leaf, { commonName: 'x' }), /not a CA/],
      [
        () => issueCertificate({ certificate: ca.certificate, key: other.key }, { commonName: 'x' }),
        /does not belong/,
      ],
      [() => issueCertificate({ certificate: 'nope', key: 'nope' }, { commonName: 'x' }), /authority/],
      [() => createCertificateAuthority({ keyType: 'rsa' as 'p256' }), /keyType/],
      [() => issueCertificate(ca, { commonName: 'x', usages: ['email' as 'server'] }), /usages/],
    ];
    for (const [make, message] of bad) expect(make).toThrow(message);
  });
});
