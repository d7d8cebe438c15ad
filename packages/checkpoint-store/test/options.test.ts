import { afterEach, describe, expect, it } from 'vitest';
import {
  type CheckpointStore,
  CodecUnavailableError,
  createCheckpointStore,
  DEFAULT_BACKGROUND_CPU_SHARE,
  DEFAULT_PAGE_COUNT,
  DEFAULT_PAGE_SIZE_BYTES,
  InvalidOptionError,
} from '../src/index.js';
import { createCheckpointStoreWithHooks } from '../src/store.js';

const open: CheckpointStore[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

function expectOptionError(options: Record<string, unknown>, option: string): void {
  let caught: unknown;
  try {
    open.push(createCheckpointStore(options as never));
  } catch (err) {
    caught = err;
  }
  expect(caught, JSON.stringify(options)).toBeInstanceOf(InvalidOptionError);
  expect((caught as InvalidOptionError).code).toBe('MC_ERR_INVALID_OPTION');
  expect((caught as InvalidOptionError).option).toBe(option);
  expect((caught as Error).message).toContain(option);
}

describe('options', () => {
  it('defaults: 4096-byte pages, 1024 pages, no budget, tiered codecs, a full image per checkpoint', () => {
    const store = createCheckpointStore();
    open.push(store);
    const stats = store.stats();
    expect(stats.pageSize).toBe(DEFAULT_PAGE_SIZE_BYTES);
    expect(stats.pageCount).toBe(DEFAULT_PAGE_COUNT);
    expect(stats.ramBudgetBytes).toBe(Number.POSITIVE_INFINITY);
    expect(stats.codecPolicy).toBe('tiered');
    expect(stats.strongTier).toBe(true);
    expect(stats.maxCheckpointBytes).toBe(4096 * 1024);
    expect(stats.committedEpoch).toBeNull();
    expect(stats.diskBytes).toBe(0);
    expect(stats.deferCompression).toBe(true);
    expect(stats.backgroundCpuShare).toBe(DEFAULT_BACKGROUND_CPU_SHARE);
    expect(stats.pendingPages).toBe(0);
  });

  it('rejects each invalid option with an error naming it', () => {
    expectOptionError({ pageSize: 3000 }, 'pageSize');
    expectOptionError({ pageSize: 256 }, 'pageSize');
    expectOptionError({ pageSize: 131072 }, 'pageSize');
    expectOptionError({ pageCount: 0 }, 'pageCount');
    expectOptionError({ pageCount: 1.5 }, 'pageCount');
    expectOptionError({ ramBudgetBytes: -1 }, 'ramBudgetBytes');
    expectOptionError({ ramBudgetBytes: Number.NaN }, 'ramBudgetBytes');
    expectOptionError({ ramBudgetBytes: 1000 }, 'ramBudgetBytes');
    expectOptionError({ offloadDirectory: '' }, 'offloadDirectory');
    expectOptionError({ codecPolicy: 'gzip' }, 'codecPolicy');
    expectOptionError({ maxCheckpointBytes: 100 }, 'maxCheckpointBytes');
    expectOptionError({ pageSzie: 4096 }, 'pageSzie');
    expectOptionError({ deferCompression: 'yes' }, 'deferCompression');
    expectOptionError({ backgroundCpuShare: -0.1 }, 'backgroundCpuShare');
    expectOptionError({ backgroundCpuShare: 1.5 }, 'backgroundCpuShare');
    expectOptionError({ backgroundCpuShare: Number.NaN }, 'backgroundCpuShare');
    expectOptionError({ backgroundCpuShare: '0.5' }, 'backgroundCpuShare');
  });

  it('names the minimum budget in the error', () => {
    expect(() => createCheckpointStore({ pageCount: 64, ramBudgetBytes: 100_000 })).toThrow(
      /at least \d+ bytes/,
    );
  });

  it('without zstd-napi: the zstd policy is a typed error, tiered falls back to LZ4', () => {
    let caught: unknown;
    try {
      createCheckpointStoreWithHooks({ codecPolicy: 'zstd' }, { zstd: null });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CodecUnavailableError);
    expect((caught as CodecUnavailableError).code).toBe('MC_ERR_CODEC_UNAVAILABLE');
    const tiered = createCheckpointStoreWithHooks({ pageCount: 4 }, { zstd: null });
    open.push(tiered);
    expect(tiered.stats().strongTier).toBe(false);
    tiered.begin(1);
    const page = new Uint8Array(4096).fill(0x41);
    tiered.put(0, page);
    expect(() => tiered.put(1, new Uint8Array(20), 'zstd')).toThrow(CodecUnavailableError);
    tiered.commit(1);
    while (tiered.maintain(50)) {}
    expect(tiered.stats().pagesByCodec.lz4).toBe(1);
  });
});
