import type { ResolvedFaultPlan } from '../fault-plan.js';

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks this (NIC) thread, as a slow DMA engine would be busy, without spinning the CPU. */
function blockFor(ms: number): void {
  if (ms > 0) Atomics.wait(sleepCell, 0, 0, ms);
}

/**
 * Copies `length` message bytes from the `source` pieces to the `target` pieces (both lists of
 * views, in message order), starting at message offset `from`. Walks both lists once.
 */
export function copyRange(
  source: readonly Uint8Array[],
  target: readonly Uint8Array[],
  from: number,
  length: number,
): void {
  let si = 0;
  let sOff = from;
  while (si < source.length && sOff >= source[si]!.length) sOff -= source[si++]!.length;
  let ti = 0;
  let tOff = from;
  while (ti < target.length && tOff >= target[ti]!.length) tOff -= target[ti++]!.length;
  let left = length;
  while (left > 0) {
    const s = source[si];
    const t = target[ti];
    if (s === undefined || t === undefined) throw new RangeError('copyRange past the end of a piece list');
    const n = Math.min(left, s.length - sOff, t.length - tOff);
    t.set(n === s.length && sOff === 0 ? s : s.subarray(sOff, sOff + n), tOff);
    left -= n;
    sOff += n;
    tOff += n;
    if (sOff === s.length) {
      si++;
      sOff = 0;
    }
    if (tOff === t.length) {
      ti++;
      tOff = 0;
    }
  }
}

/** xorshift32: deterministic shuffles from a seed. */
function nextRandom(state: { x: number }): number {
  let x = state.x;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  state.x = x >>> 0;
  return state.x;
}

/** Segment start offsets of a message in the order the plan places them. */
export function segmentOrder(
  length: number,
  mtu: number,
  plan: ResolvedFaultPlan,
  state: { x: number },
): number[] {
  const starts: number[] = [];
  for (let at = 0; at < length; at += mtu) starts.push(at);
  if (plan.placementOrder === 'reverse') starts.reverse();
  else if (plan.placementOrder === 'shuffle') {
    for (let i = starts.length - 1; i > 0; i--) {
      const j = nextRandom(state) % (i + 1);
      const tmp = starts[i]!;
      starts[i] = starts[j]!;
      starts[j] = tmp;
    }
  }
  return starts;
}

/**
 * Places one message into target memory. Without faults that is one pass of copies; with a fault
 * plan the message is cut into path-MTU segments placed in the plan's order, with the plan's pause
 * between them, which is what makes "the last byte arrived" visibly different from "the message
 * arrived".
 */
export class Placer {
  #plan: ResolvedFaultPlan;
  readonly #random: { x: number };

  constructor(plan: ResolvedFaultPlan) {
    this.#plan = plan;
    this.#random = { x: plan.seed };
  }

  set plan(plan: ResolvedFaultPlan) {
    this.#plan = plan;
    this.#random.x = plan.seed;
  }

  place(source: readonly Uint8Array[], target: readonly Uint8Array[], length: number, mtu: number): void {
    if (length === 0) return;
    const plan = this.#plan;
    if (plan.placementOrder === 'in-order' && plan.segmentDelayMs === 0) {
      copyRange(source, target, 0, length);
      return;
    }
    const order = segmentOrder(length, mtu, plan, this.#random);
    order.forEach((start, i) => {
      if (i > 0) blockFor(plan.segmentDelayMs);
      copyRange(source, target, start, Math.min(mtu, length - start));
    });
  }
}
