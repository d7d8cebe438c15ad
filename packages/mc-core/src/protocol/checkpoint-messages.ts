import { crc32c } from '@node-rs/crc32';
import type { McMessage, WirePageRun } from './messages.js';

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
const RAW_CODEC = 1;

/**
 * The messages of one checkpoint, in order: CKPT_BEGIN, CKPT_PAGES (each at most `maxMessageBytes`
 * of page data, runs never split below one page), CKPT_OUTPUT when there is output, CKPT_END with
 * the CRC32C of the page data in order. Page data is passed by view, never copied.
 */
export function checkpointMessages(
  content: CheckpointContent,
  pageSize: number,
  maxMessageBytes: number,
): McMessage[] {
  const { epoch, fencingToken } = content;
  const pagesPerMessage = Math.max(1, Math.floor(maxMessageBytes / pageSize));
  let pageCount = 0;
  let dataBytes = 0;
  let checksum = 0;
  const pageMessages: McMessage[] = [];
  let runs: WirePageRun[] = [];
  let data: Uint8Array[] = [];
  let pagesInMessage = 0;
  const flush = () => {
    if (runs.length === 0) return;
    pageMessages.push({ kind: 'CKPT_PAGES', sequence: epoch, codec: RAW_CODEC, runs, data });
    runs = [];
    data = [];
    pagesInMessage = 0;
  };
  for (const run of content.runs) {
    let page = 0;
    while (page < run.pageCount) {
      const take = Math.min(run.pageCount - page, pagesPerMessage - pagesInMessage);
      const slice = run.data.subarray(page * pageSize, (page + take) * pageSize);
      runs.push({ firstPage: run.firstPage + page, pageCount: take, encodedBytes: slice.byteLength });
      data.push(slice);
      checksum = crc32c(slice, checksum);
      pageCount += take;
      dataBytes += slice.byteLength;
      pagesInMessage += take;
      page += take;
      if (pagesInMessage === pagesPerMessage) flush();
    }
  }
  flush();
  const messages: McMessage[] = [
    { kind: 'CKPT_BEGIN', epoch, fencingToken, pageCount, dataBytes },
    ...pageMessages,
  ];
  if (content.output && content.output.length > 0)
    messages.push({ kind: 'CKPT_OUTPUT', epoch, batch: content.output });
  messages.push({ kind: 'CKPT_END', epoch, pageCount, checksum: checksum >>> 0 });
  return messages;
}
