import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RespProtocolError } from '../src/errors.js';
import { encodeCommand, RespParser } from '../src/resp.js';

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

function parseAll(parser: RespParser, chunks: Uint8Array[]) {
  const commands: string[][] = [];
  let error: RespProtocolError | undefined;
  for (const chunk of chunks) {
    const result = parser.push(chunk);
    commands.push(...result.commands.map((c) => c.map((a) => Buffer.from(a).toString('latin1'))));
    error ??= result.error;
  }
  return { commands, error };
}

const arg = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a).toString('latin1'));
const command = fc.array(arg, { minLength: 1, maxLength: 6 });

describe('RESP request parser', () => {
  it('parses any sequence of commands split into any chunks', () => {
    fc.assert(
      fc.property(
        fc.array(command, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (commands, cuts) => {
          const bytes = Buffer.concat(
            commands.map((c) => encodeCommand(c.map((a) => Buffer.from(a, 'latin1')))),
          );
          const { commands: parsed, error } = parseAll(new RespParser(), splitAt(bytes, cuts));
          expect(error).toBeUndefined();
          expect(parsed).toEqual(commands);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('parses inline commands, with or without CR, and skips empty lines and empty arrays', () => {
    const parser = new RespParser();
    const { commands } = parseAll(parser, [Buffer.from('PING\r\nSET  a\t b\n\r\n*0\r\n*-1\r\nGET a\r\n')]);
    expect(commands).toEqual([['PING'], ['SET', 'a', 'b'], ['GET', 'a']]);
  });

  it('gathers a large value arriving in many chunks and returns views, not copies', () => {
    const value = Buffer.alloc(1_000_000, 7);
    const bytes = encodeCommand([Buffer.from('SET'), Buffer.from('k'), value]);
    const parser = new RespParser();
    let result: Uint8Array[][] = [];
    for (let at = 0; at < bytes.length; at += 1000) {
      result = result.concat(parser.push(bytes.subarray(at, at + 1000)).commands);
      if (at + 1000 < bytes.length) expect(parser.bufferedBytes).toBe(at + 1000);
    }
    expect(result).toHaveLength(1);
    expect(Buffer.from(result[0]![2]!).equals(value)).toBe(true);
    expect(parser.bufferedBytes).toBe(0);
  });

  const broken: Array<[string, string, Record<string, number>?]> = [
    ['*2\r\n$3\r\nGET\r\n:1\r\n', "expected '$', got ':'"],
    ['*1\r\n$-5\r\n', 'invalid bulk length'],
    ['*1\r\n$9\r\n', 'invalid bulk length', { maxBulkBytes: 8 }],
    ['*x\r\n', 'invalid multibulk length'],
    ['*5\r\n', 'invalid multibulk length', { maxArgs: 4 }],
    ['*1\r\n$3\r\nGETXY', 'does not end in CRLF'],
    ['*1\n', 'does not end in CRLF'],
    [`*${'1'.repeat(40)}\r\n`, 'too long'],
    ['A'.repeat(70 * 1024), 'too big inline request'],
  ];
  for (const [input, message, limits] of broken) {
    it(`refuses ${JSON.stringify(input.slice(0, 24))} with "${message}", keeping the commands before it`, () => {
      const parser = new RespParser(limits);
      const { commands, error } = parseAll(parser, [Buffer.from(`PING\r\n${input}`)]);
      expect(commands).toEqual([['PING']]);
      expect(error).toBeInstanceOf(RespProtocolError);
      expect(error!.code).toBe('MC_ERR_RESP_PROTOCOL');
      expect(error!.message).toContain(message);
      // After an error the parser takes nothing more: the connection is to be closed.
      expect(parser.push(Buffer.from('PING\r\n')).commands).toEqual([]);
    });
  }

  it('waits for the rest of an incomplete command without error', () => {
    const parser = new RespParser();
    for (const part of ['*', '2\r', '\n$3\r\nG', 'ET\r\n$1\r', '\nk\r']) {
      const r = parser.push(Buffer.from(part));
      expect(r).toEqual({ commands: [] });
    }
    expect(
      parser.push(Buffer.from('\n')).commands.map((c) => c.map((a) => Buffer.from(a).toString())),
    ).toEqual([['GET', 'k']]);
  });
});
