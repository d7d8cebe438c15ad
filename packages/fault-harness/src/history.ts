import { HistoryFormatError } from './errors.js';

/** What a client asked for. */
export type OpKind = 'set' | 'incr' | 'get';

/**
 * How an operation ended, from the client's point of view:
 * - `ok`: a reply was seen;
 * - `fail`: it certainly did not take effect (never sent, or the server answered with an error);
 * - `info`: sent, no reply (timeout, connection lost): it may or may not have taken effect.
 */
export type Outcome = 'ok' | 'fail' | 'info';

/** One operation as a client recorded it. Times are wall-clock milliseconds (one host clock). */
export interface Operation {
  readonly client: number;
  readonly index: number;
  readonly op: OpKind;
  readonly key: string;
  /** set: the integer written. */
  readonly value?: number;
  readonly invokeMs: number;
  readonly completeMs: number;
  readonly outcome: Outcome;
  /** get: the integer read (null: no such key); incr: the integer returned. */
  readonly result?: number | null;
  /** The node the request went to (`primary`, `secondary` or `spare`). */
  readonly node: string;
  /** Why it failed or is unknown (error reply, timeout, connection error). */
  readonly error?: string;
}

/** The value of every key in the final state (null: absent), or null when no node served. */
export type FinalState = ReadonlyMap<string, number | null> | null;

/**
 * Output one node released under one generation in one mode: what its release log adds up to.
 * `alone` releases were made under the node's own grant (serving after a takeover, or a primary
 * without a secondary); the others on a checkpoint's ACK, while protected, when no node holds a
 * grant.
 */
export interface ReleaseSpan {
  readonly node: string;
  readonly generation: number;
  readonly token: number;
  readonly alone: boolean;
  readonly count: number;
  readonly firstMs: number;
  readonly lastMs: number;
}

/** The last word of a release log line. */
const RELEASE_MODES: Readonly<Record<string, boolean>> = { alone: true, acked: false };

const OP_KINDS: readonly string[] = ['set', 'incr', 'get'];
const OUTCOMES: readonly string[] = ['ok', 'fail', 'info'];

/** Parses one JSON line of a history file; anything that is not an operation is a typed error. */
export function parseOperation(line: string): Operation {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (err) {
    throw new HistoryFormatError(`not JSON: ${line.slice(0, 80)}`, { cause: err });
  }
  if (raw === null || typeof raw !== 'object') throw new HistoryFormatError('an operation is an object');
  const o = raw as Record<string, unknown>;
  const int = (name: string) => {
    if (!Number.isSafeInteger(o[name])) throw new HistoryFormatError(`${name} must be an integer`);
    return o[name] as number;
  };
  const num = (name: string) => {
    if (typeof o[name] !== 'number' || !Number.isFinite(o[name]))
      throw new HistoryFormatError(`${name} must be a number`);
    return o[name] as number;
  };
  if (typeof o.op !== 'string' || !OP_KINDS.includes(o.op))
    throw new HistoryFormatError(`bad op ${String(o.op)}`);
  if (typeof o.outcome !== 'string' || !OUTCOMES.includes(o.outcome)) {
    throw new HistoryFormatError(`bad outcome ${String(o.outcome)}`);
  }
  if (typeof o.key !== 'string' || o.key.length === 0)
    throw new HistoryFormatError('key must be a non-empty string');
  if (typeof o.node !== 'string') throw new HistoryFormatError('node must be a string');
  if (o.result !== undefined && o.result !== null && !Number.isSafeInteger(o.result)) {
    throw new HistoryFormatError('result must be an integer or null');
  }
  if (o.op === 'set' && !Number.isSafeInteger(o.value))
    throw new HistoryFormatError('a set needs an integer value');
  const op: Operation = {
    client: int('client'),
    index: int('index'),
    op: o.op as OpKind,
    key: o.key,
    ...(o.op === 'set' ? { value: o.value as number } : {}),
    invokeMs: num('invokeMs'),
    completeMs: num('completeMs'),
    outcome: o.outcome as Outcome,
    ...(o.result === undefined ? {} : { result: o.result as number | null }),
    node: o.node,
    ...(typeof o.error === 'string' ? { error: o.error } : {}),
  };
  if (op.completeMs < op.invokeMs) throw new HistoryFormatError('completeMs is before invokeMs');
  if (op.outcome === 'ok' && op.op !== 'set' && op.result === undefined) {
    throw new HistoryFormatError(`an acknowledged ${op.op} needs its result`);
  }
  return op;
}

/** Parses a whole history file (JSON lines; blank lines ignored). */
export function parseHistory(text: string): Operation[] {
  return text
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map(parseOperation);
}

/**
 * Sums a node's release log (lines `<generation> <token> <wall ms> <alone|acked>`) into one span
 * per generation and mode. A torn last line (the node was SIGKILLed mid-write) is ignored; any
 * other bad line is an error.
 */
export function parseReleaseLog(node: string, text: string): ReleaseSpan[] {
  const spans = new Map<
    string,
    Omit<ReleaseSpan, 'node'> & { count: number; firstMs: number; lastMs: number }
  >();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length === 0) continue;
    const parts = line.split(' ');
    const [generation, token, atMs] = parts.slice(0, 3).map(Number);
    const alone = RELEASE_MODES[parts[3] ?? ''];
    const valid =
      parts.length === 4 &&
      alone !== undefined &&
      Number.isSafeInteger(generation) &&
      Number.isSafeInteger(token) &&
      Number.isFinite(atMs) &&
      (generation as number) >= 0;
    if (!valid) {
      if (i === lines.length - 1) continue;
      throw new HistoryFormatError(
        `${node} release log line ${i + 1} is not "<generation> <token> <ms> <alone|acked>": ${line}`,
      );
    }
    const g = generation as number;
    const at = atMs as number;
    const key = `${g} ${alone}`;
    const span = spans.get(key);
    if (span === undefined)
      spans.set(key, { generation: g, token: token as number, alone, count: 1, firstMs: at, lastMs: at });
    else {
      span.count++;
      span.firstMs = Math.min(span.firstMs, at);
      span.lastMs = Math.max(span.lastMs, at);
    }
  }
  return [...spans.values()].map((s) => ({ node, ...s }));
}
