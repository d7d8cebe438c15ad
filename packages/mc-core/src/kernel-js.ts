import type { CaptureKernel, KernelTarget } from './kernel.js';

function ctz(x: number): number {
  return x === 0 ? 32 : 31 - Math.clz32(x & -x);
}

function bitsFrom(bit: number): number {
  return bit >= 32 ? 0 : (0xffffffff << bit) >>> 0;
}

/**
 * The plain JavaScript kernel, the fallback when WebAssembly is unavailable. It produces the same
 * captures as the AssemblyScript kernel (same runs, slab offsets and bytes, same bits put back when
 * the slab fills) and copies each run with `copyWithin` over the whole memory: `set()` between two
 * views of one SharedArrayBuffer would clone the source first.
 */
export function createJsKernel(target: KernelTarget): CaptureKernel {
  const { layout } = target;
  const buffer = target.memory.buffer as SharedArrayBuffer;
  const all = Buffer.from(buffer);
  const words = new Uint32Array(buffer);
  const { pageCount, slabPages, slabOffsets, runTableOffsets, shadowOffset } = layout;
  const pageSize = layout.pageSizeBytes;
  const bitmapWord = layout.bitmapOffset >>> 2;
  const resultWord = layout.resultOffset >>> 2;

  function finish(used: number, complete: boolean): void {
    words[resultWord] = used;
    words[resultWord + 1] = used * pageSize;
    words[resultWord + 2] = complete ? 1 : 0;
  }

  return {
    name: 'js',
    gather(slab) {
      const slabOffset = slabOffsets[slab]!;
      let runWord = runTableOffsets[slab]! >>> 2;
      const wordCount = Math.ceil(pageCount / 32);
      const tail = pageCount & 31;
      let runs = 0;
      let start = 0;
      let len = 0;
      let used = 0;
      let complete = true;
      const flush = (): void => {
        const offset = used * pageSize;
        all.copyWithin(slabOffset + offset, start * pageSize, (start + len) * pageSize);
        words[runWord] = start;
        words[runWord + 1] = len;
        words[runWord + 2] = offset;
        runWord += 3;
        runs++;
        used += len;
      };
      for (let w = 0; w < wordCount && complete; w++) {
        const index = bitmapWord + w;
        if (Atomics.load(words, index) === 0) continue;
        let bits = Atomics.exchange(words, index, 0);
        if (w === wordCount - 1 && tail !== 0) bits = (bits & ((1 << tail) - 1)) >>> 0;
        while (bits !== 0) {
          const bit = ctz(bits);
          let count = ctz(~(bits >>> bit));
          const free = slabPages - used - len;
          if (count > free) {
            // The slab is full: the pages left out stay dirty for the next capture.
            Atomics.or(words, index, (bits & bitsFrom(bit + free)) >>> 0);
            complete = false;
            count = free;
            bits = 0;
            if (count === 0) break;
          }
          const page = w * 32 + bit;
          if (len !== 0 && page === start + len) {
            len += count;
          } else {
            if (len !== 0) flush();
            start = page;
            len = count;
          }
          bits = (bits & ~(bitsFrom(bit) ^ bitsFrom(bit + count))) >>> 0;
        }
      }
      if (len !== 0) flush();
      finish(used, complete);
      return runs;
    },
    scanGather(slab) {
      const slabOffset = slabOffsets[slab]!;
      let runWord = runTableOffsets[slab]! >>> 2;
      let runs = 0;
      let start = 0;
      let len = 0;
      let used = 0;
      let complete = true;
      let bits = 0;
      let index = bitmapWord;
      const flush = (): void => {
        const offset = used * pageSize;
        const from = start * pageSize;
        const bytes = len * pageSize;
        all.copyWithin(slabOffset + offset, from, from + bytes);
        // The shadow is refreshed from the slab, never from the guest: it must hold exactly what
        // this capture shipped, so that a write landing after the copy still shows as a difference.
        all.copyWithin(shadowOffset + from, slabOffset + offset, slabOffset + offset + bytes);
        words[runWord] = start;
        words[runWord + 1] = len;
        words[runWord + 2] = offset;
        runWord += 3;
        runs++;
        used += len;
      };
      for (let page = 0; page < pageCount; page++) {
        const bit = page & 31;
        if (bit === 0) {
          index = bitmapWord + (page >>> 5);
          bits = Atomics.load(words, index) === 0 ? 0 : Atomics.exchange(words, index, 0);
        }
        const at = page * pageSize;
        const dirty =
          ((bits >>> bit) & 1) !== 0 ||
          all.compare(all, shadowOffset + at, shadowOffset + at + pageSize, at, at + pageSize) !== 0;
        if (dirty) {
          if (used + len === slabPages) {
            const rest = (bits & bitsFrom(bit)) >>> 0;
            if (rest !== 0) Atomics.or(words, index, rest);
            complete = false;
            break;
          }
          if (len !== 0 && page === start + len) {
            len++;
          } else {
            start = page;
            len = 1;
          }
        } else if (len !== 0) {
          flush();
          len = 0;
        }
      }
      if (len !== 0) flush();
      finish(used, complete);
      return runs;
    },
  };
}
