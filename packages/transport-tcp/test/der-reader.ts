// A tiny, strict DER reader for the tests: it decodes what src/der.ts writes and refuses any
// encoding DER forbids (long-form lengths that fit the short form, leading zero length bytes), so a
// round trip through it checks the encoder's choices, not only its values.

/** One decoded element. */
export interface DerNode {
  tag: number;
  /** Content octets. */
  content: Uint8Array;
  /** Children, for constructed tags (bit 0x20). */
  children: DerNode[];
  /** Bytes the whole element took. */
  size: number;
}

/** Reads one element at `at`; throws on anything malformed or not minimal. */
export function readDer(bytes: Uint8Array, at = 0): DerNode {
  if (at >= bytes.length) throw new Error('DER: no tag');
  const tag = bytes[at]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: multi-byte tags are not used');
  const first = bytes[at + 1];
  if (first === undefined) throw new Error('DER: no length');
  let length = first;
  let header = 2;
  if (first >= 0x80) {
    const count = first & 0x7f;
    if (count === 0) throw new Error('DER: indefinite length');
    if (bytes[at + 2] === 0) throw new Error('DER: length has a leading zero byte');
    length = 0;
    for (let i = 0; i < count; i++) {
      const b = bytes[at + 2 + i];
      if (b === undefined) throw new Error('DER: truncated length');
      length = length * 256 + b;
    }
    if (length < 0x80) throw new Error('DER: long-form length for a short length');
    header = 2 + count;
  }
  const end = at + header + length;
  if (end > bytes.length) throw new Error('DER: truncated content');
  const content = bytes.subarray(at + header, end);
  const children: DerNode[] = [];
  if ((tag & 0x20) !== 0) {
    for (let pos = 0; pos < content.length; ) {
      const child = readDer(content, pos);
      children.push(child);
      pos += child.size;
    }
  }
  return { tag, content, children, size: header + length };
}

/** Reads exactly one element spanning all of `bytes`. */
export function readWholeDer(bytes: Uint8Array): DerNode {
  const node = readDer(bytes);
  if (node.size !== bytes.length) throw new Error(`DER: ${bytes.length - node.size} trailing bytes`);
  return node;
}

/** INTEGER content as a bigint (two's complement), refusing non-minimal encodings. */
export function integerValue(content: Uint8Array): bigint {
  if (content.length === 0) throw new Error('DER: empty INTEGER');
  if (content.length > 1) {
    if (content[0] === 0x00 && (content[1]! & 0x80) === 0) throw new Error('DER: redundant 0x00');
    if (content[0] === 0xff && (content[1]! & 0x80) !== 0) throw new Error('DER: redundant 0xff');
  }
  let value = 0n;
  for (const byte of content) value = (value << 8n) | BigInt(byte);
  if ((content[0]! & 0x80) !== 0) value -= 1n << BigInt(content.length * 8);
  return value;
}

/** OBJECT IDENTIFIER content as dotted decimal. */
export function oidValue(content: Uint8Array): string {
  const arcs: bigint[] = [];
  let current = 0n;
  let started = false;
  for (const byte of content) {
    if (!started && byte === 0x80) throw new Error('DER: OID arc with a leading 0x80');
    started = (byte & 0x80) !== 0;
    current = (current << 7n) | BigInt(byte & 0x7f);
    if (!started) {
      arcs.push(current);
      current = 0n;
    }
  }
  if (started || arcs.length === 0) throw new Error('DER: truncated OID');
  const first = arcs[0]!;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}
