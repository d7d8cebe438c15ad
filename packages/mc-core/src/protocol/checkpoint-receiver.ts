import { pageCodecName } from '@microcheckpoint/checkpoint-store';
import { crc32c } from '@node-rs/crc32';
import { checksumOutput, checksumPlacements } from './checkpoint-checksum.js';
import type { McMessage, PagesMessage } from './messages.js';
import { CheckpointProtocolError } from './protocol-errors.js';

/** What the receiver commits into: the checkpoint store's staging contract. */
export interface CheckpointSink {
  readonly committedEpoch: number | null;
  begin(epoch: number): void;
  put(pageIndex: number, data: Uint8Array, codec?: ReturnType<typeof pageCodecName>): void;
  commit(epoch: number): void;
  abort(): void;
}

/** Limits the secondary advertised in its HELLO. */
export interface ReceiverLimits {
  pageSize: number;
  pageCount: number;
  /** Largest checkpoint (encoded page bytes) accepted. */
  maxCheckpointBytes: number;
}

/** A checkpoint the receiver committed. */
export interface CommittedCheckpoint {
  epoch: number;
  fencingToken: number;
  pageCount: number;
  dataBytes: number;
  /** The epoch's serialized cork batch (io-cork), or an empty list when it carried none. */
  output: readonly Uint8Array[];
}

interface Staging {
  epoch: number;
  fencingToken: number;
  declaredPages: number;
  declaredBytes: number;
  pages: number;
  bytes: number;
  checksum: number;
  output: Uint8Array[] | null;
}

const RAW = 1;
const ZERO = 0;

/**
 * The secondary's side of one checkpoint stream: CKPT_BEGIN, CKPT_PAGES..., CKPT_OUTPUT?, CKPT_END.
 * Every rule is checked as messages arrive (epoch order, fencing token, budget, page bounds, counts,
 * checksum); pages are staged in the sink as they come and committed only at a valid CKPT_END. Any
 * violation aborts the staged checkpoint and throws CheckpointProtocolError: nothing partial is ever
 * committed, and what was committed before is untouched.
 */
export class CheckpointReceiver {
  readonly #sink: CheckpointSink;
  readonly #limits: ReceiverLimits;
  #fencingToken: number;
  #staging: Staging | null = null;

  /** @param fencingToken the highest token seen so far; older ones are refused. */
  constructor(sink: CheckpointSink, limits: ReceiverLimits, fencingToken = 0) {
    this.#sink = sink;
    this.#limits = limits;
    this.#fencingToken = fencingToken;
  }

  get fencingToken(): number {
    return this.#fencingToken;
  }

  /** The epoch being received, or null between checkpoints. */
  get receivingEpoch(): number | null {
    return this.#staging?.epoch ?? null;
  }

  /**
   * Feeds one checkpoint message. Returns the committed checkpoint on a valid CKPT_END, else null.
   * @throws CheckpointProtocolError (after aborting the staged checkpoint).
   */
  receive(message: McMessage): CommittedCheckpoint | null {
    try {
      return this.#receive(message);
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  /** Drops the checkpoint being received (connection lost, primary dead). */
  abort(): void {
    if (this.#staging) this.#sink.abort();
    this.#staging = null;
  }

  #receive(message: McMessage): CommittedCheckpoint | null {
    switch (message.kind) {
      case 'CKPT_BEGIN':
        this.#begin(message.epoch, message.fencingToken, message.pageCount, message.dataBytes);
        return null;
      case 'CKPT_PAGES':
        this.#pages(this.#current(message.sequence, message.kind), message);
        return null;
      case 'CKPT_OUTPUT': {
        const staging = this.#current(message.epoch, message.kind);
        if (staging.output)
          throw this.#error('MC_ERR_CKPT_OUT_OF_ORDER', staging.epoch, 'second CKPT_OUTPUT');
        staging.output = [...message.batch];
        return null;
      }
      case 'CKPT_END':
        return this.#end(this.#current(message.epoch, message.kind), message.pageCount, message.checksum);
      default:
        throw this.#error('MC_ERR_CKPT_OUT_OF_ORDER', null, `${message.kind} is not part of a checkpoint`);
    }
  }

  #begin(epoch: number, fencingToken: number, pageCount: number, dataBytes: number): void {
    if (this.#staging) {
      throw this.#error(
        'MC_ERR_CKPT_OUT_OF_ORDER',
        epoch,
        `CKPT_BEGIN ${epoch} while ${this.#staging.epoch} is open`,
      );
    }
    const committed = this.#sink.committedEpoch ?? 0;
    if (epoch !== committed + 1) {
      throw this.#error(
        'MC_ERR_CKPT_OUT_OF_ORDER',
        epoch,
        `epoch ${epoch} does not follow committed ${committed}`,
      );
    }
    if (fencingToken < this.#fencingToken) {
      throw this.#error(
        'MC_ERR_CKPT_STALE_TOKEN',
        epoch,
        `token ${fencingToken} is older than ${this.#fencingToken}`,
      );
    }
    if (pageCount > this.#limits.pageCount) {
      throw this.#error(
        'MC_ERR_CKPT_TOO_LARGE',
        epoch,
        `${pageCount} pages in a memory of ${this.#limits.pageCount}`,
      );
    }
    if (dataBytes > this.#limits.maxCheckpointBytes) {
      throw this.#error(
        'MC_ERR_CKPT_TOO_LARGE',
        epoch,
        `${dataBytes} bytes exceed maxCheckpointBytes ${this.#limits.maxCheckpointBytes}`,
      );
    }
    this.#fencingToken = fencingToken;
    this.#sink.begin(epoch);
    this.#staging = {
      epoch,
      fencingToken,
      declaredPages: pageCount,
      declaredBytes: dataBytes,
      pages: 0,
      bytes: 0,
      checksum: 0,
      output: null,
    };
  }

  #current(epoch: number, kind: string): Staging {
    const staging = this.#staging;
    if (!staging) throw this.#error('MC_ERR_CKPT_OUT_OF_ORDER', epoch, `${kind} outside a checkpoint`);
    if (staging.epoch !== epoch) {
      throw this.#error(
        'MC_ERR_CKPT_OUT_OF_ORDER',
        epoch,
        `${kind} of epoch ${epoch} inside ${staging.epoch}`,
      );
    }
    return staging;
  }

  #pages(staging: Staging, message: PagesMessage<'CKPT_PAGES'>): void {
    const { pageSize, pageCount } = this.#limits;
    let codec: ReturnType<typeof pageCodecName>;
    try {
      codec = pageCodecName(message.codec);
    } catch (err) {
      throw this.#error('MC_ERR_CKPT_BAD_RUN', staging.epoch, `unknown page codec ${message.codec}`, err);
    }
    const data = message.data.length === 1 ? message.data[0]! : joinParts(message.data);
    let offset = 0;
    for (const run of message.runs) {
      if (run.firstPage + run.pageCount > pageCount) {
        throw this.#error(
          'MC_ERR_CKPT_BAD_RUN',
          staging.epoch,
          `run ${run.firstPage}+${run.pageCount} past page ${pageCount}`,
        );
      }
      const expected =
        message.codec === RAW ? run.pageCount * pageSize : message.codec === ZERO ? 0 : run.encodedBytes;
      if (
        run.encodedBytes !== expected ||
        (message.codec !== RAW && message.codec !== ZERO && run.pageCount !== 1)
      ) {
        throw this.#error(
          'MC_ERR_CKPT_BAD_RUN',
          staging.epoch,
          `run at page ${run.firstPage}: ${run.pageCount} pages of codec ${codec} cannot take ${run.encodedBytes} bytes`,
        );
      }
      staging.pages += run.pageCount;
      staging.bytes += run.encodedBytes;
      if (staging.pages > staging.declaredPages || staging.bytes > staging.declaredBytes) {
        throw this.#error(
          'MC_ERR_CKPT_MISMATCH',
          staging.epoch,
          'more pages or bytes than CKPT_BEGIN declared',
        );
      }
      const runData = data.subarray(offset, offset + run.encodedBytes);
      for (let i = 0; i < run.pageCount; i++) {
        const pageData = message.codec === RAW ? runData.subarray(i * pageSize, (i + 1) * pageSize) : runData;
        this.#sink.put(run.firstPage + i, pageData, codec);
      }
      offset += run.encodedBytes;
    }
    // The runs' bytes lie back to back here, so one CRC call covers them all (the sender, holding
    // them as separate views, folds them run by run to the same value), then their placements.
    staging.checksum = checksumPlacements(crc32c(data.subarray(0, offset), staging.checksum), message.runs);
  }

  #end(staging: Staging, pageCount: number, checksum: number): CommittedCheckpoint {
    if (
      pageCount !== staging.pages ||
      staging.pages !== staging.declaredPages ||
      staging.bytes !== staging.declaredBytes
    ) {
      throw this.#error(
        'MC_ERR_CKPT_MISMATCH',
        staging.epoch,
        `CKPT_END says ${pageCount} pages; received ${staging.pages} pages, ${staging.bytes} bytes; declared ${staging.declaredPages}, ${staging.declaredBytes}`,
      );
    }
    if (checksum >>> 0 !== checksumOutput(staging.checksum, staging.output ?? [])) {
      throw this.#error(
        'MC_ERR_CKPT_MISMATCH',
        staging.epoch,
        'the checksum of page placements, page data and output does not match CKPT_END',
      );
    }
    this.#sink.commit(staging.epoch);
    this.#staging = null;
    return {
      epoch: staging.epoch,
      fencingToken: staging.fencingToken,
      pageCount: staging.pages,
      dataBytes: staging.bytes,
      output: staging.output ?? [],
    };
  }

  #error(code: CheckpointProtocolError['code'], epoch: number | null, message: string, cause?: unknown) {
    return new CheckpointProtocolError(code, epoch, message, cause === undefined ? undefined : { cause });
  }
}

function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.byteLength;
  }
  return out;
}
