import { KvFullError } from './errors.js';
import type { KvTable } from './kv-table.js';
import { arrayReply, bulkReply, errorReply, integerReply, simpleString } from './resp.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const decoder = new TextDecoder();
const encoder = new TextEncoder();
const PONG = simpleString('PONG');
const OK = simpleString('OK');

type Command = (table: KvTable, args: Uint8Array[]) => Uint8Array;

// Arity as Redis counts it, command name included: n exactly, or -n for at least n.
const COMMANDS: Record<string, { arity: number; run: Command }> = {
  PING: {
    arity: -1,
    run: (_table, args) => {
      if (args.length > 2) return wrongArity('ping');
      return args.length === 2 ? bulkReply(args[1]!) : PONG;
    },
  },
  GET: { arity: 2, run: (table, args) => bulkReply(table.get(args[1]!)) },
  SET: {
    arity: -3,
    run: (table, args) => {
      // Options (EX, NX, ...) are outside the subset: refuse rather than ignore them.
      if (args.length !== 3) return errorReply('ERR syntax error');
      table.set(args[1]!, args[2]!);
      return OK;
    },
  },
  DEL: {
    arity: -2,
    run: (table, args) => {
      let removed = 0;
      for (let i = 1; i < args.length; i++) if (table.delete(args[i]!)) removed++;
      return integerReply(removed);
    },
  },
  EXISTS: {
    arity: -2,
    run: (table, args) => {
      let found = 0;
      for (let i = 1; i < args.length; i++) if (table.has(args[i]!)) found++;
      return integerReply(found);
    },
  },
  MGET: {
    arity: -2,
    run: (table, args) => arrayReply(args.slice(1).map((key) => bulkReply(table.get(key)))),
  },
  INCR: {
    arity: 2,
    run: (table, args) => {
      const key = args[1]!;
      const current = table.get(key);
      let value = 0n;
      if (current !== null) {
        const parsed = parseInt64(current);
        if (parsed === null) return errorReply('ERR value is not an integer or out of range');
        value = parsed;
      }
      if (value === INT64_MAX) return errorReply('ERR increment or decrement would overflow');
      value += 1n;
      table.set(key, encoder.encode(value.toString()));
      return integerReply(value);
    },
  },
};

function wrongArity(name: string): Uint8Array {
  return errorReply(`ERR wrong number of arguments for '${name}' command`);
}

// Redis's string2ll: optional minus, no leading zeros, no sign on zero, within int64.
function parseInt64(bytes: Uint8Array): bigint | null {
  if (bytes.length === 0 || bytes.length > 20) return null;
  const text = decoder.decode(bytes);
  if (!/^(0|-?[1-9][0-9]*)$/.test(text)) return null;
  const value = BigInt(text);
  return value < INT64_MIN || value > INT64_MAX ? null : value;
}

/** Names of the commands the service speaks. */
export const SUPPORTED_COMMANDS = Object.keys(COMMANDS);

/**
 * Runs one command against the table and returns the encoded reply. Every reply is a fresh buffer
 * (values are copied out of guest memory), so it stays valid while it waits in an output queue.
 */
export function executeCommand(table: KvTable, args: readonly Uint8Array[]): Uint8Array {
  const name = decoder.decode(args[0] ?? new Uint8Array(0));
  const upper = name.toUpperCase();
  const command = Object.hasOwn(COMMANDS, upper) ? COMMANDS[upper] : undefined;
  if (command === undefined) {
    return errorReply(`ERR unknown command '${name.slice(0, 128)}'`);
  }
  const { arity, run } = command;
  if ((arity > 0 && args.length !== arity) || args.length < -arity) return wrongArity(name.toLowerCase());
  try {
    return run(table, args as Uint8Array[]);
  } catch (err) {
    if (err instanceof KvFullError) return errorReply(`OOM command not allowed: ${err.message}`);
    throw err;
  }
}
