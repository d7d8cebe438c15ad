import type { EncodedRecvWqe, EncodedSendWqe } from './commands.js';

/**
 * Work requests cross from the application thread to the NIC thread as one Float64Array per post
 * call rather than as objects: structured clone copies a typed array in one memcpy, while a list of
 * objects costs a microsecond or more per request on each side, which would dominate small writes.
 *
 * Send request: index, wrId, op, signaled, length, remoteAddr, rkey, imm, inline slot (-1: none),
 * sge count, then (addr, length, lkey) per sge. Receive request: index, wrId, sge count, sges.
 */

const SEND_FIXED = 10;
const RECV_FIXED = 3;

/** A packed list of send requests; `inline` holds the inline payloads the words refer to by slot. */
export interface PackedSends {
  words: Float64Array;
  inline: Uint8Array[];
}

export function packSendWqes(wqes: readonly EncodedSendWqe[]): PackedSends {
  let size = 0;
  for (const w of wqes) size += SEND_FIXED + w.sges.length;
  const words = new Float64Array(size);
  const inline: Uint8Array[] = [];
  let at = 0;
  for (const w of wqes) {
    words[at] = w.index;
    words[at + 1] = w.wrId;
    words[at + 2] = w.op;
    words[at + 3] = w.signaled ? 1 : 0;
    words[at + 4] = w.length;
    words[at + 5] = w.remoteAddr;
    words[at + 6] = w.rkey;
    words[at + 7] = w.imm;
    words[at + 8] = w.inline ? inline.push(w.inline) - 1 : -1;
    words[at + 9] = w.sges.length / 3;
    words.set(w.sges, at + SEND_FIXED);
    at += SEND_FIXED + w.sges.length;
  }
  return { words, inline };
}

export function unpackSendWqes(packed: PackedSends): EncodedSendWqe[] {
  const { words, inline } = packed;
  const out: EncodedSendWqe[] = [];
  let at = 0;
  while (at < words.length) {
    const slot = words[at + 8]!;
    const sgeWords = words[at + 9]! * 3;
    out.push({
      index: words[at]!,
      wrId: words[at + 1]!,
      op: words[at + 2]!,
      signaled: words[at + 3] === 1,
      length: words[at + 4]!,
      remoteAddr: words[at + 5]!,
      rkey: words[at + 6]!,
      imm: words[at + 7]!,
      inline: slot >= 0 ? inline[slot]! : null,
      sges: Array.from(words.subarray(at + SEND_FIXED, at + SEND_FIXED + sgeWords)),
    });
    at += SEND_FIXED + sgeWords;
  }
  return out;
}

export function packRecvWqes(wqes: readonly EncodedRecvWqe[]): Float64Array {
  let size = 0;
  for (const w of wqes) size += RECV_FIXED + w.sges.length;
  const words = new Float64Array(size);
  let at = 0;
  for (const w of wqes) {
    words[at] = w.index;
    words[at + 1] = w.wrId;
    words[at + 2] = w.sges.length / 3;
    words.set(w.sges, at + RECV_FIXED);
    at += RECV_FIXED + w.sges.length;
  }
  return words;
}

export function unpackRecvWqes(words: Float64Array): EncodedRecvWqe[] {
  const out: EncodedRecvWqe[] = [];
  let at = 0;
  while (at < words.length) {
    const sgeWords = words[at + 2]! * 3;
    out.push({
      index: words[at]!,
      wrId: words[at + 1]!,
      sges: Array.from(words.subarray(at + RECV_FIXED, at + RECV_FIXED + sgeWords)),
    });
    at += RECV_FIXED + sgeWords;
  }
  return out;
}
