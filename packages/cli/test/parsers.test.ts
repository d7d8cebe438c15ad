import { RespReplyError, RespReplyParser } from '@microcheckpoint/example-kv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatMix, parseMix } from '../src/demo/mix.js';
import { type Reply, toReply } from '../src/demo/resp-client.js';
import { BadFlagError } from '../src/errors.js';
import { formatHostPort, parseHostPort, parseInteger } from '../src/flags.js';

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const hostname = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,3}$/);
const ipv6 = fc.ipV6();

describe('HOST:PORT flags', () => {
  it('format then parse gives the same address, for IPv4, names and IPv6', () => {
    fc.assert(
      fc.property(fc.oneof(ipv4, hostname, ipv6), fc.integer({ min: 1, max: 65535 }), (host, port) => {
        expect(parseHostPort('--x', formatHostPort({ host, port }))).toEqual({ host, port });
      }),
    );
  });

  it('anything else is a BadFlagError naming the flag, never a crash', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          const { port } = parseHostPort('--peer', text);
          expect(port).toBeGreaterThan(0);
          expect(port).toBeLessThanOrEqual(65535);
        } catch (error) {
          expect(error).toBeInstanceOf(BadFlagError);
          expect((error as BadFlagError).code).toBe('MC_ERR_CLI_BAD_FLAG');
          expect((error as Error).message.startsWith('--peer:')).toBe(true);
        }
      }),
    );
  });

  it('port 0 only where a listener may pick one', () => {
    expect(parseHostPort('--listen', '127.0.0.1:0', true)).toEqual({ host: '127.0.0.1', port: 0 });
    expect(() => parseHostPort('--secondary', '127.0.0.1:0')).toThrow(BadFlagError);
    expect(() => parseHostPort('--x', '[not-v6]:80')).toThrow(/IPv6/);
  });

  it('whole numbers within bounds, else a BadFlagError', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 1000 }), (n) => {
        if (n >= 1 && n <= 100) expect(parseInteger('--n', String(n), 1, 100)).toBe(n);
        else expect(() => parseInteger('--n', String(n), 1, 100)).toThrow(BadFlagError);
      }),
    );
    for (const bad of ['', '1.5', '1e3', 'ten', ' '])
      expect(() => parseInteger('--n', bad, 0, 1e6)).toThrow(BadFlagError);
  });
});

describe('--mix', () => {
  it('reads back what it formats for every split of 100 with a write in it', () => {
    fc.assert(
      fc.property(fc.nat(100), fc.nat(100), (a, b) => {
        const set = Math.min(a, 100);
        const incr = Math.min(b, 100 - set);
        const mix = { set, get: 100 - set - incr, incr };
        if (set + incr === 0) expect(() => parseMix(formatMix(mix))).toThrow(BadFlagError);
        else expect(parseMix(formatMix(mix))).toEqual(mix);
      }),
    );
  });

  it('rejects shares that do not sum to 100 and unknown commands', () => {
    expect(() => parseMix('set=50,get=40')).toThrow(/sum to 100/);
    expect(() => parseMix('set=50,del=50')).toThrow(BadFlagError);
    expect(parseMix('SET=100')).toEqual({ set: 100, get: 0, incr: 0 });
  });
});

/** An independent RESP2 encoder of replies, to check the demo client's decoder against. */
function encodeReply(r: Reply): string {
  if (r === null) return '$-1\r\n';
  if (typeof r === 'number') return `:${r}\r\n`;
  if (typeof r === 'string') return `$${Buffer.byteLength(r)}\r\n${r}\r\n`;
  if (Array.isArray(r)) return `*${r.length}\r\n${r.map(encodeReply).join('')}`;
  return `-${r.error}\r\n`;
}

const reply: fc.Arbitrary<Reply> = fc.letrec<{ reply: Reply }>((tie) => ({
  reply: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.integer(),
    fc.string(),
    fc.record({ error: fc.stringMatching(/^[A-Z]+ [ -~]{0,20}$/) }),
    fc.array(tie('reply'), { maxLength: 4 }),
  ),
})).reply;

/** What the demo's client makes of a byte stream: the shared parser, then its own reply shape. */
const decode = (bytes: Uint8Array) => new RespReplyParser().push(bytes).map(toReply);

describe('the demo client RESP decoder', () => {
  it('decodes every reply a server encodes, also several back to back', () => {
    fc.assert(
      fc.property(fc.array(reply, { minLength: 1, maxLength: 5 }), (replies) => {
        expect(decode(Buffer.from(replies.map(encodeReply).join('')))).toEqual(replies);
      }),
    );
  });

  it('waits on every truncated reply', () => {
    fc.assert(
      fc.property(reply, fc.nat(), (r, cut) => {
        const bytes = Buffer.from(encodeReply(r));
        expect(decode(bytes.subarray(0, cut % bytes.length))).toEqual([]);
      }),
    );
  });

  it('rejects a reply that is not RESP with a typed error', () => {
    for (const bad of ['?what\r\n', '$abc\r\n', '*1.5\r\n']) {
      expect(() => decode(Buffer.from(bad))).toThrow(RespReplyError);
    }
  });
});
