import { GENERATION_DIGITS } from './constants.js';
import { ArbiterStateError } from './errors.js';

/**
 * Where the arbiter keeps its state in etcd, all below one prefix:
 * - `<prefix>/highest`: the highest generation ever granted and its node, `<16 digits> <node>`, no
 *   lease. It only ever grows, which is what refuses older generations forever.
 * - `<prefix>/owner/<16 digits>`: the owner of that generation, value = node name, attached to the
 *   holder's lease. It exists exactly while the grant is live; its mod revision is the fencing token.
 */
export class KeyLayout {
  readonly highest: Buffer;
  readonly ownersStart: Buffer;
  readonly ownersEnd: Buffer;
  readonly #ownerPrefix: string;

  constructor(prefix: string) {
    this.highest = Buffer.from(`${prefix}/highest`);
    this.#ownerPrefix = `${prefix}/owner/`;
    this.ownersStart = Buffer.from(this.#ownerPrefix);
    // '0' is the byte after '/': [ownersStart, ownersEnd) is every key below `<prefix>/owner/`.
    this.ownersEnd = Buffer.from(`${prefix}/owner0`);
  }

  owner(generation: number): Buffer {
    return Buffer.from(this.#ownerPrefix + encodeGeneration(generation));
  }

  /** The generation an owner key names; throws ArbiterStateError for a key this package never writes. */
  ownerGeneration(key: Buffer): number {
    const text = key.toString('utf8');
    return decodeGeneration(text, text.slice(this.#ownerPrefix.length));
  }
}

/** The highest generation granted so far and who got it. */
export interface HighestRecord {
  generation: number;
  node: string;
}

export function encodeGeneration(generation: number): string {
  return String(generation).padStart(GENERATION_DIGITS, '0');
}

export function encodeHighest(record: HighestRecord): Buffer {
  return Buffer.from(`${encodeGeneration(record.generation)} ${record.node}`);
}

export function decodeHighest(key: string, value: Buffer): HighestRecord {
  const text = value.toString('utf8');
  const space = text.indexOf(' ');
  if (space !== GENERATION_DIGITS || text.length === space + 1) {
    throw new ArbiterStateError(
      key,
      `expected "<${GENERATION_DIGITS} digits> <node>", found ${JSON.stringify(text)}`,
    );
  }
  return { generation: decodeGeneration(key, text.slice(0, space)), node: text.slice(space + 1) };
}

function decodeGeneration(key: string, digits: string): number {
  if (digits.length !== GENERATION_DIGITS || !/^\d+$/.test(digits)) {
    throw new ArbiterStateError(
      key,
      `${JSON.stringify(digits)} is not a ${GENERATION_DIGITS}-digit generation`,
    );
  }
  const generation = Number(digits);
  if (!Number.isSafeInteger(generation) || generation < 1) {
    throw new ArbiterStateError(key, `generation ${digits} is out of range`);
  }
  return generation;
}
