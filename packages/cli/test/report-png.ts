import { inflateSync } from 'node:zlib';

/** A decoded 8-bit RGB or RGBA PNG: `pixels` holds `channels` bytes per pixel, row after row. */
export interface DecodedPng {
  width: number;
  height: number;
  channels: 3 | 4;
  pixels: Uint8Array;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Decodes the PNGs Chromium writes for screenshots: 8-bit truecolour (with or without alpha), not
 * interlaced. Throws on anything else, on a bad signature, a truncated chunk or a short image.
 */
export function decodePng(file: Uint8Array): DecodedPng {
  if (file.length < 8 || SIGNATURE.some((b, i) => file[i] !== b))
    throw new Error('not a PNG (bad signature)');
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let offset = 8;
  let header: { width: number; height: number; channels: 3 | 4 } | undefined;
  const idat: Uint8Array[] = [];
  let ended = false;
  while (offset + 8 <= file.length && !ended) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...file.subarray(offset + 4, offset + 8));
    const data = file.subarray(offset + 8, offset + 8 + length);
    if (data.length !== length || offset + 12 + length > file.length)
      throw new Error(`truncated ${type} chunk`);
    if (type === 'IHDR') {
      const depth = data[8];
      const colour = data[9];
      const interlace = data[12];
      if (depth !== 8 || (colour !== 2 && colour !== 6) || interlace !== 0) {
        throw new Error(`unsupported PNG: depth ${depth}, colour type ${colour}, interlace ${interlace}`);
      }
      header = {
        width: view.getUint32(offset + 8),
        height: view.getUint32(offset + 12),
        channels: colour === 6 ? 4 : 3,
      };
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      ended = true;
    }
    offset += 12 + length; // length, type, data, CRC
  }
  if (header === undefined) throw new Error('PNG without IHDR');
  if (!ended) throw new Error('PNG without IEND');
  const { width, height, channels } = header;
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new Error(`PNG data too short: ${raw.length} bytes`);
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[row + x - channels]! : 0;
      const b = y > 0 ? pixels[row - stride + x]! : 0;
      const c = x >= channels && y > 0 ? pixels[row - stride + x - channels]! : 0;
      pixels[row + x] = (line[x]! + unfilter(filter, a, b, c)) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

function unfilter(filter: number, a: number, b: number, c: number): number {
  switch (filter) {
    case 0:
      return 0;
    case 1:
      return a;
    case 2:
      return b;
    case 3:
      return (a + b) >> 1;
    case 4: {
      const p = a + b - c;
      const pa = Math.abs(p - a);
      const pb = Math.abs(p - b);
      const pc = Math.abs(p - c);
      return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
    default:
      throw new Error(`bad PNG filter type ${filter}`);
  }
}

/** Pixels that are not (near) white, and of those the coloured ones (not grey: text and axes are grey). */
export function countInk(
  png: DecodedPng,
  rows?: { from: number; to: number },
): { ink: number; coloured: number } {
  let ink = 0;
  let coloured = 0;
  const from = rows?.from ?? 0;
  const to = Math.min(rows?.to ?? png.height, png.height);
  for (let y = from; y < to; y++) {
    for (let x = 0; x < png.width; x++) {
      const i = (y * png.width + x) * png.channels;
      const r = png.pixels[i]!;
      const g = png.pixels[i + 1]!;
      const b = png.pixels[i + 2]!;
      if (r > 245 && g > 245 && b > 245) continue;
      ink++;
      if (Math.max(r, g, b) - Math.min(r, g, b) > 40) coloured++;
    }
  }
  return { ink, coloured };
}
