import { LZ4_BATCH_BYTES, MAX_PAGE_SIZE_BYTES } from '../constants.js';
import { LZ4_WASM_BASE64 } from '../generated/lz4-wasm.js';
import { ensureMemory, instantiate, type WasmMemory } from './wasm-module.js';

interface Lz4Exports {
  memory: WasmMemory;
  scratchBase(): number;
  decode(src: number, slen: number, dst: number, dlen: number): number;
  decodeBatch(jobs: number, count: number, input: number, output: number, pageLen: number): number;
  compress(src: number, len: number, dst: number, limit: number, table: number): number;
}

// Slack after every region, so that no read of the kernel can leave the memory it was given.
const SLACK = 64;
const SINGLE_BYTES = MAX_PAGE_SIZE_BYTES + SLACK;
// A batch holds at most one block per 512-byte page of the output region: 8 bytes of job each.
const MAX_BATCH_JOBS = LZ4_BATCH_BYTES / 512;
// The compressor's hash table: 2^13 entries of 16 bits.
const HASH_TABLE_BYTES = 16 * 1024;
// lz4-napi's format: an LZ4 block preceded by the uncompressed size as a 32-bit little-endian integer.
const SIZE_PREFIX_BYTES = 4;

/**
 * The WebAssembly LZ4 kernel: block decoder and fast compressor. Its memory has a fixed layout,
 * grown once when the module is instantiated, so views of it never go stale: one page in and one
 * out for single decodes and for compression, the compressor's hash table, then a job table and
 * input and output regions for batches. Calls never nest (everything here is synchronous).
 */
export class Lz4WasmDecoder {
  private readonly exports: Lz4Exports;
  private readonly singleIn: number;
  private readonly singleOut: number;
  private readonly tableAt: number;
  readonly jobsAt: number;
  readonly inputAt: number;
  readonly outputAt: number;
  /** The whole memory of the module. */
  readonly mem: Uint8Array;
  /** The batch job table: block offset from `inputAt`, block length. */
  readonly jobs: Int32Array;

  constructor(exports: Lz4Exports) {
    this.exports = exports;
    const base = exports.scratchBase();
    this.singleIn = base;
    this.singleOut = this.singleIn + SINGLE_BYTES;
    this.tableAt = this.singleOut + SINGLE_BYTES;
    this.jobsAt = this.tableAt + HASH_TABLE_BYTES;
    this.inputAt = this.jobsAt + MAX_BATCH_JOBS * 8;
    this.outputAt = this.inputAt + LZ4_BATCH_BYTES + SLACK;
    this.mem = ensureMemory(exports.memory, this.outputAt + LZ4_BATCH_BYTES + SLACK);
    this.jobs = new Int32Array(this.mem.buffer, this.jobsAt, MAX_BATCH_JOBS * 2);
  }

  /** Decodes an LZ4 block into `target`; returns false for a malformed block or a wrong length. */
  decodeInto(block: Uint8Array, target: Uint8Array): boolean {
    if (block.length > SINGLE_BYTES - SLACK || target.length > SINGLE_BYTES - SLACK) return false;
    const mem = this.mem;
    mem.set(block, this.singleIn);
    const n = this.exports.decode(this.singleIn, block.length, this.singleOut, target.length);
    if (n !== target.length) return false;
    target.set(mem.subarray(this.singleOut, this.singleOut + n));
    return true;
  }

  /**
   * Compresses `page` (at most 64 KiB) into `out` in lz4-napi's format (size prefix, then the block).
   * Returns the length written, or -1 when it would be longer than `limit` (the page does not shrink
   * enough to be worth keeping compressed) or than `out`.
   */
  compressInto(page: Uint8Array, out: Uint8Array, limit: number): number {
    const max = Math.min(limit, out.length) - SIZE_PREFIX_BYTES;
    if (page.length > SINGLE_BYTES - SLACK || max <= 0) return -1;
    const mem = this.mem;
    mem.set(page, this.singleIn);
    const n = this.exports.compress(
      this.singleIn,
      page.length,
      this.singleOut,
      Math.min(max, SINGLE_BYTES - SLACK),
      this.tableAt,
    );
    if (n < 0) return -1;
    const size = page.length;
    out[0] = size & 0xff;
    out[1] = (size >>> 8) & 0xff;
    out[2] = (size >>> 16) & 0xff;
    out[3] = (size >>> 24) & 0xff;
    out.set(mem.subarray(this.singleOut, this.singleOut + n), SIZE_PREFIX_BYTES);
    return n + SIZE_PREFIX_BYTES;
  }

  /**
   * Decodes the `count` blocks described by the job table into consecutive pages of `pageLen`
   * bytes from `outputAt`. Returns `count`, or the index of the first block that is malformed.
   */
  decodeBatch(count: number, pageLen: number): number {
    return this.exports.decodeBatch(this.jobsAt, count, this.inputAt, this.outputAt, pageLen);
  }
}

/**
 * Decodes many LZ4 pages into a target image with one WebAssembly call per batch: blocks are copied
 * into the kernel's input region (blocks that follow each other in one source buffer, as records in
 * a slab do, in one copy), and the decoded pages are copied out with one copy per run of
 * consecutive pages. What `materialize` runs.
 */
export class Lz4BatchDecoder {
  private readonly capacity: number;
  private readonly pages: Int32Array;
  private count = 0;
  /** Bytes of the input region used, the span not yet copied included. */
  private inputBytes = 0;
  // The span of the current source buffer queued but not copied yet.
  private span: Uint8Array | null = null;
  private spanStart = 0;
  private spanEnd = 0;
  private spanAt = 0;

  constructor(
    private readonly decoder: Lz4WasmDecoder,
    private readonly pageLen: number,
    private readonly target: Uint8Array,
  ) {
    this.capacity = Math.min(MAX_BATCH_JOBS, Math.floor(LZ4_BATCH_BYTES / pageLen));
    this.pages = new Int32Array(this.capacity);
  }

  /**
   * Queues the LZ4 block `source[start, end)` (without its size prefix) for page `page` of the
   * target. Blocks longer than a page are not kept (the store keeps those raw), so one always fits
   * an empty batch.
   */
  push(source: Uint8Array, start: number, end: number, page: number): void {
    // A block that starts shortly after the span ends (past a record header) joins the span.
    const joins = source === this.span && start >= this.spanEnd && start - this.spanEnd <= SLACK;
    const grows = joins ? end - this.spanEnd : end - start;
    if (this.count === this.capacity || this.inputBytes + grows > LZ4_BATCH_BYTES) {
      this.flush();
      this.push(source, start, end, page);
      return;
    }
    if (!joins) {
      this.copySpan();
      this.span = source;
      this.spanStart = start;
      this.spanAt = this.inputBytes;
    }
    const d = this.decoder;
    d.jobs[2 * this.count] = this.spanAt + (start - this.spanStart);
    d.jobs[2 * this.count + 1] = end - start;
    this.pages[this.count] = page;
    this.count++;
    this.spanEnd = end;
    this.inputBytes += grows;
  }

  /** Decodes every queued block into the target. Throws when a block is malformed. */
  flush(): void {
    this.copySpan();
    const count = this.count;
    this.count = 0;
    this.inputBytes = 0;
    if (count === 0) return;
    const d = this.decoder;
    const p = this.pageLen;
    const done = d.decodeBatch(count, p);
    if (done !== count) {
      throw new Error(`stored LZ4 record of page ${this.pages[done]} does not decode to one page`);
    }
    const pages = this.pages;
    for (let j = 0; j < count; ) {
      let k = j + 1;
      while (k < count && pages[k] === pages[k - 1]! + 1) k++;
      const from = d.outputAt + j * p;
      this.target.set(d.mem.subarray(from, from + (k - j) * p), pages[j]! * p);
      j = k;
    }
  }

  private copySpan(): void {
    const span = this.span;
    if (span === null) return;
    this.span = null;
    this.decoder.mem.set(span.subarray(this.spanStart, this.spanEnd), this.decoder.inputAt + this.spanAt);
  }
}

let decoder: Lz4WasmDecoder | null | undefined;

/** The decoder, instantiated once; null when this runtime lacks WebAssembly. */
export function loadLz4Wasm(): Lz4WasmDecoder | null {
  if (decoder === undefined) {
    const instance = instantiate(LZ4_WASM_BASE64);
    decoder = instance === null ? null : new Lz4WasmDecoder(instance.exports as unknown as Lz4Exports);
  }
  return decoder;
}
