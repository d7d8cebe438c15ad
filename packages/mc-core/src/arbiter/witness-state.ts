import { closeSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { WitnessStateError } from '../errors.js';
import { MAX_WITNESS_NODE_BYTES, MAX_WITNESS_TTL_MS, WITNESS_STATE_VERSION } from './witness-constants.js';

/** What a witness must remember across a restart to keep its promises. */
export interface WitnessDurableState {
  /** The last token handed out: the next one is larger, even after a restart. */
  lastToken: number;
  /** Highest generation ever granted and its node: older generations stay refused after a restart. */
  highest: { generation: number; node: string } | null;
  /**
   * The owner whose grant may still be live, with the TTL it was last given. After a restart the
   * witness cannot know how much of it is left, so it counts the whole TTL again from the restart.
   */
  owner: { generation: number; node: string; token: number; ttlMs: number } | null;
}

/**
 * Reads a state file written by `saveWitnessState`. Resolves null when the file does not exist (a
 * first start).
 * @throws WitnessStateError when the file exists but is unreadable, corrupted or of another version.
 */
export function loadWitnessState(file: string): WitnessDurableState | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new WitnessStateError(`cannot read witness state file ${file}`, err);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new WitnessStateError(`witness state file ${file} is not JSON (corrupted?)`, err);
  }
  if (!isRecord(parsed) || parsed.version !== WITNESS_STATE_VERSION) {
    throw new WitnessStateError(`witness state file ${file} is not version ${WITNESS_STATE_VERSION}`);
  }
  if (typeof parsed.state !== 'object' || typeof parsed.crc32c !== 'number') {
    throw new WitnessStateError(`witness state file ${file} lacks its state or checksum`);
  }
  const body = JSON.stringify(parsed.state);
  if (crc32c(Buffer.from(body)) !== parsed.crc32c) {
    throw new WitnessStateError(`witness state file ${file} fails its checksum (corrupted)`);
  }
  const state = validate(parsed.state);
  if (state === null) throw new WitnessStateError(`witness state file ${file} holds an invalid state`);
  return state;
}

/**
 * Replaces the state file atomically: the new content goes to `<file>.tmp`, is flushed to disk, renamed
 * over the file, and the directory is flushed, so that after a crash the file holds either the old or
 * the new state, never a mix. Resolves once the new state is durable.
 * @throws WitnessStateError when any step fails; the previous file is then still intact.
 */
export async function saveWitnessState(file: string, state: WitnessDurableState): Promise<void> {
  const body = JSON.stringify(state);
  const text = `${JSON.stringify({ version: WITNESS_STATE_VERSION, state, crc32c: crc32c(Buffer.from(body)) })}\n`;
  const temporary = `${file}.tmp`;
  try {
    const handle = await open(temporary, 'w', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
    syncDirectory(dirname(file));
  } catch (err) {
    throw new WitnessStateError(`cannot write witness state file ${file}`, err);
  }
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}

function isNode(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && Buffer.byteLength(value) <= MAX_WITNESS_NODE_BYTES;
}

function validate(value: unknown): WitnessDurableState | null {
  if (!isRecord(value) || !isCount(value.lastToken, 0)) return null;
  let highest: WitnessDurableState['highest'] = null;
  if (value.highest !== null) {
    const h = value.highest;
    if (!isRecord(h) || !isCount(h.generation, 1) || !isNode(h.node)) return null;
    highest = { generation: h.generation, node: h.node };
  }
  let owner: WitnessDurableState['owner'] = null;
  if (value.owner !== null) {
    const o = value.owner;
    if (!isRecord(o) || !isCount(o.generation, 1) || !isNode(o.node) || !isCount(o.token, 1)) return null;
    if (!isCount(o.ttlMs, 1) || o.ttlMs > MAX_WITNESS_TTL_MS) return null;
    // An owner always holds the highest generation and a token already handed out.
    if (highest === null || o.generation !== highest.generation || o.node !== highest.node) return null;
    if (o.token > value.lastToken) return null;
    owner = { generation: o.generation, node: o.node, token: o.token, ttlMs: o.ttlMs };
  }
  if (highest !== null && value.lastToken < 1) return null;
  return { lastToken: value.lastToken, highest, owner };
}
