import { InvalidArgumentError } from './errors.js';

/**
 * A minimal DER (X.690 Distinguished Encoding Rules) encoder: exactly the types an X.509 certificate
 * needs, each with the single encoding DER allows. Node can parse and verify certificates but cannot
 * write one; this is the part it is missing.
 */

/** Universal and context tag bytes used here. */
export const DER_TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

/** Encodes a definite length: short form below 128, else the minimal long form. */
export function encodeLength(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) throw new InvalidArgumentError(`DER length ${length}`);
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** Joins byte arrays into one. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.byteLength;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** One tag-length-value element with the given (single-byte) tag and content. */
export function derElement(tag: number, content: Uint8Array): Uint8Array {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xff || (tag & 0x1f) === 0x1f) {
    throw new InvalidArgumentError(`DER tag ${tag} is not a single-byte tag`);
  }
  return concatBytes([Uint8Array.of(tag), encodeLength(content.byteLength), content]);
}

/** SEQUENCE of already encoded elements, in the given order. */
export function derSequence(elements: readonly Uint8Array[]): Uint8Array {
  return derElement(DER_TAG.sequence, concatBytes(elements));
}

/** SET OF already encoded elements; DER orders them by their encodings. */
export function derSet(elements: readonly Uint8Array[]): Uint8Array {
  const sorted = [...elements].sort(compareBytes);
  return derElement(DER_TAG.set, concatBytes(sorted));
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.byteLength - b.byteLength;
}

/** BOOLEAN: DER requires 0xff for true. */
export function derBoolean(value: boolean): Uint8Array {
  return derElement(DER_TAG.boolean, Uint8Array.of(value ? 0xff : 0x00));
}

/** NULL. */
export function derNull(): Uint8Array {
  return derElement(DER_TAG.null, new Uint8Array(0));
}

/**
 * INTEGER from a bigint, two's complement, in the fewest bytes: no redundant leading 0x00 or 0xff,
 * and a 0x00 prepended when a positive value's top bit is set.
 */
export function derInteger(value: bigint | number): Uint8Array {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(`DER integer ${value} is not a safe integer`);
  }
  return derElement(DER_TAG.integer, integerContent(BigInt(value)));
}

/** The content octets of an INTEGER: minimal two's complement, big-endian. */
export function integerContent(value: bigint): Uint8Array {
  const bytes: number[] = [];
  let rest = value;
  // Emit low bytes until what is left is pure sign extension of the top byte emitted.
  for (;;) {
    const byte = Number(BigInt.asUintN(8, rest));
    bytes.unshift(byte);
    rest >>= 8n;
    if ((rest === 0n && (byte & 0x80) === 0) || (rest === -1n && (byte & 0x80) !== 0)) break;
  }
  return Uint8Array.from(bytes);
}

/**
 * INTEGER from unsigned big-endian bytes (a serial number): leading zeros dropped, one 0x00 added
 * back when the top bit is set so the value stays positive.
 */
export function derUnsignedInteger(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.byteLength - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.byteLength === 0 ? Uint8Array.of(0) : bytes.subarray(start);
  const content = (trimmed[0]! & 0x80) !== 0 ? concatBytes([Uint8Array.of(0), trimmed]) : trimmed;
  return derElement(DER_TAG.integer, content);
}

/** OBJECT IDENTIFIER from dotted notation ("1.2.840.10045.4.3.2"). */
export function derOid(dotted: string): Uint8Array {
  return derElement(DER_TAG.oid, oidContent(dotted));
}

/** The content octets of an OBJECT IDENTIFIER: first two arcs merged, then base-128 arcs. */
export function oidContent(dotted: string): Uint8Array {
  if (!/^\d+(\.\d+)+$/.test(dotted)) throw new InvalidArgumentError(`OID ${dotted} is not dotted decimal`);
  const arcs = dotted.split('.').map((arc) => BigInt(arc));
  const [first, second] = arcs as [bigint, bigint];
  if (first > 2n || (first < 2n && second > 39n)) {
    throw new InvalidArgumentError(`OID ${dotted}: first arcs out of range`);
  }
  const out: number[] = [];
  for (const arc of [first * 40n + second, ...arcs.slice(2)]) {
    const group: number[] = [Number(arc & 0x7fn)];
    for (let rest = arc >> 7n; rest > 0n; rest >>= 7n) group.unshift(Number(rest & 0x7fn) | 0x80);
    out.push(...group);
  }
  return Uint8Array.from(out);
}

/** OCTET STRING. */
export function derOctetString(bytes: Uint8Array): Uint8Array {
  return derElement(DER_TAG.octetString, bytes);
}

/** BIT STRING of whole bytes (a key or a signature): zero unused bits. */
export function derBitString(bytes: Uint8Array): Uint8Array {
  return derElement(DER_TAG.bitString, concatBytes([Uint8Array.of(0), bytes]));
}

/**
 * BIT STRING of named bits (keyUsage): bit 0 is the most significant bit of the first byte. DER drops
 * trailing zero bits, so the length and the unused-bit count follow from the highest bit set.
 */
export function derNamedBits(bits: readonly number[]): Uint8Array {
  if (bits.length === 0) return derElement(DER_TAG.bitString, Uint8Array.of(0));
  const highest = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(highest / 8) + 1);
  for (const bit of bits) {
    if (!Number.isInteger(bit) || bit < 0) throw new InvalidArgumentError(`named bit ${bit}`);
    bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  }
  const unused = 7 - (highest & 7);
  return derElement(DER_TAG.bitString, concatBytes([Uint8Array.of(unused), bytes]));
}

function asciiString(tag: number, value: string, allowed: RegExp, what: string): Uint8Array {
  if (!allowed.test(value))
    throw new InvalidArgumentError(`${what} ${JSON.stringify(value)} has characters it cannot hold`);
  return derElement(tag, new TextEncoder().encode(value));
}

/** UTF8String. */
export function derUtf8String(value: string): Uint8Array {
  return derElement(DER_TAG.utf8String, new TextEncoder().encode(value));
}

/** IA5String (ASCII): DNS names in a SubjectAltName. */
export function derIa5String(value: string): Uint8Array {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: IA5 is exactly 7-bit ASCII
  return asciiString(DER_TAG.ia5String, value, /^[\x00-\x7f]*$/, 'IA5String');
}

/**
 * A certificate validity time: UTCTime for 1950 to 2049, GeneralizedTime otherwise (RFC 5280
 * 4.1.2.5), always in UTC with whole seconds.
 */
export function derTime(date: Date): Uint8Array {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new InvalidArgumentError('certificate time is not a valid date');
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new InvalidArgumentError(`certificate year ${year} out of range`);
  const two = (n: number) => String(n).padStart(2, '0');
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  if (year >= 1950 && year < 2050)
    return asciiString(DER_TAG.utcTime, `${two(year % 100)}${rest}`, /^\d{12}Z$/, 'UTCTime');
  return asciiString(
    DER_TAG.generalizedTime,
    `${String(year).padStart(4, '0')}${rest}`,
    /^\d{14}Z$/,
    'GeneralizedTime',
  );
}

/** [n] EXPLICIT: a constructed context tag around one encoded element. */
export function derExplicit(tagNumber: number, element: Uint8Array): Uint8Array {
  return derElement(0xa0 | contextTagNumber(tagNumber), element);
}

/** [n] IMPLICIT primitive: the content of a primitive type under a context tag (GeneralName choices). */
export function derImplicitPrimitive(tagNumber: number, content: Uint8Array): Uint8Array {
  return derElement(0x80 | contextTagNumber(tagNumber), content);
}

function contextTagNumber(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 30) throw new InvalidArgumentError(`context tag [${n}]`);
  return n;
}
