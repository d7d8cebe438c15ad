import { InvalidOptionError } from './errors.js';
import { integerOption, numberOption, optionsObject } from './validate.js';

/** Order in which the MTU-sized segments of one message are placed into the target's memory. */
export type PlacementOrder = 'in-order' | 'reverse' | 'shuffle';

/**
 * Faults a device's NIC injects when it places incoming data. Real NICs may place the packets of a
 * message in any order (and PCIe may make them visible in any order), which is why only a
 * completion, never the last byte of a buffer, proves that a message arrived. The plan makes that
 * visible on demand.
 */
export interface FaultPlan {
  /**
   * Placement order of the path-MTU segments of every message this NIC places (WRITE data at the
   * responder, SEND data into receive buffers, READ responses at the requester).
   * @default 'in-order'
   */
  placementOrder?: PlacementOrder;
  /**
   * Pause between two segments of one message, in milliseconds, so that another thread can watch a
   * message land piece by piece. The NIC thread is busy meanwhile, as a slow DMA engine would be.
   * @default 0
   */
  segmentDelayMs?: number;
  /**
   * Seed of the `shuffle` order (xorshift32), so a failing run can be replayed.
   * @default 1
   */
  seed?: number;
}

/** A fault plan with every field filled in. */
export type ResolvedFaultPlan = Required<FaultPlan>;

/** No faults. */
export const NO_FAULTS: Readonly<ResolvedFaultPlan> = Object.freeze({
  placementOrder: 'in-order',
  segmentDelayMs: 0,
  seed: 1,
});

/** Validates a fault plan and fills in its defaults. */
export function resolveFaultPlan(plan: FaultPlan | undefined, prefix = 'faults'): ResolvedFaultPlan {
  const p = optionsObject(prefix, plan);
  const order = p.placementOrder ?? NO_FAULTS.placementOrder;
  if (order !== 'in-order' && order !== 'reverse' && order !== 'shuffle') {
    throw new InvalidOptionError(
      `${prefix}.placementOrder`,
      `must be 'in-order', 'reverse' or 'shuffle', got ${String(order)}`,
    );
  }
  return {
    placementOrder: order,
    segmentDelayMs: numberOption(`${prefix}.segmentDelayMs`, p.segmentDelayMs, 0, 0, 10_000),
    seed: integerOption(`${prefix}.seed`, p.seed, 1, 1, 0xffff_ffff),
  };
}
