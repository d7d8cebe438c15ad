import { createGuestMemory, type GuestMemory, type KernelName } from '@microcheckpoint/mc-core';
import { opsPerSecond } from '../benny-cases.js';
import { type BenchCase, benchCase } from '../results.js';
import type { BenchSuite, SuiteOptions } from '../suite.js';

// How fast is the hot copy path? One capture = swap the dirty log + gather the dirty pages into a
// staging slab, for 1%, 10% and 50% of the pages of guest memory dirty, scattered at random or in
// clusters. The baseline is the physical limit: one contiguous TypedArray copy of the same number of
// bytes, measured in the same benny suite, both between two plain buffers (`set`) and within the
// shared memory itself (`copyWithin` from guest pages into the idle slab); the faster of the two is
// the baseline, because the two differ on this machine and the capture must be held to the best.
// Both kernels are reported.

const PAGE = 4096;
const FRACTIONS = [0.01, 0.1, 0.5];
const KERNELS: KernelName[] = ['wasm', 'js'];
/** Rounds of the full run; the quick run does one. */
const ROUNDS = 5;

interface Pattern {
  label: string;
  bitmap: Uint32Array;
  pages: number;
}

function xorshift(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** A dirty set: `fraction` of the pages, one by one at random, or in runs of 16 to 64 pages. */
function pattern(pageCount: number, fraction: number, clustered: boolean, seed: number): Pattern {
  const random = xorshift(seed);
  const bitmap = new Uint32Array(Math.ceil(pageCount / 32));
  const target = Math.round(pageCount * fraction);
  let pages = 0;
  const mark = (p: number): void => {
    const bit = 1 << (p & 31);
    if ((bitmap[p >>> 5]! & bit) === 0) {
      bitmap[p >>> 5]! |= bit;
      pages++;
    }
  };
  while (pages < target) {
    if (clustered) {
      const length = 16 + (random() % 49);
      const start = random() % (pageCount - length);
      for (let i = 0; i < length && pages < target; i++) mark(start + i);
    } else {
      mark(random() % pageCount);
    }
  }
  const label = `${clustered ? 'clustered' : 'random'} ${Math.round(fraction * 100)}%`;
  return { label, bitmap, pages };
}

function prepare(sizeBytes: number, kernel: KernelName): GuestMemory {
  const memory = createGuestMemory({ sizeBytes, kernel });
  const words = new Uint32Array(memory.bytes.buffer, 0, sizeBytes / 4);
  for (let i = 0; i < words.length; i++) words[i] = Math.imul(i, 2654435761);
  // Fault in both slabs once, so the first measured captures do not pay for page faults.
  const held = [0, 1].map(() => {
    memory.markDirty(0, sizeBytes);
    return memory.capture();
  });
  for (const capture of held) capture.release();
  return memory;
}

async function run(options: SuiteOptions): Promise<BenchCase[]> {
  const sizeBytes = (options.quick ? 64 : 256) * 1024 * 1024;
  const sizeLabel = `${sizeBytes / 1024 / 1024} MiB`;
  const memories = new Map(KERNELS.map((k) => [k, prepare(sizeBytes, k)]));
  // The shared-memory baseline copies guest pages into a slab of the same memory: between two measured
  // captures no capture holds it (each is released at once), and captures overwrite what it leaves.
  const jsMemory = memories.get('js')!;
  const shared = new Uint8Array(jsMemory.memory.buffer);
  const idleSlab = jsMemory.handle().layout.slabOffsets[1]!;
  const source = new Uint8Array(sizeBytes).fill(1);
  const target = new Uint8Array(sizeBytes).fill(2);
  const cases: BenchCase[] = [];
  let seed = 1;
  for (const clustered of [false, true]) {
    for (const fraction of FRACTIONS) {
      const p = pattern(sizeBytes / PAGE, fraction, clustered, seed++);
      const bytes = p.pages * PAGE;
      const captureOnce = (memory: GuestMemory) => () => {
        // Re-dirty the same pages (an 8 KiB copy at 256 MiB, counted against the capture).
        memory.dirtyBitmap.set(p.bitmap);
        const capture = memory.capture();
        if (capture.byteLength !== bytes)
          throw new Error(`captured ${capture.byteLength} bytes, expected ${bytes}`);
        capture.release();
      };
      const measured = [
        ...KERNELS.map((k) => ({ name: `${k} capture`, fn: captureOnce(memories.get(k)!) })),
        { name: 'contiguous set', fn: () => target.set(source.subarray(0, bytes)) },
        { name: 'contiguous copyWithin', fn: () => shared.copyWithin(idleSlab, 0, bytes) },
      ];
      // Short benny rounds, each measuring every case back to back, so that a burst of load from
      // elsewhere on this shared machine hits a round's cases alike; the round with the median
      // ratio is reported.
      const rounds: Array<{ values: number[]; baseline: number }> = [];
      for (let round = 0; round < (options.quick ? 1 : ROUNDS); round++) {
        const ops = await opsPerSecond(`capture ${p.label} of ${sizeLabel}`, measured, { quick: true });
        const megabytes = ops.map((o) => (o * bytes) / 1e6);
        rounds.push({
          values: megabytes.slice(0, KERNELS.length),
          baseline: Math.max(...megabytes.slice(KERNELS.length)),
        });
      }
      KERNELS.forEach((kernel, i) => {
        const sorted = [...rounds].sort((a, b) => a.values[i]! / a.baseline - b.values[i]! / b.baseline);
        const median = sorted[Math.floor(sorted.length / 2)]!;
        cases.push(
          benchCase(
            `capture ${kernel} ${p.label} (${sizeLabel})`,
            'MB/s',
            median.values[i]!,
            median.baseline,
          ),
        );
      });
    }
  }
  return cases;
}

const suite: BenchSuite = {
  name: 'mc-core',
  question:
    'How fast does a capture (swap the dirty log + gather dirty pages into a staging slab) move bytes, per kernel, against one contiguous copy of the same bytes?',
  run,
};

export default suite;
