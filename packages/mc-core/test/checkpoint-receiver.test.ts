import { createCheckpointStore } from '@microcheckpoint/checkpoint-store';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkpointMessages } from '../src/protocol/checkpoint-messages.js';
import { CheckpointReceiver } from '../src/protocol/checkpoint-receiver.js';
import { decodeMessage, encodeMessage, type McMessage } from '../src/protocol/messages.js';
import { CheckpointProtocolError, ProtocolError } from '../src/protocol/protocol-errors.js';

const PAGE = 4096;
const PAGES = 32;

/** Sends each message through the real codec, as the wire would, and decodes it back. */
function overTheWire(message: McMessage): McMessage {
  const { type, parts } = encodeMessage(message);
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let pos = 0;
  for (const p of parts) {
    joined.set(p, pos);
    pos += p.byteLength;
  }
  return decodeMessage(type, joined);
}

const runsArb = fc
  .uniqueArray(fc.integer({ min: 0, max: PAGES - 1 }), { minLength: 0, maxLength: 12 })
  .chain((pages) =>
    fc.tuple(
      fc.constant([...pages].sort((a, b) => a - b)),
      fc.array(fc.integer({ min: 0, max: 255 }), { minLength: pages.length, maxLength: pages.length }),
    ),
  )
  .map(([pages, fills]) =>
    pages.map((firstPage, i) => ({ firstPage, pageCount: 1, data: new Uint8Array(PAGE).fill(fills[i]!) })),
  );

function setup() {
  const store = createCheckpointStore({ pageSize: PAGE, pageCount: PAGES, codecPolicy: 'raw' });
  const receiver = new CheckpointReceiver(store, {
    pageSize: PAGE,
    pageCount: PAGES,
    maxCheckpointBytes: PAGES * PAGE,
  });
  return { store, receiver };
}

function image(store: ReturnType<typeof createCheckpointStore>): Uint8Array {
  const target = new Uint8Array(PAGE * PAGES);
  store.materialize(target);
  return target;
}

describe('CheckpointReceiver', () => {
  it('commits exactly the pages of each valid checkpoint, epoch after epoch', () => {
    fc.assert(
      fc.property(
        fc.array(runsArb, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 5 }),
        (epochs, perMsg) => {
          const { store, receiver } = setup();
          const expected = new Uint8Array(PAGE * PAGES);
          epochs.forEach((runs, i) => {
            const epoch = i + 1;
            let committed = null;
            for (const m of checkpointMessages({ epoch, fencingToken: 7, runs }, PAGE, perMsg * PAGE)) {
              committed = receiver.receive(overTheWire(m));
            }
            expect(committed).toMatchObject({ epoch, fencingToken: 7, pageCount: runs.length });
            for (const run of runs) expected.set(run.data, run.firstPage * PAGE);
            expect(store.committedEpoch).toBe(epoch);
          });
          expect(image(store)).toEqual(expected);
          store.close();
        },
      ),
      { numRuns: 20 },
    );
  });

  it('refuses a broken checkpoint with a typed error and leaves the committed image untouched', () => {
    type Mutation = (ms: McMessage[]) => McMessage[];
    const mutations: Array<[string, Mutation]> = [
      ['a dropped page message', (ms) => ms.filter((_, i) => i !== 1)],
      ['a duplicated page message', (ms) => [ms[0]!, ms[1]!, ...ms.slice(1)]],
      ['END before the pages', (ms) => [ms[0]!, ms[ms.length - 1]!, ...ms.slice(1, -1)]],
      ['no BEGIN', (ms) => ms.slice(1)],
      [
        'a wrong checksum',
        (ms) => ms.map((m) => (m.kind === 'CKPT_END' ? { ...m, checksum: (m.checksum + 1) >>> 0 } : m)),
      ],
      [
        'a wrong page count at END',
        (ms) => ms.map((m) => (m.kind === 'CKPT_END' ? { ...m, pageCount: m.pageCount + 1 } : m)),
      ],
      [
        'a skipped epoch',
        (ms) =>
          ms.map((m) =>
            'epoch' in m
              ? { ...m, epoch: m.epoch + 1 }
              : m.kind === 'CKPT_PAGES'
                ? { ...m, sequence: m.sequence + 1 }
                : m,
          ),
      ],
      [
        'a stale fencing token',
        (ms) => ms.map((m) => (m.kind === 'CKPT_BEGIN' ? { ...m, fencingToken: 1 } : m)),
      ],
      [
        'a run past the end of memory',
        (ms) =>
          ms.map((m) =>
            m.kind === 'CKPT_PAGES' ? { ...m, runs: m.runs.map((r) => ({ ...r, firstPage: PAGES })) } : m,
          ),
      ],
      [
        // In bounds, bytes intact: only the checksum over placements can tell.
        'a run moved to another page',
        (ms) =>
          ms.map((m) =>
            m.kind === 'CKPT_PAGES'
              ? { ...m, runs: m.runs.map((r) => ({ ...r, firstPage: r.firstPage + 1 })) }
              : m,
          ),
      ],
      [
        'an output batch changed on the way',
        (ms) => [
          ...ms.slice(0, -1),
          { kind: 'CKPT_OUTPUT', epoch: 2, batch: [new Uint8Array([1, 2, 3])] },
          ms[ms.length - 1]!,
        ],
      ],
      [
        'pages from another epoch',
        (ms) => ms.map((m) => (m.kind === 'CKPT_PAGES' ? { ...m, sequence: 99 } : m)),
      ],
      [
        'an over-budget declaration',
        (ms) => ms.map((m) => (m.kind === 'CKPT_BEGIN' ? { ...m, dataBytes: PAGES * PAGE + 1 } : m)),
      ],
      ['an unknown codec', (ms) => ms.map((m) => (m.kind === 'CKPT_PAGES' ? { ...m, codec: 77 } : m))],
      [
        'two outputs',
        (ms) => [
          ...ms.slice(0, -1),
          { kind: 'CKPT_OUTPUT', epoch: 2, batch: [] },
          { kind: 'CKPT_OUTPUT', epoch: 2, batch: [] },
          ms[ms.length - 1]!,
        ],
      ],
    ];
    for (const [what, mutate] of mutations) {
      const { store, receiver } = setup();
      const first = [{ firstPage: 0, pageCount: 2, data: new Uint8Array(2 * PAGE).fill(1) }];
      for (const m of checkpointMessages({ epoch: 1, fencingToken: 5, runs: first }, PAGE, PAGE))
        receiver.receive(m);
      const before = image(store);
      const second = [
        { firstPage: 0, pageCount: 1, data: new Uint8Array(PAGE).fill(2) },
        { firstPage: 5, pageCount: 3, data: new Uint8Array(3 * PAGE).fill(3) },
      ];
      const messages = mutate(
        checkpointMessages({ epoch: 2, fencingToken: 5, runs: second }, PAGE, 2 * PAGE),
      );
      let error: unknown = null;
      try {
        for (const m of messages) receiver.receive(overTheWire(m));
      } catch (err) {
        error = err;
      }
      expect(error, what).toBeInstanceOf(Error);
      expect(error instanceof CheckpointProtocolError || error instanceof ProtocolError, what).toBe(true);
      expect(store.committedEpoch, what).toBe(1);
      expect(image(store), what).toEqual(before);
      expect(receiver.receivingEpoch, what).toBeNull();
      // The receiver recovers: the intact checkpoint 2 still commits afterwards.
      for (const m of checkpointMessages({ epoch: 2, fencingToken: 5, runs: second }, PAGE, PAGE))
        receiver.receive(m);
      expect(store.committedEpoch, what).toBe(2);
      store.close();
    }
  });
});
