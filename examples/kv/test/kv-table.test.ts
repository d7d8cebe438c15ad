import { createGuestMemory } from '@microcheckpoint/mc-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, KvFormatError, KvFullError } from '../src/errors.js';
import { createKvTable, openKvTable } from '../src/kv-table.js';

const enc = (s: string) => Buffer.from(s);
const dec = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('latin1'));

const op = fc.oneof(
  fc.record({
    kind: fc.constant('set' as const),
    key: fc.integer({ min: 0, max: 40 }),
    value: fc.string({ maxLength: 300 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 40 }) }),
);

describe('KV table in guest memory', () => {
  it('behaves like a Map under any sequence of sets, deletes and gets (rehashing on the way)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const memory = createGuestMemory({ sizeBytes: 1024 * 1024 });
        // 64 slots for 41 keys: the load limit (48) is reached with tombstones, forcing rehashes.
        const table = createKvTable(memory, { slotCount: 64 });
        const model = new Map<string, string>();
        for (const o of ops) {
          const key = `key:${o.key}`;
          if (o.kind === 'set') {
            table.set(enc(key), Buffer.from(o.value, 'latin1'));
            model.set(key, o.value);
          } else if (o.kind === 'delete') {
            expect(table.delete(enc(key))).toBe(model.delete(key));
          } else {
            expect(dec(table.get(enc(key)))).toBe(model.get(key) ?? null);
          }
          expect(table.size).toBe(model.size);
        }
        for (let k = 0; k <= 40; k++) {
          expect(dec(table.get(enc(`key:${k}`)))).toBe(model.get(`key:${k}`) ?? null);
          expect(table.has(enc(`key:${k}`))).toBe(model.has(`key:${k}`));
        }
      }),
      { numRuns: 150 },
    );
  });

  it('lives entirely in guest memory: restoring the captured pages restores the table', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.integer({ min: 1, max: 5 }), (ops, epochs) => {
        const source = createGuestMemory({ sizeBytes: 1024 * 1024, pageSizeBytes: 1024 });
        const replica = createGuestMemory({ sizeBytes: 1024 * 1024, pageSizeBytes: 1024 });
        const table = createKvTable(source, { slotCount: 64 });
        const model = new Map<string, string>();
        const perEpoch = Math.ceil(ops.length / epochs);
        for (let e = 0; e < epochs; e++) {
          for (const o of ops.slice(e * perEpoch, (e + 1) * perEpoch)) {
            const key = `key:${o.key}`;
            if (o.kind === 'set') {
              table.set(enc(key), Buffer.from(o.value, 'latin1'));
              model.set(key, o.value);
            } else if (o.kind === 'delete') {
              table.delete(enc(key));
              model.delete(key);
            }
          }
          // A checkpoint: only the dirty pages travel.
          const capture = source.capture();
          replica.restorePages(capture.runs, capture.data);
          capture.release();
          const restored = openKvTable(replica);
          expect(restored.size).toBe(model.size);
          for (let k = 0; k <= 40; k++)
            expect(dec(restored.get(enc(`key:${k}`)))).toBe(model.get(`key:${k}`) ?? null);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('says when it is full (slots or heap) and changes nothing', () => {
    const memory = createGuestMemory({ sizeBytes: 65536 });
    const table = createKvTable(memory, { slotCount: 8 });
    for (let i = 0; i < 6; i++) table.set(enc(`k${i}`), enc('v'));
    expect(() => table.set(enc('k6'), enc('v'))).toThrow(KvFullError);
    expect(table.size).toBe(6);
    table.set(enc('k0'), enc('overwrite is fine'));
    expect(dec(table.get(enc('k0')))).toBe('overwrite is fine');
    const heap = createKvTable(createGuestMemory({ sizeBytes: 65536 }), { slotCount: 8 });
    expect(() => heap.set(enc('big'), new Uint8Array(70_000))).toThrow(KvFullError);
    heap.set(enc('a'), new Uint8Array(16_000));
    expect(() => heap.set(enc('a'), new Uint8Array(40_000))).toThrow(KvFullError);
    expect(heap.get(enc('a'))!.length).toBe(16_000);
  });

  it('reuses freed blocks of the same size class', () => {
    const table = createKvTable(createGuestMemory({ sizeBytes: 65536 }), { slotCount: 8 });
    table.set(enc('a'), new Uint8Array(480));
    const left = table.heapBytesLeft;
    table.delete(enc('a'));
    table.set(enc('b'), new Uint8Array(490));
    expect(table.heapBytesLeft).toBe(left);
  });

  it('opens only a valid table, with typed errors', () => {
    const memory = createGuestMemory({ sizeBytes: 65536 });
    expect(() => openKvTable(memory)).toThrow(KvFormatError);
    createKvTable(memory, { slotCount: 16 });
    expect(openKvTable(memory).slotCount).toBe(16);
    const view = new DataView(memory.bytes.buffer, 0, 256);
    view.setUint32(4, 9, true);
    expect(() => openKvTable(memory)).toThrow(/version 9/);
    view.setUint32(4, 1, true);
    view.setUint32(8, 12, true);
    expect(() => openKvTable(memory)).toThrow(/inconsistent/);
    expect(() => createKvTable(memory, { slotCount: 12 })).toThrow(InvalidOptionError);
    expect(() => createKvTable(memory, { slotCount: 1 << 14 })).toThrow(/leave no heap/);
    expect(() => createKvTable(memory, { offset: 3 })).toThrow(/option offset/);
    expect(() => createKvTable(memory, { offset: 0, lengthBytes: 1 << 20 })).toThrow(/option lengthBytes/);
  });

  it('can sit at an offset, leaving the rest of guest memory alone', () => {
    const memory = createGuestMemory({ sizeBytes: 1024 * 1024 });
    memory.bytes.fill(0xee, 0, 65536);
    const table = createKvTable(memory, { offset: 65536, lengthBytes: 128 * 1024, slotCount: 64 });
    table.set(enc('x'), enc('y'));
    expect(memory.bytes.subarray(0, 65536).every((b) => b === 0xee)).toBe(true);
    expect(dec(openKvTable(memory, { offset: 65536, lengthBytes: 128 * 1024 }).get(enc('x')))).toBe('y');
  });
});
