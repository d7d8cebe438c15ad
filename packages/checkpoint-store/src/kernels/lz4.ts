// AssemblyScript source of the LZ4 block decoder (compiled by scripts/build-wasm.mjs, not by tsc).
// lz4-napi decodes a 4 KiB page in several microseconds, most of it crossing into native code and
// allocating the result; this decoder runs in the Node process's own WebAssembly memory instead.
// Every read stays inside the input and every write inside the page, so hostile input cannot escape.

export function scratchBase(): usize {
  return (__heap_base + 15) & ~(<usize>15);
}

// memory.copy is a call into the engine: for the short literals and matches of text it costs more
// than the copy. Short copies go 8 bytes at a time instead and may write up to 7 bytes past the end;
// the caller leaves slack after the page, and later sequences overwrite the rest.
function copyShort(dst: usize, src: usize, n: i32): void {
  if (n > 32) {
    memory.copy(dst, src, <usize>n);
    return;
  }
  for (let k: i32 = 0; k < n; k += 8) store<u64>(dst + <usize>k, load<u64>(src + <usize>k));
}

// Decodes the LZ4 block at src (slen bytes) into dst, which must come out exactly dlen bytes.
// Returns dlen, or -1 for a malformed block, -2 for a block that decodes to another length.
export function decode(src: usize, slen: i32, dst: usize, dlen: i32): i32 {
  let i: i32 = 0;
  let d: i32 = 0;
  while (i < slen) {
    const token = <i32>load<u8>(src + <usize>i);
    i++;
    let lit = token >> 4;
    if (lit === 15) {
      let b: i32 = 255;
      while (b === 255) {
        if (i >= slen) return -1;
        b = <i32>load<u8>(src + <usize>i);
        i++;
        lit += b;
      }
    }
    if (lit > slen - i || lit > dlen - d) return -1;
    copyShort(dst + <usize>d, src + <usize>i, lit);
    i += lit;
    d += lit;
    // The last sequence carries literals only.
    if (i >= slen) break;
    if (slen - i < 2) return -1;
    const offset = <i32>load<u8>(src + <usize>i) | ((<i32>load<u8>(src + <usize>i + 1)) << 8);
    i += 2;
    if (offset === 0 || offset > d) return -1;
    let match = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b: i32 = 255;
      while (b === 255) {
        if (i >= slen) return -1;
        b = <i32>load<u8>(src + <usize>i);
        i++;
        match += b;
      }
    }
    if (match > dlen - d) return -1;
    if (offset >= 8) {
      // Reading 8 bytes behind the write never reads a byte not yet written.
      if (match <= 32) {
        copyShort(dst + <usize>d, dst + <usize>(d - offset), match);
        d += match;
        continue;
      }
    }
    // A match may overlap its own output (a repeated pattern): copy it in non-overlapping steps.
    while (match > 0) {
      const step = min<i32>(match, offset);
      memory.copy(dst + <usize>d, dst + <usize>(d - offset), <usize>step);
      d += step;
      match -= step;
    }
  }
  return d === dlen ? d : -2;
}
