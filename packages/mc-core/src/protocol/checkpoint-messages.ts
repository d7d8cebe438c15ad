import { isZeroPage } from '@microcheckpoint/checkpoint-store';
import { crc32c } from '@node-rs/crc32';
import { checksumOutput, checksumPlacements } from './checkpoint-checksum.js';
import type { McMessage, PagesMessage, WirePageRun } from './messages.js';

/** A run of adjacent dirty pages as captured: `data` holds `pageCount` raw pages. */
export interface CapturedRun {
  firstPage: number;
  pageCount: number;
  data: Uint8Array;
}

/** What one checkpoint carries. */
export interface CheckpointContent {
  epoch: number;
  fencingToken: number;
  runs: readonly CapturedRun[];
  /** The epoch's serialized cork batch, if it produced output. */
  output?: readonly Uint8Array[];
}

/** Raw page codec byte (the store's PAGE_CODEC_IDS.raw). */
export const RAW_CODEC = 1;
/** Zero page codec byte (the store's PAGE_CODEC_IDS.zero): a run of pages that carry no bytes. */
export const ZERO_CODEC = 0;

/** Page messages and what they add up to. */
export interface PageMessages<K extends 'SYNC_PAGES' | 'CKPT_PAGES'> {
  messages: PagesMessage<K>[];
  /** Pages sent with their bytes. */
  pageCount: number;
  dataBytes: number;
  /** The page messages' part of CKPT_END's checksum (checkpoint-checksum.ts): bytes and placements. */
  checksum: number;
  /** Pages left out because they are all zero (only with `skipZeroPages`). */
  zeroPagesSkipped: number;
}

/**
 * Splits captured runs into page messages of at most `maxMessageBytes` of page data each (runs are
 * never split below one page), raw codec, by view: nothing is copied. With `skipZeroPages`, pages
 * whose bytes are all zero are left out (for a first sync pass to a store that is still all zero).
 */
export function pageMessages<K extends 'SYNC_PAGES' | 'CKPT_PAGES'>(
  kind: K,
  sequence: number,
  runs: readonly CapturedRun[],
  pageSize: number,
  maxMessageBytes: number,
  skipZeroPages = false,
): PageMessages<K> {
  const pagesPerMessage = Math.max(1, Math.floor(maxMessageBytes / pageSize));
  const messages: PagesMessage<K>[] = [];
  let pageCount = 0;
  let dataBytes = 0;
  let checksum = 0;
  let zeroPagesSkipped = 0;
  let wireRuns: WirePageRun[] = [];
  let data: Uint8Array[] = [];
  let pagesInMessage = 0;
  const flush = () => {
    if (wireRuns.length === 0) return;
    checksum = checksumPlacements(checksum, wireRuns);
    messages.push({ kind, sequence, codec: RAW_CODEC, runs: wireRuns, data });
    wireRuns = [];
    data = [];
    pagesInMessage = 0;
  };
  const emit = (firstPage: number, count: number, bytes: Uint8Array) => {
    let page = 0;
    while (page < count) {
      const take = Math.min(count - page, pagesPerMessage - pagesInMessage);
      const slice = bytes.subarray(page * pageSize, (page + take) * pageSize);
      wireRuns.push({ firstPage: firstPage + page, pageCount: take, encodedBytes: slice.byteLength });
      data.push(slice);
      checksum = crc32c(slice, checksum);
      pageCount += take;
      dataBytes += slice.byteLength;
      pagesInMessage += take;
      page += take;
      if (pagesInMessage === pagesPerMessage) flush();
    }
  };
  for (const run of runs) {
    if (!skipZeroPages) {
      emit(run.firstPage, run.pageCount, run.data);
      continue;
    }
    // Sub-runs of non-zero pages.
    let start = -1;
    for (let i = 0; i <= run.pageCount; i++) {
      const zero = i === run.pageCount || isZeroPage(run.data.subarray(i * pageSize, (i + 1) * pageSize));
      if (zero && i < run.pageCount) zeroPagesSkipped++;
      if (!zero && start === -1) start = i;
      if (zero && start !== -1) {
        emit(run.firstPage + start, i - start, run.data.subarray(start * pageSize, i * pageSize));
        start = -1;
      }
    }
  }
  flush();
  return { messages, pageCount, dataBytes, checksum: checksum >>> 0, zeroPagesSkipped };
}

/**
 * The messages of one checkpoint, in order: CKPT_BEGIN, CKPT_PAGES (each at most `maxMessageBytes`
 * of page data, runs never split below one page), CKPT_OUTPUT when there is output, CKPT_END with
 * the checksum of the runs' bytes and placements and of the output (checkpoint-checksum.ts). Page
 * data is passed by view, never copied.
 */
export function checkpointMessages(
  content: CheckpointContent,
  pageSize: number,
  maxMessageBytes: number,
): McMessage[] {
  const { epoch, fencingToken } = content;
  const pages = pageMessages('CKPT_PAGES', epoch, content.runs, pageSize, maxMessageBytes);
  const messages: McMessage[] = [
    { kind: 'CKPT_BEGIN', epoch, fencingToken, pageCount: pages.pageCount, dataBytes: pages.dataBytes },
    ...pages.messages,
  ];
  if (content.output && content.output.length > 0)
    messages.push({ kind: 'CKPT_OUTPUT', epoch, batch: content.output });
  const checksum = checksumOutput(pages.checksum, content.output ?? []);
  messages.push({ kind: 'CKPT_END', epoch, pageCount: pages.pageCount, checksum });
  return messages;
}
