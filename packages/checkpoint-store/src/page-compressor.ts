import { PAGE_CODEC_IDS } from './codecs/codec-ids.js';
import { lz4CompressInto } from './codecs/lz4.js';
import type { ZstdCodec } from './codecs/zstd.js';
import { LZ4_POOR_FRACTION, MIN_SAVING_FRACTION, ZSTD_MIN_GAIN_FRACTION } from './constants.js';
import type { CodecPolicy } from './options.js';

const RAW = PAGE_CODEC_IDS.raw;
const LZ4 = PAGE_CODEC_IDS.lz4;
const ZSTD = PAGE_CODEC_IDS.zstd;

/** A page in the form it is stored: codec byte and payload (a view, valid until the next encode). */
export interface Encoded {
  codec: number;
  payload: Uint8Array;
}

/**
 * Output buffers of one activity that compresses pages: LZ4 and zstd each have their own, since
 * `tiered` keeps the LZ4 result while it tries zstd.
 */
export interface EncodeScratch {
  lz4: Uint8Array;
  zstd: Uint8Array;
}

/**
 * Picks the stored form of a page under a codec policy. Kept apart from the store so that the one
 * rule applies wherever a page is compressed: at put (`deferCompression: false`), in background
 * slices, and synchronously under RAM pressure.
 */
export class PageCompressor {
  /** Codec every page is compressed with first (raw: none). */
  readonly primary: number;
  /** `tiered` with zstd available: poorly shrinking pages and cold pages under pressure try zstd. */
  readonly strongTier: boolean;
  /** Whether zstd output buffers are needed. */
  readonly usesZstd: boolean;
  /** A compressed page is kept only up to this many bytes. */
  readonly maxKeepBytes: number;
  /** Under `tiered`, an LZ4 page longer than this is also tried with zstd. */
  readonly lz4PoorBytes: number;

  constructor(
    policy: CodecPolicy,
    private readonly zstd: ZstdCodec | null,
    private readonly pageSize: number,
  ) {
    this.primary = policy === 'raw' ? RAW : policy === 'zstd' ? ZSTD : LZ4;
    this.strongTier = policy === 'tiered' && zstd !== null;
    this.usesZstd = zstd !== null && (this.strongTier || this.primary === ZSTD);
    this.maxKeepBytes = Math.floor(pageSize * (1 - MIN_SAVING_FRACTION));
    this.lz4PoorBytes = Math.floor(pageSize * LZ4_POOR_FRACTION);
  }

  /** Output buffers for one activity (none for `raw`); count their `byteLength` as RAM held. */
  newScratch(): EncodeScratch {
    const p = this.pageSize;
    return {
      lz4: new Uint8Array(this.primary === LZ4 ? p : 0),
      zstd: new Uint8Array(this.usesZstd ? this.zstd!.bound(p) : 0),
    };
  }

  /** Whether a page arriving in `codec` with `length` bytes is already in its final stored form. */
  keepsAsItCame(codec: number, length: number): boolean {
    if (length > this.maxKeepBytes) return false;
    if (codec === LZ4) return this.primary === LZ4;
    if (codec === ZSTD) return this.primary === ZSTD || this.strongTier;
    return false;
  }

  /** Whether a stored LZ4 page of `length` bytes should still be tried with zstd. */
  lz4MayImprove(length: number): boolean {
    return this.strongTier && length > this.lz4PoorBytes;
  }

  /**
   * The stored form of `raw`: the policy's codec, zstd instead of LZ4 under `tiered` when LZ4 shrinks
   * the page poorly and zstd saves at least 1/8 more, raw when nothing saves 1/32 of the page.
   * `lz4` is an LZ4 encoding already at hand (it is not recomputed). The payload is `raw` itself or
   * a view of `scratch`.
   */
  encode(raw: Uint8Array, scratch: EncodeScratch, lz4: Uint8Array | null = null): Encoded {
    const keep = this.maxKeepBytes;
    if (this.primary === RAW) return { codec: RAW, payload: raw };
    if (this.primary === ZSTD) {
      const n = this.zstd!.compress(raw, scratch.zstd);
      return n <= keep ? { codec: ZSTD, payload: scratch.zstd.subarray(0, n) } : { codec: RAW, payload: raw };
    }
    // The zstd length, once computed (-1: not yet).
    let z = -1;
    if (this.strongTier && lz4 === null) {
      // Same decision as below, cheaper: an LZ4 pass limited to half a page stops early on the
      // pages that go to zstd, and a zstd result under 7/8 of that limit wins without the full pass.
      const n = lz4CompressInto(raw, scratch.lz4, this.lz4PoorBytes);
      if (n >= 0) return { codec: LZ4, payload: scratch.lz4.subarray(0, n) };
      z = this.zstd!.compress(raw, scratch.zstd);
      if (z <= keep && z <= this.lz4PoorBytes - this.lz4PoorBytes * ZSTD_MIN_GAIN_FRACTION) {
        return { codec: ZSTD, payload: scratch.zstd.subarray(0, z) };
      }
    }
    let l = lz4;
    if (l === null) {
      const n = lz4CompressInto(raw, scratch.lz4, keep);
      if (n >= 0) l = scratch.lz4.subarray(0, n);
    }
    if (l !== null && l.length > keep) l = null;
    if (!this.strongTier || (l !== null && l.length <= this.lz4PoorBytes)) {
      return l !== null ? { codec: LZ4, payload: l } : { codec: RAW, payload: raw };
    }
    if (z < 0) z = this.zstd!.compress(raw, scratch.zstd);
    const lz4Length = l === null ? this.pageSize : l.length;
    if (z <= keep && z <= lz4Length - lz4Length * ZSTD_MIN_GAIN_FRACTION) {
      return { codec: ZSTD, payload: scratch.zstd.subarray(0, z) };
    }
    return l !== null ? { codec: LZ4, payload: l } : { codec: RAW, payload: raw };
  }
}
