import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RespReplyError } from '../src/errors.js';
import { arrayReply, bulkReply, encodeCommand, errorReply, integerReply, simpleString } from '../src/resp.js';
import { type RespReply, RespReplyParser } from '../src/resp-reply.js';

/** The server side of a reply, with the KV service's own encoders: what the parser must read back. */
function encodeReply(reply: RespReply): Uint8Array {
  switch (reply.kind) {
    case 'simple':
      return simpleString(reply.value);
    case 'error':
      return errorReply(reply.value);
    case 'integer':
      return integerReply(reply.value);
    case 'bulk':
      return bulkReply(reply.value);
    case 'array':
      return reply.value === null
        ? new TextEncoder().encode('*-1\r\n')
        : arrayReply(reply.value.map(encodeReply));
  }
}

const text = fc.string({ maxLength: 40 }).filter((s) => !s.includes('\r') && !s.includes('\n'));
const reply: fc.Arbitrary<RespReply> = fc.letrec<{ reply: RespReply }>((tie) => ({
  reply: fc.oneof(
    { depthSize: 'small' },
    text.map((value) => ({ kind: 'simple', value }) as const),
    text.map((value) => ({ kind: 'error', value }) as const),
    fc
      .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
      .map((value) => ({ kind: 'integer', value }) as const),
    fc.option(fc.uint8Array({ maxLength: 64 })).map((value) => ({ kind: 'bulk', value }) as const),
    fc.option(fc.array(tie('reply'), { maxLength: 4 })).map((value) => ({ kind: 'array', value }) as const),
  ),
})).reply;

describe('RespReplyParser', () => {
  it('decodes what encodeReply encodes, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(reply, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (replies, cuts) => {
          const bytes = Buffer.concat(replies.map((r) => encodeReply(r)));
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const parser = new RespReplyParser();
          const out: RespReply[] = [];
          let last = 0;
          for (const p of [...points, bytes.length]) {
            out.push(...parser.push(bytes.subarray(last, p)));
            last = p;
          }
          expect(out).toEqual(replies);
          expect(parser.pendingBytes).toBe(0);
        },
      ),
    );
  });

  it('waits on a truncated reply instead of guessing', () => {
    fc.assert(
      fc.property(reply, (r) => {
        const bytes = encodeReply(r);
        const parser = new RespReplyParser();
        expect(parser.push(bytes.subarray(0, bytes.length - 1))).toEqual([]);
        expect(parser.push(bytes.subarray(bytes.length - 1))).toEqual([r]);
      }),
    );
  });

  it('throws a typed error on corrupted input', () => {
    const bad = [
      '?oops\r\n',
      ':12a\r\n',
      '$5\r\nabc\r\nxx',
      '$-2\r\n',
      '*x\r\n',
      '+ok\rX',
      '+ok\n',
      `$${2 ** 21}\r\n`,
    ];
    for (const b of bad)
      expect(() => new RespReplyParser().push(new TextEncoder().encode(b))).toThrow(RespReplyError);
  });

  it('encodes requests as arrays of bulk strings', () => {
    expect(new TextDecoder().decode(encodeCommand(['SET', 'r1', '12']))).toBe(
      '*3\r\n$3\r\nSET\r\n$2\r\nr1\r\n$2\r\n12\r\n',
    );
  });
});
