import { InvalidArgumentError } from '../errors.js';

/**
 * The one codec byte that travels with every page, on the wire and in every stored record.
 * `zero`, `raw`, `lz4` and `zstd` are also storage forms; `xbzrle` is only accepted on input, as a
 * delta against the page's current value.
 */
export const PAGE_CODEC_IDS = {
  zero: 0,
  raw: 1,
  lz4: 2,
  zstd: 3,
  xbzrle: 4,
} as const;

/** Name of a page codec. */
export type PageCodec = keyof typeof PAGE_CODEC_IDS;

/** Codecs a page can be stored in (zero pages are stored as nothing). */
export type StoredCodec = 'zero' | 'raw' | 'lz4' | 'zstd';

const NAMES: readonly PageCodec[] = ['zero', 'raw', 'lz4', 'zstd', 'xbzrle'];

/** The codec named by a codec byte; throws `InvalidArgumentError` for an unknown byte. */
export function pageCodecName(id: number): PageCodec {
  const name = NAMES[id];
  if (name === undefined) throw new InvalidArgumentError('codec', `unknown codec byte ${id}`);
  return name;
}

/** The codec byte of a codec name; throws `InvalidArgumentError` for an unknown name. */
export function pageCodecId(name: PageCodec): number {
  const id = (PAGE_CODEC_IDS as Record<string, number>)[name];
  if (id === undefined) throw new InvalidArgumentError('codec', `unknown codec ${String(name)}`);
  return id;
}
