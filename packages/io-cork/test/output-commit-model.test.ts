import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CorkItem,
  type CorkQueue,
  callbackSink,
  createCorkQueue,
  createDedupFilter,
  decodeBatch,
} from '../src/index.js';

// The engine drives a primary and a secondary queue through random interleavings of what happens in
// micro-checkpointing; a reference model (plain arrays) says what must be true after every step.

const DESTINATIONS = ['a', 'b', 'c'] as const;

type Op =
  | { kind: 'append'; dest: number; length: number; fill: number }
  | { kind: 'capture' }
  | { kind: 'ship'; roundTrip: boolean }
  | { kind: 'ack' }
  | { kind: 'abort' }
  | { kind: 'serializeAny'; pick: number }
  | { kind: 'takeover' }
  | { kind: 'reprotect' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      dest: fc.nat(DESTINATIONS.length - 1),
      length: fc.nat(40),
      fill: fc.nat(255),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ kind: 'capture' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('ship' as const), roundTrip: fc.boolean() }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'ack' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'abort' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('serializeAny' as const), pick: fc.nat(10) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'takeover' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reprotect' as const }) },
);

interface ModelItem {
  epoch: number;
  seq: number;
  dest: string;
  data: number[];
}

interface ModelBatch {
  epoch: number;
  items: ModelItem[];
}

/** One node as the model sees it. */
interface Node {
  id: number;
  queue: CorkQueue;
  /** Epochs this node may release (the test raises it right before calling release/reemit). */
  allowedThrough: number;
  /** Every item this node's sinks were handed, in order. */
  delivered: CorkItem[];
}

interface Delivery {
  node: number;
  item: CorkItem;
}

function makeNode(id: number, log: Delivery[], violations: string[]): Node {
  const node: Node = { id, queue: createCorkQueue({ source: 'model' }), allowedThrough: -1, delivered: [] };
  for (const dest of DESTINATIONS) {
    node.queue.attach(
      dest,
      callbackSink((item) => {
        if (item.epoch > node.allowedThrough) {
          violations.push(
            `node ${id} delivered epoch ${item.epoch} before its release (${node.allowedThrough})`,
          );
        }
        node.delivered.push(item);
        log.push({ node: id, item });
      }),
    );
  }
  return node;
}

function bytesOf(item: ModelItem): Uint8Array {
  return Uint8Array.from(item.data);
}

function run(ops: Op[]): void {
  const violations: string[] = [];
  const log: Delivery[] = [];
  let nodeIds = 0;
  let primary = makeNode(nodeIds++, log, violations);
  let secondary = makeNode(nodeIds++, log, violations);
  let generation = 0;
  primary.queue.setGeneration(generation);

  // Model of the primary: open epoch, sealed batches not shipped, shipped (committed) not released.
  let nextEpoch = 1;
  let nextSeq = 0;
  let open: ModelBatch = { epoch: nextEpoch++, items: [] };
  primary.queue.open(open.epoch);
  let sealed: ModelBatch[] = [];
  let committedUnreleased: ModelBatch[] = [];
  /** Every item of every committed epoch, in commit order: what receivers must end up with, once each. */
  const committed: ModelItem[] = [];
  let takeovers = 0;

  const checkCounters = (): void => {
    const held =
      open.items.length + [...sealed, ...committedUnreleased].reduce((n, b) => n + b.items.length, 0);
    const m = primary.queue.metrics();
    expect(m.corkedItems).toBe(held);
    expect(primary.queue.nextSeq).toBe(nextSeq);
    expect(primary.queue.openEpoch).toBe(open.epoch);
  };

  for (const op of ops) {
    switch (op.kind) {
      case 'append': {
        const item: ModelItem = {
          epoch: open.epoch,
          seq: nextSeq++,
          dest: DESTINATIONS[op.dest]!,
          data: Array.from({ length: op.length }, (_, i) => (op.fill + i) & 0xff),
        };
        open.items.push(item);
        primary.queue.append(item.dest, bytesOf(item));
        break;
      }
      case 'capture': {
        const info = primary.queue.seal(open.epoch);
        expect(info.items).toBe(open.items.length);
        expect(info.nextSeq).toBe(nextSeq);
        sealed.push(open);
        open = { epoch: nextEpoch++, items: [] };
        primary.queue.open(open.epoch);
        break;
      }
      case 'ship': {
        const batch = sealed.shift();
        if (batch === undefined) break;
        let bytes = primary.queue.serialize(batch.epoch);
        if (op.roundTrip) bytes = Uint8Array.from(bytes); // what crossing a wire does
        const info = secondary.queue.ingest(bytes);
        expect(info.epoch).toBe(batch.epoch);
        expect(info.items).toBe(batch.items.length);
        committedUnreleased.push(batch);
        committed.push(...batch.items);
        break;
      }
      case 'ack': {
        const batch = committedUnreleased.shift();
        if (batch === undefined) break;
        primary.allowedThrough = batch.epoch;
        const released = primary.queue.release(batch.epoch);
        expect(released).toBe(batch.items.length);
        break;
      }
      case 'abort': {
        // The newest uncommitted work is rolled back: the oldest unshipped sealed batch and all later.
        const first = sealed[0] ?? open;
        const dropped = primary.queue.discard(first.epoch);
        const expected = [...sealed, open].reduce((n, b) => n + b.items.length, 0);
        expect(dropped).toBe(expected);
        nextSeq -= expected; // the discarded items were the newest seqs
        sealed = [];
        open = { epoch: primary.queue.lastEpoch + 1, items: [] };
        nextEpoch = open.epoch + 1;
        primary.queue.open(open.epoch);
        break;
      }
      case 'serializeAny': {
        const candidates = [...committedUnreleased, ...sealed];
        const batch = candidates[op.pick % Math.max(1, candidates.length)];
        if (batch === undefined) break;
        const decoded = decodeBatch(primary.queue.serialize(batch.epoch));
        const items = [...decoded.items()].map((i) => ({
          seq: i.seq,
          dest: i.destination,
          data: [...i.data],
        }));
        expect(items).toEqual(batch.items.map((i) => ({ seq: i.seq, dest: i.dest, data: i.data })));
        break;
      }
      case 'takeover': {
        if (takeovers >= 3) break;
        takeovers++;
        // The primary dies. The secondary wins arbitration under a higher generation and re-emits.
        generation++;
        secondary.queue.setGeneration(generation);
        secondary.allowedThrough = Number.MAX_SAFE_INTEGER;
        secondary.queue.reemit();
        // Committed state is the survivor's: its counters continue from the last committed epoch.
        const survivor = secondary;
        const lastCommitted = survivor.queue.lastEpoch;
        nextSeq = survivor.queue.nextSeq;
        nextEpoch = lastCommitted + 1;
        open = { epoch: nextEpoch++, items: [] };
        sealed = [];
        committedUnreleased = [];
        survivor.queue.open(open.epoch);
        // Re-protection: a fresh secondary seeded with the survivor's restorable state.
        const fresh = makeNode(nodeIds++, log, violations);
        fresh.queue.restoreState(survivor.queue.exportState());
        expect(fresh.queue.nextSeq).toBe(nextSeq);
        primary = survivor;
        secondary = fresh;
        break;
      }
      case 'reprotect': {
        // A new secondary is seeded by full sync at a capture: the primary's sealed batches become
        // committed on it, and the old secondary is retired.
        const fresh = makeNode(nodeIds++, log, violations);
        fresh.queue.restoreState(primary.queue.exportState());
        expect(fresh.queue.heldEpochs).toEqual(primary.queue.heldEpochs.filter((e) => e !== open.epoch));
        committedUnreleased.push(...sealed);
        for (const batch of sealed) committed.push(...batch.items);
        sealed = [];
        secondary = fresh;
        break;
      }
    }
    checkCounters();
    expect(violations).toEqual([]);
  }

  // Each node handed each item once, in seq order.
  for (const id of new Set(log.map((d) => d.node))) {
    const seqs = log.filter((d) => d.node === id).map((d) => d.item.seq);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
  }

  // Final failover: the secondary takes over; after dedup every committed item arrives exactly once.
  generation++;
  secondary.queue.setGeneration(generation);
  secondary.allowedThrough = Number.MAX_SAFE_INTEGER;
  secondary.queue.reemit();
  expect(violations).toEqual([]);

  const filters = new Map(DESTINATIONS.map((d) => [d, createDedupFilter({ trackGeneration: true })]));
  const accepted = log.filter((d) =>
    filters.get(d.item.destination as (typeof DESTINATIONS)[number])!.accept(d.item),
  );
  const got = accepted
    .map(({ item }) => ({ epoch: item.epoch, seq: item.seq, dest: item.destination, data: [...item.data] }))
    .sort((x, y) => x.seq - y.seq);
  expect(got).toEqual(committed);
}

describe('output commit model', () => {
  it('never releases early, releases once in order, and is exactly-once after takeover with dedup', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 80 }), (ops) => run(ops)),
      { numRuns: 300 },
    );
  });

  it('a batch the dead primary released and one it did not are both delivered exactly once', () => {
    run([
      { kind: 'append', dest: 0, length: 3, fill: 1 },
      { kind: 'capture' },
      { kind: 'ship', roundTrip: true },
      { kind: 'append', dest: 1, length: 3, fill: 2 },
      { kind: 'capture' },
      { kind: 'ship', roundTrip: false },
      { kind: 'ack' },
      { kind: 'takeover' },
      { kind: 'append', dest: 2, length: 3, fill: 3 },
      { kind: 'capture' },
      { kind: 'ship', roundTrip: false },
    ]);
  });
});
