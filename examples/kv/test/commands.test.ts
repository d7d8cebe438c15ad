import { createGuestMemory } from '@microcheckpoint/mc-core';
import { describe, expect, it } from 'vitest';
import { executeCommand } from '../src/commands.js';
import { createKvTable } from '../src/kv-table.js';

function run() {
  const table = createKvTable(createGuestMemory({ sizeBytes: 1024 * 1024 }), { slotCount: 64 });
  return (...args: string[]) =>
    Buffer.from(
      executeCommand(
        table,
        args.map((a) => Buffer.from(a)),
      ),
    ).toString();
}

describe('commands', () => {
  it('PING, SET, GET, MGET, EXISTS, DEL as Redis answers them', () => {
    const kv = run();
    expect(kv('PING')).toBe('+PONG\r\n');
    expect(kv('ping', 'hi')).toBe('$2\r\nhi\r\n');
    expect(kv('SET', 'a', '1')).toBe('+OK\r\n');
    expect(kv('set', 'b', '')).toBe('+OK\r\n');
    expect(kv('GET', 'a')).toBe('$1\r\n1\r\n');
    expect(kv('GET', 'b')).toBe('$0\r\n\r\n');
    expect(kv('GET', 'zz')).toBe('$-1\r\n');
    expect(kv('MGET', 'a', 'zz', 'b')).toBe('*3\r\n$1\r\n1\r\n$-1\r\n$0\r\n\r\n');
    expect(kv('EXISTS', 'a', 'a', 'zz')).toBe(':2\r\n');
    expect(kv('DEL', 'a', 'zz', 'a')).toBe(':1\r\n');
    expect(kv('EXISTS', 'a')).toBe(':0\r\n');
  });

  it('INCR counts from zero, keeps int64 semantics and refuses non-integers', () => {
    const kv = run();
    expect(kv('INCR', 'n')).toBe(':1\r\n');
    expect(kv('INCR', 'n')).toBe(':2\r\n');
    expect(kv('GET', 'n')).toBe('$1\r\n2\r\n');
    kv('SET', 'm', '-5');
    expect(kv('INCR', 'm')).toBe(':-4\r\n');
    kv('SET', 'big', '9223372036854775806');
    expect(kv('INCR', 'big')).toBe(':9223372036854775807\r\n');
    expect(kv('INCR', 'big')).toBe('-ERR increment or decrement would overflow\r\n');
    for (const bad of ['abc', '01', '-0', ' 1', '1.5', '', '92233720368547758070']) {
      kv('SET', 'x', bad);
      expect(kv('INCR', 'x')).toBe('-ERR value is not an integer or out of range\r\n');
    }
  });

  it('refuses unknown commands, wrong arity and options outside the subset', () => {
    const kv = run();
    expect(kv('FLUSHALL')).toBe("-ERR unknown command 'FLUSHALL'\r\n");
    expect(kv('constructor')).toBe("-ERR unknown command 'constructor'\r\n");
    expect(kv('GET')).toBe("-ERR wrong number of arguments for 'get' command\r\n");
    expect(kv('GET', 'a', 'b')).toBe("-ERR wrong number of arguments for 'get' command\r\n");
    expect(kv('SET', 'a')).toBe("-ERR wrong number of arguments for 'set' command\r\n");
    expect(kv('SET', 'a', 'b', 'EX', '10')).toBe('-ERR syntax error\r\n');
    expect(kv('PING', 'a', 'b')).toBe("-ERR wrong number of arguments for 'ping' command\r\n");
    expect(kv('DEL')).toBe("-ERR wrong number of arguments for 'del' command\r\n");
  });

  it('answers OOM when the table is full, as Redis does at maxmemory', () => {
    const table = createKvTable(createGuestMemory({ sizeBytes: 65536 }), { slotCount: 8 });
    const kv = (...args: string[]) =>
      Buffer.from(
        executeCommand(
          table,
          args.map((a) => Buffer.from(a)),
        ),
      ).toString();
    for (let i = 0; i < 6; i++) kv('SET', `k${i}`, 'v');
    expect(kv('SET', 'k6', 'v')).toMatch(/^-OOM command not allowed: /);
    expect(kv('INCR', 'k7')).toMatch(/^-OOM /);
  });
});
