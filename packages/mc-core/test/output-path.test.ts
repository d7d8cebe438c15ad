import { createCorkQueue } from '@microcheckpoint/io-cork';
import { describe, expect, it } from 'vitest';
import { OutputPath } from '../src/engine/output-path.js';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
const bytes = (n: number) => new Uint8Array([n]);

/** A path over a real cork queue, with epoch 1 open, and what reached the application's sink. */
function openPath() {
  const cork = createCorkQueue({ source: 'test' });
  const released: number[] = [];
  const path = new OutputPath(cork, (_target, data) => released.push(data[0]!));
  cork.open(1);
  return { path, cork, released };
}

describe('the output path of a node acting alone', () => {
  it('releases each turn of output at once while the grant is valid', async () => {
    const { path, released } = openPath();
    path.releaseGate = () => true;
    path.goDirect();
    path.append(1, bytes(1));
    path.append(1, bytes(2));
    await nextTurn();
    expect(released).toEqual([1, 2]);
    path.append(1, bytes(3));
    await nextTurn();
    expect(released).toEqual([1, 2, 3]);
    expect(path.direct).toBe(true);
  });

  it('releases nothing once the grant has lapsed, even before the expiry fence ran, and goes corked', async () => {
    const { path, cork, released } = openPath();
    let valid = true;
    path.releaseGate = () => valid;
    path.goDirect();
    path.append(1, bytes(1));
    await nextTurn();
    expect(released).toEqual([1]);
    // A long turn: the grant ran out while the guest worked, and its output comes after.
    path.append(1, bytes(2));
    valid = false;
    await nextTurn();
    expect(released).toEqual([1]);
    expect(path.direct).toBe(false);
    // Later output waits in the cork queue too, for whoever decides (the fence discards it).
    path.append(1, bytes(3));
    await nextTurn();
    expect(released).toEqual([1]);
    expect(cork.metrics().corkedItems + cork.metrics().heldItems).toBeGreaterThan(0);
  });

  it('does not start releasing when it goes direct with a grant already lapsed', async () => {
    const { path, released } = openPath();
    path.append(1, bytes(1));
    path.releaseGate = () => false;
    path.goDirect();
    await nextTurn();
    expect(released).toEqual([]);
    expect(path.direct).toBe(false);
  });
});
