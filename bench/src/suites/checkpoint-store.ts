import { randomFillSync } from 'node:crypto';
import {
  type CheckpointStore,
  type CheckpointStoreOptions,
  type CodecPolicy,
  createCheckpointStore,
  xbzrleDecodeWith,
  xbzrleEncodeWith,
} from '@microcheckpoint/checkpoint-store';
import { opsPerSecond } from '../benny-cases.js';
import { type BenchCase, benchCase } from '../results.js';
import type { BenchSuite, SuiteOptions } from '../suite.js';

// What the secondary's store costs: commit and materialize throughput against a contiguous copy of
// the same bytes, XBZRLE encode/decode against a copy of the page, and RAM per byte protected on
// four page mixes (a plain second copy is 1.0). Stores are created with backgroundCpuShare 0 so that
// no automatic slice runs between benny cycles: background work is measured where it is called
// (maintain), and "settled" means maintain() has no work left.

const P = 4096;
const MB = 1e6;

/** xorshift32, so that every run measures the same pages. */
function prng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

// The most common English words, most frequent first; drawn with a Zipf-like skew below.
const VOCABULARY = (
  'the of and to a in is it you that he was for on are with as his they be at one have this from or had by ' +
  'not word but what some we can out other were all there when up use your how said an each she which do ' +
  'their time if will way about many then them write would like so these her long make thing see him two ' +
  'has look more day could go come did number sound no most people my over know water than call first who ' +
  'may down side been now find any new work part take get place made live where after back little only ' +
  'round man year came show every good me give our under name very through just form sentence great think ' +
  'say help low line differ turn cause much mean before move right boy old too same tell does set three ' +
  'want air well also play small end put home read hand port large spell add even land here must big high'
).split(' ');

/** English-like text: words drawn with a Zipf-like skew, punctuation and line breaks. */
function textPage(page: Uint8Array, seed: number): void {
  const rnd = prng(seed);
  let at = 0;
  let line = 0;
  while (at < page.length) {
    const word = VOCABULARY[Math.floor(VOCABULARY.length * rnd() ** 3)]!;
    for (let i = 0; i < word.length && at < page.length; i++) page[at++] = word.charCodeAt(i);
    line += word.length + 1;
    const sep = line > 72 ? 0x0a : rnd() < 0.08 ? 0x2c : 0x20;
    if (sep === 0x0a) line = 0;
    if (at < page.length) page[at++] = sep;
  }
}

/**
 * The pages of a key-value table after many updates: 128-byte slots holding a key, a JSON value and
 * zero padding; updates rewrite values, deletes zero slots, inserts fill free ones.
 */
function kvImage(
  pages: number,
  rounds: number,
  onDirty: (dirty: Set<number>, image: Uint8Array) => void,
): Uint8Array {
  const image = new Uint8Array(pages * P);
  const slots = image.length / 128;
  const rnd = prng(99);
  const enc = new TextEncoder();
  const names = ['ada', 'grace', 'linus', 'ken', 'barbara', 'edsger', 'donald', 'frances', 'john', 'radia'];
  const write = (slot: number, key: number, visits: number, dirty: Set<number>) => {
    const at = slot * 128;
    image.fill(0, at, at + 128);
    const name = names[key % names.length]!;
    const value = `{"name":"${name}","visits":${visits},"score":${(key % 1000) / 10},"active":${visits % 3 !== 0}}`;
    const record = enc.encode(`user:${String(key).padStart(8, '0')}\u0000${value}`);
    image[at] = record.length;
    image.set(record.subarray(0, 126), at + 2);
    dirty.add(Math.floor(at / P));
  };
  const initial = new Set<number>();
  for (let slot = 0; slot < slots; slot++) if (rnd() < 0.7) write(slot, slot * 7919, 1, initial);
  onDirty(initial, image);
  for (let round = 0; round < rounds; round++) {
    const dirty = new Set<number>();
    for (let k = 0; k < slots / 16; k++) {
      const slot = Math.floor(rnd() * slots);
      const r = rnd();
      if (r < 0.7) write(slot, slot * 7919, 2 + Math.floor(rnd() * 100_000), dirty);
      else if (r < 0.85) {
        image.fill(0, slot * 128, slot * 128 + 128);
        dirty.add(Math.floor((slot * 128) / P));
      } else write(slot, Math.floor(rnd() * 1e8), 1, dirty);
    }
    onDirty(dirty, image);
  }
  return image;
}

type Mix = 'zero-heavy' | 'text-like' | 'kv-after-updates' | 'random';

/** Runs background work until none is left. */
function settle(store: CheckpointStore): void {
  while (store.maintain(1000)) {
    // maintain() returns false once nothing is pending and RAM is tidy.
  }
}

/**
 * Feeds a mix into a store epoch by epoch; with `trackPeak`, returns the peak of ramBytes seen after
 * any call (stats() is O(pages), so only the budget cases pay for it).
 */
function loadMix(store: CheckpointStore, mix: Mix, pages: number, trackPeak = false): number {
  let epoch = 0;
  let peak = 0;
  const track = () => {
    if (trackPeak) peak = Math.max(peak, store.stats().ramBytes);
  };
  const putAll = (dirty: Iterable<number>, image: Uint8Array) => {
    store.begin(++epoch);
    for (const p of dirty) {
      store.put(p, image.subarray(p * P, p * P + P));
      track();
    }
    store.commit(epoch);
    track();
  };
  if (mix === 'kv-after-updates') {
    kvImage(pages, 40, (dirty, image) => putAll(dirty, image));
    return peak;
  }
  const image = new Uint8Array(pages * P);
  const rnd = prng(3);
  for (let p = 0; p < pages; p++) {
    const page = image.subarray(p * P, p * P + P);
    if (mix === 'random') randomFillSync(page);
    else if (mix === 'text-like') textPage(page, p + 1);
    else if (rnd() < 0.2) {
      // A sparse page: a small structure somewhere in an otherwise zero page.
      const at = Math.floor(rnd() * (P - 256));
      randomFillSync(page.subarray(at, at + 64));
      textPage(page.subarray(at + 64, at + 256), p);
    }
  }
  for (let first = 0; first < pages; first += 256) {
    const dirty: number[] = [];
    for (let p = first; p < Math.min(pages, first + 256); p++) dirty.push(p);
    putAll(dirty, image);
  }
  return peak;
}

async function throughputCases(options: SuiteOptions): Promise<BenchCase[]> {
  const pages = options.quick ? 1024 : 4096;
  const dirtyPages = options.quick ? 128 : 512;
  const cases: BenchCase[] = [];

  // Commit: begin, put the dirty pages (two alternating versions, so every epoch is new content), commit.
  // This is what the secondary does before it ACKs. "+ settle" also runs the background compression
  // of every page committed, so it is the throughput the store sustains when nothing is idle.
  const versions = [0, 1].map((v) => {
    const bytes = new Uint8Array(dirtyPages * P);
    for (let k = 0; k < dirtyPages; k++) textPage(bytes.subarray(k * P, k * P + P), k * 2 + v + 1);
    return bytes;
  });
  const copyTarget = new Uint8Array(dirtyPages * P);
  const commitVariants: Array<{ label: string; options: CheckpointStoreOptions; settle: boolean }> = [
    { label: 'tiered, deferred (default)', options: {}, settle: false },
    { label: 'tiered, inline', options: { deferCompression: false }, settle: false },
    { label: 'lz4, inline', options: { codecPolicy: 'lz4', deferCompression: false }, settle: false },
    { label: 'raw', options: { codecPolicy: 'raw' }, settle: false },
    { label: 'tiered, deferred + settle', options: {}, settle: true },
    { label: 'lz4, deferred + settle', options: { codecPolicy: 'lz4' }, settle: true },
  ];
  const stores = commitVariants.map(({ options: o }) =>
    createCheckpointStore({ pageCount: pages, backgroundCpuShare: 0, ...o }),
  );
  const epochs = stores.map(() => 0);
  const commitOnce = (i: number) => {
    const store = stores[i]!;
    const epoch = ++epochs[i]!;
    const src = versions[epoch % 2]!;
    store.begin(epoch);
    for (let k = 0; k < dirtyPages; k++) store.put((k * 7) % pages, src.subarray(k * P, k * P + P));
    store.commit(epoch);
    if (commitVariants[i]!.settle) settle(store);
  };
  const commitOps = await opsPerSecond(
    'checkpoint-store commit',
    [
      ...commitVariants.map(({ label }, i) => ({ name: `commit ${label}`, fn: () => commitOnce(i) })),
      { name: 'contiguous copy', fn: () => copyTarget.set(versions[0]!) },
    ],
    options,
  );
  const commitBytes = dirtyPages * P;
  const copyCommit = (commitOps[commitVariants.length]! * commitBytes) / MB;
  commitVariants.forEach(({ label }, i) => {
    cases.push(
      benchCase(
        `commit ${dirtyPages} dirty pages, ${label} (MB/s)`,
        'MB/s',
        (commitOps[i]! * commitBytes) / MB,
        copyCommit,
      ),
    );
  });
  for (const store of stores) store.close();

  // Materialize (what failover runs): the whole committed image once background work has settled,
  // against one contiguous copy of the same bytes.
  const matVariants: Array<{ label: string; mix: Mix; codecPolicy: CodecPolicy }> = [
    { label: 'kv image, tiered', mix: 'kv-after-updates', codecPolicy: 'tiered' },
    { label: 'kv image, raw', mix: 'kv-after-updates', codecPolicy: 'raw' },
    { label: 'zero-heavy image, tiered', mix: 'zero-heavy', codecPolicy: 'tiered' },
    { label: 'text-like image, tiered (zstd pages)', mix: 'text-like', codecPolicy: 'tiered' },
    { label: 'text-like image, lz4', mix: 'text-like', codecPolicy: 'lz4' },
  ];
  const matStores = matVariants.map(({ mix, codecPolicy }) => {
    const store = createCheckpointStore({ pageCount: pages, codecPolicy, backgroundCpuShare: 0 });
    loadMix(store, mix, pages);
    settle(store);
    return store;
  });
  const image = new Uint8Array(pages * P);
  const imageCopy = new Uint8Array(pages * P);
  matStores[0]!.materialize(imageCopy);
  const matOps = await opsPerSecond(
    'checkpoint-store materialize',
    [
      ...matVariants.map(({ label }, i) => ({
        name: `materialize ${label}`,
        fn: () => matStores[i]!.materialize(image),
      })),
      { name: 'contiguous copy', fn: () => image.set(imageCopy) },
    ],
    options,
  );
  const imageBytes = pages * P;
  const copyImage = (matOps[matVariants.length]! * imageBytes) / MB;
  matVariants.forEach(({ label }, i) => {
    cases.push(benchCase(`materialize ${label} (MB/s)`, 'MB/s', (matOps[i]! * imageBytes) / MB, copyImage));
  });
  for (const store of matStores) store.close();

  // XBZRLE on realistic deltas: a few words, half the page (every other 32 bytes), every byte.
  const oldPage = new Uint8Array(P);
  textPage(oldPage, 42);
  const few = oldPage.slice();
  for (const at of [96, 1300, 2604, 3900]) few.set([1, 2, 3, 4, 5, 6, 7, 8], at);
  const half = oldPage.slice();
  for (let i = 0; i < P; i += 64) for (let j = 0; j < 32; j++) half[i + j] = half[i + j]! ^ 0x5a;
  const all = oldPage.map((b) => b ^ 0xff);
  const deltas: Array<[string, Uint8Array]> = [
    ['few words', few],
    ['half page', half],
    ['all bytes', all],
  ];
  const out = new Uint8Array(P);
  const pageCopy = new Uint8Array(P);
  const encodeOps = await opsPerSecond(
    'xbzrle encode',
    [
      ...deltas.flatMap(([label, page]) => [
        { name: `encode ${label} wasm`, fn: () => xbzrleEncodeWith('wasm-simd', oldPage, page, out) },
        { name: `encode ${label} js`, fn: () => xbzrleEncodeWith('js', oldPage, page, out) },
      ]),
      { name: 'page copy', fn: () => pageCopy.set(few) },
    ],
    options,
  );
  const copyPage = (encodeOps[deltas.length * 2]! * P) / MB;
  deltas.forEach(([label], i) => {
    cases.push(
      benchCase(`xbzrle encode ${label}, wasm-simd (MB/s)`, 'MB/s', (encodeOps[2 * i]! * P) / MB, copyPage),
    );
    cases.push(
      benchCase(`xbzrle encode ${label}, js (MB/s)`, 'MB/s', (encodeOps[2 * i + 1]! * P) / MB, copyPage),
    );
  });
  const decodable = deltas
    .map(([label, page]) => [label, xbzrleEncodeWith('wasm-simd', oldPage, page)] as const)
    .filter((entry): entry is readonly [string, Uint8Array] => entry[1] !== null);
  const target = new Uint8Array(P);
  const decodeOps = await opsPerSecond(
    'xbzrle decode',
    [
      ...decodable.map(([label, delta]) => ({
        name: `decode ${label}`,
        fn: () => xbzrleDecodeWith('auto', delta, oldPage, target),
      })),
      { name: 'page copy', fn: () => pageCopy.set(few) },
    ],
    options,
  );
  const copyPage2 = (decodeOps[decodable.length]! * P) / MB;
  decodable.forEach(([label], i) => {
    cases.push(benchCase(`xbzrle decode ${label} (MB/s)`, 'MB/s', (decodeOps[i]! * P) / MB, copyPage2));
  });
  return cases;
}

function memoryCases(options: SuiteOptions): BenchCase[] {
  const pages = options.quick ? 1024 : 4096;
  const cases: BenchCase[] = [];
  const mixes: Mix[] = ['zero-heavy', 'text-like', 'kv-after-updates', 'random'];
  for (const mix of mixes) {
    for (const codecPolicy of ['tiered', 'zstd'] as const) {
      const store = createCheckpointStore({ pageCount: pages, codecPolicy, backgroundCpuShare: 0 });
      loadMix(store, mix, pages);
      // Baseline 1.0: a plain second copy of the protected memory.
      if (codecPolicy === 'tiered') {
        const before = store.stats();
        cases.push(
          benchCase(
            `RAM/logical ${mix}, tiered, no offload, before background`,
            'ratio',
            before.ramBytes / before.logicalBytes,
            1,
          ),
        );
      }
      settle(store);
      const { ramBytes, logicalBytes } = store.stats();
      cases.push(
        benchCase(`RAM/logical ${mix}, ${codecPolicy}, no offload`, 'ratio', ramBytes / logicalBytes, 1),
      );
      store.close();
    }
    // With offload: a budget of a quarter of the image, no background work at all (every page is
    // compressed under pressure, the worst case); the peak of ramBytes over every call.
    const budget = (pages * P) / 4;
    const store = createCheckpointStore({ pageCount: pages, ramBudgetBytes: budget, backgroundCpuShare: 0 });
    const peak = loadMix(store, mix, pages, true);
    cases.push(benchCase(`peak RAM vs budget ${mix}, offload (MB)`, 'MB', peak / MB, budget / MB));
    store.close();
  }
  return cases;
}

const suite: BenchSuite = {
  name: 'checkpoint-store',
  question:
    'How fast does the secondary commit and materialize checkpoints, and encode XBZRLE, against a contiguous copy ' +
    'of the same bytes; and how much RAM does it hold per byte of protected memory (a plain copy is 1.0)?',
  async run(options) {
    return [...(await throughputCases(options)), ...memoryCases(options)];
  },
};

export default suite;
