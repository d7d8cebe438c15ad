import * as zlib from 'node:zlib';

/**
 * CRC-32 (IEEE 802.3, the zlib polynomial) of `bytes`. Uses zlib's native implementation where Node
 * has it (20.15 and later: several GB/s) and a table-driven fallback otherwise, so that the package
 * keeps its `>=20.0.0` engine range. Both give identical results (tested).
 */
export const crc32: (bytes: Uint8Array) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? nativeCrc32 : tableCrc32;

function nativeCrc32(bytes: Uint8Array): number {
  return zlib.crc32(bytes) >>> 0;
}

let table: Uint32Array | undefined;

/** Table-driven CRC-32, exported for the equivalence test and for Node versions without `zlib.crc32`. */
export function tableCrc32(bytes: Uint8Array): number {
  table ??= buildTable();
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function buildTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}
