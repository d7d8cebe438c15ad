import { XBZRLE_JS_DECODE_MAX_DELTA_BYTES } from '../constants.js';
import { InvalidArgumentError } from '../errors.js';
import { applyJs, encodeJs, validateJs } from './xbzrle-js.js';
import { loadXbzrleWasm } from './xbzrle-wasm.js';

/** Which XBZRLE implementation runs: the WebAssembly SIMD kernel, or the pure-JS fallback. */
export type XbzrleImplementation = 'wasm-simd' | 'js';

/** The implementation {@link xbzrleEncode} and {@link xbzrleDecode} use in this process. */
export function xbzrleImplementation(): XbzrleImplementation {
  return loadXbzrleWasm() === null ? 'js' : 'wasm-simd';
}

/**
 * Encodes `newPage` as an XBZRLE delta against `oldPage` (same length), byte-compatible with QEMU:
 * `(zrun nzrun)+` with ULEB128 lengths of at most 14 bits, the trailing unchanged run omitted.
 *
 * Returns the delta (empty for an unchanged page), or `null` when the delta would not be smaller
 * than the page (send the page whole instead). Unchanged runs longer than 16383 bytes (pages larger
 * than 16 KiB) are split by sending one unchanged byte as a literal; a changed run longer than that
 * returns `null`.
 *
 * @param output - optional buffer of at least `newPage.length - 1` bytes: the delta is written there
 * and a view of it returned (no allocation). Without it the delta is a new `Uint8Array`.
 */
export function xbzrleEncode(
  oldPage: Uint8Array,
  newPage: Uint8Array,
  output?: Uint8Array,
): Uint8Array | null {
  checkPages(oldPage, newPage);
  return encodeWith(loadXbzrleWasm() === null ? 'js' : 'wasm-simd', oldPage, newPage, output);
}

/**
 * Decodes an XBZRLE `delta` against `oldPage`: returns `target` (a new page if omitted, which may be
 * `oldPage` itself to decode in place) holding the new page. Every length is checked before any byte
 * is written; malformed input throws `XbzrleDecodeError` (`MC_ERR_XBZRLE_MALFORMED`) with the reason
 * and the offset, and leaves `target` untouched.
 */
export function xbzrleDecode(delta: Uint8Array, oldPage: Uint8Array, target?: Uint8Array): Uint8Array {
  return decodeWith('auto', delta, oldPage, target);
}

/** Encodes with a chosen implementation (tests hold the two against each other). */
export function encodeWith(
  implementation: XbzrleImplementation,
  oldPage: Uint8Array,
  newPage: Uint8Array,
  output?: Uint8Array,
): Uint8Array | null {
  checkPages(oldPage, newPage);
  const limit = newPage.length - 1;
  if (output !== undefined && output.length < limit) {
    throw new InvalidArgumentError('output', `needs at least ${limit} bytes, has ${output.length}`);
  }
  const out = output ?? new Uint8Array(Math.max(0, limit));
  const wasm = implementation === 'wasm-simd' ? loadXbzrleWasm() : null;
  if (implementation === 'wasm-simd' && wasm === null) {
    throw new InvalidArgumentError('implementation', 'WebAssembly SIMD is unavailable in this runtime');
  }
  const d =
    wasm !== null ? wasm.encode(oldPage, newPage, out, limit) : encodeJs(oldPage, newPage, out, limit);
  if (d < 0) return null;
  return output !== undefined ? output.subarray(0, d) : out.slice(0, d);
}

/**
 * Decodes with a chosen implementation (tests hold the two against each other); `auto` picks
 * JavaScript for short deltas and the kernel for long ones.
 */
export function decodeWith(
  implementation: XbzrleImplementation | 'auto',
  delta: Uint8Array,
  oldPage: Uint8Array,
  target?: Uint8Array,
): Uint8Array {
  if (target !== undefined && target.length !== oldPage.length) {
    throw new InvalidArgumentError('target', `has ${target.length} bytes, the page has ${oldPage.length}`);
  }
  const wasm = implementation === 'js' ? null : loadXbzrleWasm();
  if (implementation === 'wasm-simd' && wasm === null) {
    throw new InvalidArgumentError('implementation', 'WebAssembly SIMD is unavailable in this runtime');
  }
  // Short deltas (a few runs) decode faster in JavaScript than the copies into the kernel cost.
  const useWasm =
    wasm !== null && (implementation === 'wasm-simd' || delta.length > XBZRLE_JS_DECODE_MAX_DELTA_BYTES);
  if (useWasm && wasm.fits(delta.length, oldPage.length)) {
    const page = target ?? new Uint8Array(oldPage.length);
    wasm.decode(delta, oldPage, page);
    return page;
  }
  validateJs(delta, oldPage.length);
  const page = target ?? new Uint8Array(oldPage.length);
  if (page !== oldPage) page.set(oldPage);
  applyJs(delta, page);
  return page;
}

function checkPages(oldPage: Uint8Array, newPage: Uint8Array): void {
  if (oldPage.length !== newPage.length) {
    throw new InvalidArgumentError('newPage', `has ${newPage.length} bytes, oldPage has ${oldPage.length}`);
  }
}
