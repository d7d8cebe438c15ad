import { describe, expect, it } from 'vitest';
import { crc32 } from '../src/crc32.js';
import {
  BatchChecksumError,
  BatchFormatError,
  BatchTruncatedError,
  BatchVersionError,
  CommittedOutputError,
  type CorkItem,
  CorkQueueFullError,
  callbackSink,
  createCorkQueue,
  decodeState,
  EpochStateError,
  InvalidArgumentError,
  InvalidOptionError,
  ItemTooLargeError,
  SourceMismatchError,
  StaleGenerationError,
} from '../src/index.js';

const text = new TextEncoder();
const decode = (data: Uint8Array): string => new TextDecoder().decode(data);

function recorder(): { items: CorkItem[]; sink: ReturnType<typeof callbackSink> } {
  const items: CorkItem[] = [];
  return { items, sink: callbackSink((item) => void items.push(item)) };
}

describe('options', () => {
  it('validates every option at construction, naming it', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ source: '' }, 'source'],
      [{ source: 'x'.repeat(300) }, 'source'],
      [{ source: '\ud800' }, 'source'],
      [{ generation: -1 }, 'generation'],
      [{ generation: 1.5 }, 'generation'],
      [{ maxHeldBytes: 0 }, 'maxHeldBytes'],
      [{ maxHeldBytes: 2 ** 31 }, 'maxHeldBytes'],
      [{ maxHeldItems: 2 ** 27 }, 'maxHeldItems'],
      [{ highWaterBytes: 100, maxHeldBytes: 50 }, 'highWaterBytes'],
      [{ highWaterItems: 10, maxHeldItems: 5 }, 'highWaterItems'],
      [{ maxItemBytes: 100, maxHeldBytes: 50, highWaterBytes: 50 }, 'maxItemBytes'],
      [{ maxBatchBytes: 10 }, 'maxBatchBytes'],
      [{ trackLatency: 'yes' }, 'trackLatency'],
    ];
    for (const [options, name] of cases) {
      expect(() => createCorkQueue(options)).toThrow(InvalidOptionError);
      try {
        createCorkQueue(options);
      } catch (error) {
        expect((error as InvalidOptionError).option).toBe(name);
        expect((error as InvalidOptionError).code).toBe('MC_ERR_INVALID_OPTION');
        expect((error as Error).message).toContain(name);
      }
    }
    expect(() => createCorkQueue(null as unknown as object)).toThrow(InvalidOptionError);
  });
});

describe('epoch life cycle', () => {
  it('never hands an item to a sink before its epoch is released, then hands it exactly once', () => {
    const queue = createCorkQueue();
    const { items, sink } = recorder();
    queue.attach('c', sink);
    queue.open(1);
    queue.append('c', text.encode('one'));
    queue.append('c', text.encode('two'));
    queue.seal(1);
    queue.open(2);
    queue.append('c', text.encode('three'));
    expect(items).toHaveLength(0);
    expect(queue.release(1)).toBe(2);
    expect(items.map((i) => [i.epoch, i.seq, decode(i.data)])).toEqual([
      [1, 0, 'one'],
      [1, 1, 'two'],
    ]);
    expect(queue.release(1)).toBe(0); // a repeated ACK
    expect(items).toHaveLength(2);
    queue.seal(2);
    queue.release(2);
    expect(items.map((i) => i.seq)).toEqual([0, 1, 2]);
    expect(items[0]).toMatchObject({ source: 'workload', generation: 0, destination: 'c' });
  });

  it('release(n) also releases every earlier epoch, in order, across destinations', () => {
    const queue = createCorkQueue();
    const seen: string[] = [];
    queue.attach(
      'x',
      callbackSink((item) => void seen.push(`x${item.seq}`)),
    );
    queue.attach(
      'y',
      callbackSink((item) => void seen.push(`y${item.seq}`)),
    );
    for (let epoch = 1; epoch <= 3; epoch++) {
      queue.open(epoch);
      queue.append('x', new Uint8Array(1));
      queue.append('y', new Uint8Array(1));
      queue.seal(epoch);
    }
    expect(queue.release(2)).toBe(4);
    expect(seen).toEqual(['x0', 'y1', 'x2', 'y3']);
    expect(queue.heldEpochs).toEqual([3]);
    expect(queue.releasedThrough).toBe(2);
  });

  it('copies appended data: the caller may reuse its buffer', () => {
    const queue = createCorkQueue();
    const { items, sink } = recorder();
    queue.attach('c', sink);
    const buffer = text.encode('abc');
    queue.open(1);
    queue.append('c', buffer);
    buffer.fill(0);
    queue.seal(1);
    queue.release(1);
    expect(decode(items[0]!.data)).toBe('abc');
  });

  it('rejects calls that do not fit the life cycle, changing nothing', () => {
    const queue = createCorkQueue();
    expect(() => queue.append('c', new Uint8Array(1))).toThrow(EpochStateError);
    queue.open(5);
    expect(() => queue.open(6)).toThrow(EpochStateError);
    expect(() => queue.seal(4)).toThrow(EpochStateError);
    expect(() => queue.serialize(5)).toThrow(EpochStateError);
    expect(() => queue.release(5)).toThrow(EpochStateError);
    expect(() => queue.reemit()).toThrow(EpochStateError);
    const other = createCorkQueue();
    other.open(9);
    other.seal(9);
    expect(() => queue.ingest(other.serialize(9))).toThrow(EpochStateError);
    queue.seal(5);
    expect(() => queue.open(5)).toThrow(EpochStateError);
    expect(() => queue.open(3)).toThrow(EpochStateError);
    expect(() => queue.release(9)).toThrow(EpochStateError);
    expect(() => queue.serialize(4)).toThrow(EpochStateError);
    expect(() => queue.discard(4)).toThrow(EpochStateError);
    expect(() => queue.open(-1)).toThrow(InvalidArgumentError);
    expect(() => queue.open(1.5)).toThrow(InvalidArgumentError);
    queue.open(7);
    expect(() => queue.append('', new Uint8Array(1))).toThrow(InvalidArgumentError);
    expect(() => queue.append('\udc00', new Uint8Array(1))).toThrow(InvalidArgumentError);
    expect(() => queue.append('d'.repeat(2000), new Uint8Array(1))).toThrow(InvalidArgumentError);
    expect(() => queue.append('c', 'text' as unknown as Uint8Array)).toThrow(InvalidArgumentError);
    expect(queue.metrics()).toMatchObject({ corkedItems: 0, nextSeq: 0, openEpoch: 7 });
    expect(queue.heldEpochs).toEqual([5, 7]);
  });

  it('discard drops the batch and every later one and rolls the seq counter back', () => {
    const queue = createCorkQueue();
    const { items, sink } = recorder();
    queue.attach('c', sink);
    for (let epoch = 1; epoch <= 3; epoch++) {
      queue.open(epoch);
      queue.append('c', text.encode(`e${epoch}a`));
      queue.append('c', text.encode(`e${epoch}b`));
      queue.seal(epoch);
    }
    queue.open(4);
    queue.append('c', text.encode('e4'));
    queue.release(1);
    expect(queue.discard(2)).toBe(5);
    expect(queue.nextSeq).toBe(2);
    expect(queue.openEpoch).toBeUndefined();
    expect(queue.lastEpoch).toBe(1);
    expect(queue.metrics()).toMatchObject({ corkedItems: 0, discardedItems: 5 });
    queue.open(2);
    queue.append('c', text.encode('again'));
    queue.seal(2);
    queue.release(2);
    expect(items.map((i) => [i.seq, decode(i.data)])).toEqual([
      [0, 'e1a'],
      [1, 'e1b'],
      [2, 'again'],
    ]);
    expect(() => queue.discard(1)).toThrow(EpochStateError);
  });

  it('refuses to discard output that came from a committed checkpoint', () => {
    const primary = createCorkQueue();
    primary.open(1);
    primary.append('c', text.encode('committed'));
    primary.seal(1);
    const secondary = createCorkQueue();
    secondary.ingest(primary.serialize(1));
    expect(() => secondary.discard(1)).toThrow(CommittedOutputError);
    expect(secondary.metrics().corkedItems).toBe(1);
  });

  it('refuses state changes from inside a sink write during a release', () => {
    const queue = createCorkQueue();
    const errors: unknown[] = [];
    queue.on('sink-error', (error) => errors.push(error.cause));
    queue.attach(
      'c',
      callbackSink(() => {
        queue.release(2);
      }),
    );
    queue.open(1);
    queue.append('c', new Uint8Array(1));
    queue.seal(1);
    queue.open(2);
    queue.seal(2);
    queue.release(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(EpochStateError);
    expect(queue.heldEpochs).toEqual([2]);
  });
});

describe('listeners', () => {
  it('a listener that throws cannot cut a release short; its error surfaces on the next tick', async () => {
    const saved = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    try {
      const surfaced = new Promise<unknown>((resolve) => process.once('uncaughtException', resolve));
      const queue = createCorkQueue();
      queue.on('sink-error', () => {
        throw new Error('listener bug');
      });
      queue.attach(
        'bad',
        callbackSink(() => {
          throw new Error('sink failure');
        }),
      );
      const { items, sink } = recorder();
      queue.attach('good', sink);
      queue.open(1);
      queue.append('bad', new Uint8Array(1));
      queue.append('good', new Uint8Array(1));
      queue.append('good', new Uint8Array(1));
      queue.seal(1);
      expect(queue.release(1)).toBe(3);
      expect(items.map((i) => i.seq)).toEqual([1, 2]);
      expect(queue.metrics()).toMatchObject({ corkedItems: 0, sinkErrors: 1, releasedThrough: 1 });
      expect(((await surfaced) as Error).message).toBe('listener bug');
    } finally {
      for (const listener of saved) process.on('uncaughtException', listener);
    }
  });
});

describe('bounds and backpressure', () => {
  it('append returns false at the high-water mark, throws at the hard cap, and drain follows release', () => {
    const queue = createCorkQueue({
      highWaterItems: 3,
      maxHeldItems: 5,
      highWaterBytes: 1000,
      maxHeldBytes: 2000,
    });
    let drains = 0;
    queue.on('drain', () => drains++);
    queue.open(1);
    expect(queue.append('c', new Uint8Array(10))).toBe(true);
    expect(queue.append('c', new Uint8Array(10))).toBe(true);
    expect(queue.append('c', new Uint8Array(10))).toBe(false);
    expect(queue.metrics().backpressure).toBe(true);
    expect(queue.append('c', new Uint8Array(10))).toBe(false);
    expect(queue.append('c', new Uint8Array(10))).toBe(false);
    expect(() => queue.append('c', new Uint8Array(10))).toThrow(CorkQueueFullError);
    expect(queue.metrics()).toMatchObject({ corkedItems: 5, corkedBytes: 50, nextSeq: 5 });
    queue.seal(1);
    expect(drains).toBe(0);
    // No sink is attached: released items stay held (pending) and still count.
    queue.release(1);
    expect(queue.metrics()).toMatchObject({ corkedItems: 0, pendingItems: 5, heldItems: 5 });
    expect(drains).toBe(0);
    queue.attach(
      'c',
      callbackSink(() => {}),
    );
    expect(drains).toBe(1);
    expect(queue.metrics()).toMatchObject({ heldItems: 0, backpressure: false });
  });

  it('the byte caps work the same way and an oversized item is its own error', () => {
    const queue = createCorkQueue({ highWaterBytes: 100, maxHeldBytes: 150, maxItemBytes: 120 });
    queue.open(1);
    expect(queue.append('c', new Uint8Array(60))).toBe(true);
    expect(queue.append('c', new Uint8Array(60))).toBe(false);
    expect(() => queue.append('c', new Uint8Array(60))).toThrow(CorkQueueFullError);
    expect(() => queue.append('c', new Uint8Array(121))).toThrow(ItemTooLargeError);
    expect(queue.metrics().corkedBytes).toBe(120);
  });

  it('discarding also relieves backpressure', () => {
    const queue = createCorkQueue({ highWaterItems: 1 });
    let drains = 0;
    queue.on('drain', () => drains++);
    queue.open(1);
    expect(queue.append('c', new Uint8Array(1))).toBe(false);
    queue.discard(1);
    expect(drains).toBe(1);
  });
});

describe('destinations', () => {
  it('released items wait for a destination without a sink, then arrive in order on attach', async () => {
    const queue = createCorkQueue();
    queue.open(1);
    queue.append('late', text.encode('a'));
    queue.append('late', text.encode('b'));
    queue.seal(1);
    queue.release(1);
    await queue.idle(); // a destination without a sink does not keep idle() from resolving
    const { items, sink } = recorder();
    queue.attach('late', sink);
    expect(items.map((i) => decode(i.data))).toEqual(['a', 'b']);
    expect(queue.detach('late')).toBe(sink);
    expect(queue.detach('unknown')).toBeUndefined();
  });

  it('drop discards what a destination never took, and counts it', () => {
    const queue = createCorkQueue();
    queue.open(1);
    queue.append('gone', text.encode('a'));
    queue.append('kept', text.encode('b'));
    queue.seal(1);
    queue.release(1);
    expect(queue.drop('gone')).toBe(1);
    expect(queue.drop('never-seen')).toBe(0);
    expect(queue.metrics()).toMatchObject({ droppedItems: 1, pendingItems: 1, destinations: 1 });
  });

  it('attach validates the sink', () => {
    const queue = createCorkQueue();
    expect(() => queue.attach('c', {} as never)).toThrow(InvalidArgumentError);
    expect(() => callbackSink(42 as never)).toThrow(InvalidArgumentError);
  });
});

describe('metrics', () => {
  it('counts items and bytes and records added latency per item', async () => {
    const queue = createCorkQueue();
    queue.attach(
      'c',
      callbackSink(() => {}),
    );
    queue.open(1);
    for (let i = 0; i < 10; i++) queue.append('c', new Uint8Array(100));
    queue.seal(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    queue.release(1);
    const m = queue.metrics();
    expect(m).toMatchObject({
      appendedItems: 10,
      appendedBytes: 1000,
      releasedItems: 10,
      releasedBytes: 1000,
    });
    expect(m.latency.count).toBe(10);
    expect(m.latency.p50Ms).toBeGreaterThanOrEqual(15);
    expect(m.latency.minMs).toBeGreaterThanOrEqual(15);
    expect(m.latency.buckets.reduce((n, b) => n + b.count, 0)).toBe(10);
  });

  it('does not record latency when trackLatency is off', () => {
    const queue = createCorkQueue({ trackLatency: false });
    queue.attach(
      'c',
      callbackSink(() => {}),
    );
    queue.open(1);
    queue.append('c', new Uint8Array(1));
    queue.seal(1);
    queue.release(1);
    expect(queue.metrics().latency.count).toBe(0);
  });
});

describe('takeover', () => {
  it('setGeneration never goes backwards; reemit stamps the new generation on original epoch and seq', () => {
    const primary = createCorkQueue({ generation: 1 });
    primary.open(1);
    primary.append('c', text.encode('x'));
    primary.seal(1);
    const survivor = createCorkQueue();
    survivor.ingest(primary.serialize(1));
    expect(() => survivor.setGeneration(0)).toThrow(StaleGenerationError);
    expect(() => survivor.setGeneration(-1)).toThrow(InvalidArgumentError);
    survivor.setGeneration(2);
    const { items, sink } = recorder();
    survivor.attach('c', sink);
    expect(survivor.reemit()).toBe(1);
    expect(items[0]).toMatchObject({ epoch: 1, seq: 0, generation: 2 });
    expect(survivor.reemit()).toBe(0);
    survivor.open(2);
    survivor.append('c', text.encode('y'));
    expect(survivor.nextSeq).toBe(2);
  });

  it('markReleased lets go of ingested batches only', () => {
    const primary = createCorkQueue();
    const secondary = createCorkQueue();
    for (let epoch = 1; epoch <= 2; epoch++) {
      primary.open(epoch);
      primary.append('c', new Uint8Array(3));
      primary.seal(epoch);
      secondary.ingest(primary.serialize(epoch));
    }
    expect(secondary.markReleased(1)).toBe(1);
    expect(secondary.heldEpochs).toEqual([2]);
    expect(secondary.markReleased(1)).toBe(0);
    expect(() => secondary.markReleased(5)).toThrow(EpochStateError);
    expect(() => primary.markReleased(1)).toThrow(EpochStateError);
  });
});

describe('exported state', () => {
  function primaryWithHistory() {
    const primary = createCorkQueue({ source: 'svc', generation: 4 });
    primary.attach(
      'c',
      callbackSink(() => {}),
    );
    for (let epoch = 1; epoch <= 3; epoch++) {
      primary.open(epoch);
      primary.append('c', text.encode(`e${epoch}`));
      primary.seal(epoch);
    }
    primary.release(1);
    primary.open(4);
    primary.append('c', text.encode('open epoch, not in the state'));
    return primary;
  }

  it('carries counters and unreleased sealed batches to a new queue', () => {
    const primary = primaryWithHistory();
    const state = primary.exportState();
    const decoded = decodeState(state);
    expect(decoded).toMatchObject({
      source: 'svc',
      nextSeq: 3,
      generation: 4,
      releasedThrough: 1,
      lastEpoch: 3,
    });
    expect(decoded.batches.map((b) => b.epoch)).toEqual([2, 3]);

    const restored = createCorkQueue({ source: 'svc' });
    restored.restoreState(state);
    expect(restored.heldEpochs).toEqual([2, 3]);
    expect(restored.nextSeq).toBe(3);
    expect(restored.generation).toBe(4);
    const { items, sink } = recorder();
    restored.attach('c', sink);
    restored.setGeneration(5);
    restored.reemit();
    expect(items.map((i) => [i.epoch, i.seq, decode(i.data), i.generation])).toEqual([
      [2, 1, 'e2', 5],
      [3, 2, 'e3', 5],
    ]);
    restored.open(4);
    restored.append('c', new Uint8Array(1));
    expect(restored.nextSeq).toBe(4);
  });

  it('rejects damaged or mismatched states with typed errors and keeps the queue untouched', () => {
    const state = primaryWithHistory().exportState();
    const target = createCorkQueue({ source: 'svc' });
    for (let length = 0; length < state.length; length += 7) {
      expect(() => target.restoreState(state.subarray(0, length))).toThrow(BatchTruncatedError);
    }
    const flipped = Uint8Array.from(state);
    flipped[state.length - 2]! ^= 0xff;
    expect(() => target.restoreState(flipped)).toThrow(BatchChecksumError);
    const v9 = Uint8Array.from(state);
    new DataView(v9.buffer).setUint16(4, 9, true);
    expect(() => target.restoreState(v9)).toThrow(BatchVersionError);
    // Next seq that does not follow the last batch, with a valid checksum.
    const inconsistent = Uint8Array.from(state);
    const view = new DataView(inconsistent.buffer);
    view.setUint32(16, 7, true);
    view.setUint32(12, crc32(inconsistent.subarray(16)), true);
    expect(() => target.restoreState(inconsistent)).toThrow(BatchFormatError);
    expect(() => createCorkQueue({ source: 'other' }).restoreState(state)).toThrow(SourceMismatchError);
    expect(() => createCorkQueue({ source: 'svc', generation: 9 }).restoreState(state)).toThrow(
      StaleGenerationError,
    );
    expect(target.metrics()).toMatchObject({ corkedItems: 0, nextSeq: 0, lastEpoch: -1 });

    const busy = createCorkQueue({ source: 'svc' });
    busy.open(1);
    expect(() => busy.restoreState(state)).toThrow(EpochStateError);
  });
});
