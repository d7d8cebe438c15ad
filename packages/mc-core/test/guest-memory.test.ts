import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  InvalidOptionError,
  type McCoreError,
  OutOfBoundsError,
} from '../src/errors.js';
import { attachGuestMemory, createGuestMemory } from '../src/guest-memory.js';
import { startTsWorker } from './helpers.js';

const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

describe('createGuestMemory options', () => {
  const bad: Array<[string, Record<string, unknown>]> = [
    ['pageSizeBytes', { pageSizeBytes: 3000 }],
    ['pageSizeBytes', { pageSizeBytes: 128 }],
    ['pageSizeBytes', { pageSizeBytes: 32 * 1024 * 1024 }],
    ['sizeBytes', { sizeBytes: 0 }],
    ['sizeBytes', { sizeBytes: 65536 + 4096 }],
    ['sizeBytes', { sizeBytes: 1.5 }],
    ['sizeBytes', { sizeBytes: '1024' }],
    ['sizeBytes', { sizeBytes: 2 * 1024 * 1024 * 1024 }],
    ['tracking', { tracking: 'dirty' }],
    ['slabBytes', { slabBytes: 100 }],
    ['slabBytes', { sizeBytes: 65536, slabBytes: 131072 }],
    ['kernel', { kernel: 'c' }],
  ];
  for (const [name, options] of bad) {
    it(`rejects ${JSON.stringify(options)} naming ${name}`, () => {
      const attempt = () => createGuestMemory(options);
      expect(attempt).toThrow(InvalidOptionError);
      expect(attempt).toThrow(new RegExp(`option ${name}`));
      try {
        attempt();
      } catch (err) {
        expect((err as McCoreError).code).toBe('MC_ERR_INVALID_OPTION');
      }
    });
  }

  it('has the documented defaults', () => {
    const m = createGuestMemory();
    expect(m.sizeBytes).toBe(64 * 1024 * 1024);
    expect(m.pageSizeBytes).toBe(4096);
    expect(m.pageCount).toBe(16384);
    expect(m.tracking).toBe('bitmap');
    expect(m.slabBytes).toBe(m.sizeBytes);
    expect(m.kernel).toBe('wasm');
    expect(m.bytes.length).toBe(m.sizeBytes);
    expect(m.dirtyBitmap.length).toBe(512);
    expect(m.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
  });
});

describe('reading, writing and reporting writes', () => {
  it('write() copies and marks every page it touches; read() copies out', () => {
    const m = createGuestMemory({ sizeBytes: 1024 * 1024 });
    m.write(4095, new Uint8Array([1, 2]));
    expect(m.isDirty(0)).toBe(true);
    expect(m.isDirty(1)).toBe(true);
    expect(m.isDirty(2)).toBe(false);
    expect(m.dirtyPageCount()).toBe(2);
    const out = m.read(4095, 2);
    expect([...out]).toEqual([1, 2]);
    out[0] = 9;
    expect(m.bytes[4095]).toBe(1);
    m.write(0, new Uint8Array(0));
    expect(m.dirtyPageCount()).toBe(2);
  });

  it('markDirty() marks whole ranges, across bitmap words, and counts them', () => {
    const m = createGuestMemory({ sizeBytes: 1024 * 1024 });
    m.markDirty(30 * 4096 + 1, 40 * 4096);
    for (let p = 0; p < m.pageCount; p++) expect(m.isDirty(p)).toBe(p >= 30 && p <= 70);
    expect(m.dirtyPageCount()).toBe(41);
    m.markDirty(0, m.sizeBytes);
    expect(m.dirtyPageCount()).toBe(m.pageCount);
    m.markDirty(5, 0);
  });

  it('refuses ranges outside guest memory with a typed error, touching nothing', () => {
    const m = createGuestMemory({ sizeBytes: 65536 });
    expect(() => m.write(65535, new Uint8Array(2))).toThrow(OutOfBoundsError);
    expect(() => m.write(-1, new Uint8Array(1))).toThrow(InvalidArgumentError);
    expect(() => m.write(0, [1, 2] as unknown as Uint8Array)).toThrow(InvalidArgumentError);
    expect(() => m.read(65000, 1000)).toThrow(OutOfBoundsError);
    expect(() => m.markDirty(0, 65537)).toThrow(OutOfBoundsError);
    expect(() => m.markDirty(0.5, 1)).toThrow(InvalidArgumentError);
    expect(() => m.isDirty(16)).toThrow(OutOfBoundsError);
    expect(m.dirtyPageCount()).toBe(0);
    expect(m.bytes.every((b) => b === 0)).toBe(true);
  });
});

describe('restorePages', () => {
  it('writes runs into memory without marking them dirty', () => {
    const m = createGuestMemory({ sizeBytes: 65536 });
    const data = new Uint8Array(3 * 4096).fill(7);
    m.restorePages(new Uint32Array([2, 2, 0, 10, 1, 8192]), data);
    expect(m.bytes[2 * 4096]).toBe(7);
    expect(m.bytes[4 * 4096]).toBe(0);
    expect(m.bytes[10 * 4096 + 4095]).toBe(7);
    expect(m.dirtyPageCount()).toBe(0);
  });

  it('in scan mode, restored pages are the new baseline: the next scan does not report them', () => {
    const m = createGuestMemory({ sizeBytes: 65536, tracking: 'scan' });
    m.restorePages(new Uint32Array([3, 1, 0]), new Uint8Array(4096).fill(1));
    const capture = m.capture();
    expect(capture.runCount).toBe(0);
    capture.release();
  });

  it('checks every run before writing anything', () => {
    const m = createGuestMemory({ sizeBytes: 65536 });
    const data = new Uint8Array(4096).fill(5);
    const cases: Array<[Uint32Array, Uint8Array, typeof McCoreError]> = [
      [new Uint32Array([0, 1, 0, 15, 2, 0]), data, OutOfBoundsError], // second run past the last page
      [new Uint32Array([0, 1, 0, 1, 1, 1]), data, OutOfBoundsError], // second run past the data
      [new Uint32Array([0, 1, 0, 4, 0, 0]), data, OutOfBoundsError], // empty run
      [new Uint32Array([0, 1]), data, InvalidArgumentError], // not whole runs
      [new Uint32Array([0xffffffff, 2, 0]), data, OutOfBoundsError], // overflowing page index
    ];
    for (const [runs, bytes, type] of cases) {
      expect(() => m.restorePages(runs, bytes)).toThrow(type);
    }
    expect(() => m.restorePages([0, 1, 0] as unknown as Uint32Array, data)).toThrow(InvalidArgumentError);
    expect(m.bytes.every((b) => b === 0)).toBe(true);
  });
});

describe('attachGuestMemory', () => {
  it('refuses what is not a handle', () => {
    expect(() => attachGuestMemory({} as never)).toThrow(InvalidArgumentError);
    expect(() => attachGuestMemory(null as never)).toThrow(InvalidArgumentError);
  });

  it('gives another thread the same pages and the same dirty log', async () => {
    const m = createGuestMemory({ sizeBytes: 1024 * 1024 });
    m.write(100, new Uint8Array([42]));
    const worker = startTsWorker(new URL('./fixtures/attach-probe.ts', import.meta.url), m.handle());
    workers.push(worker);
    const reply = await new Promise<{ seen: number; dirty: boolean }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(reply).toEqual({ seen: 42, dirty: true });
    // The worker wrote page 9 through its view: the owner sees the bytes and the bit.
    expect(m.bytes[9 * 4096]).toBe(99);
    expect(m.isDirty(9)).toBe(true);
  });
});
