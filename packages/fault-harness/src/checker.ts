import type { FinalState, Operation, ReleaseSpan } from './history.js';

/** The properties the checker judges. */
export type ViolationKind =
  /** An acknowledged write is not in the final state. */
  | 'lost-write'
  /** A client saw a value (a read or an INCR reply) that the final state does not reflect. */
  | 'phantom'
  /** A value that no client ever wrote (in a reply or in the final state). */
  | 'corrupt-value'
  /** A read, after an earlier operation on the key completed, saw less than that operation did. */
  | 'stale-read'
  /** Two acknowledged INCRs of one counter returned the same value: an increment was lost. */
  | 'duplicate-incr'
  /** A counter outside [acknowledged INCRs, acknowledged + unknown INCRs]. */
  | 'counter-range'
  /** Two nodes released output under one fencing generation. */
  | 'split-brain'
  /** A node released output under a generation lower than one it had already released under. */
  | 'generation-regressed'
  /**
   * A node released output under its own grant after another node had released under a newer
   * generation: two owners at once, whose generations differ (a grant outlived its successor's).
   */
  | 'overlapping-owners'
  /** No node served after the last heal: the final state could not be read. */
  | 'unrecovered';

export interface Violation {
  readonly kind: ViolationKind;
  readonly key?: string;
  readonly detail: string;
}

/** Register keys are owned by one client each and written with increasing integers. */
export function isRegisterKey(key: string): boolean {
  return key.startsWith('r');
}

/** Counter keys are shared and only ever INCRed. */
export function isCounterKey(key: string): boolean {
  return key.startsWith('k');
}

/** What an acknowledged operation tells about its key's value at some point in its interval. */
function observed(op: Operation): number | null {
  if (op.outcome !== 'ok') return null;
  if (op.op === 'set') return op.value ?? null;
  return op.result ?? 0;
}

function byKey(history: readonly Operation[]): Map<string, Operation[]> {
  const keys = new Map<string, Operation[]>();
  for (const op of history) {
    let ops = keys.get(op.key);
    if (ops === undefined) {
      ops = [];
      keys.set(op.key, ops);
    }
    ops.push(op);
  }
  return keys;
}

/**
 * Real-time order on one key whose value only grows (a register written with increasing values, a
 * counter): an operation that starts after another one completed must see at least what that one
 * saw. Sorting by completion and sweeping keeps it O(n log n). `mayGoBack` excuses a read that saw
 * less (a register's late write, see `lateWrites`).
 */
export function checkMonotonic(
  key: string,
  ops: readonly Operation[],
  mayGoBack: (op: Operation) => boolean = () => false,
): Violation[] {
  const acked = ops.filter((op) => observed(op) !== null);
  const byComplete = [...acked].sort((a, b) => a.completeMs - b.completeMs);
  const byInvoke = [...acked].sort((a, b) => a.invokeMs - b.invokeMs);
  const violations: Violation[] = [];
  let best: Operation | null = null;
  let j = 0;
  for (const op of byInvoke) {
    while (j < byComplete.length && byComplete[j]!.completeMs < op.invokeMs) {
      const done = byComplete[j++]!;
      if (best === null || observed(done)! > observed(best)!) best = done;
    }
    if (best !== null && op.op !== 'set' && observed(op)! < observed(best)! && !mayGoBack(op)) {
      violations.push({
        kind: 'stale-read',
        key,
        detail: `client ${op.client} op ${op.index} (${op.op}) saw ${observed(op)} after client ${best.client} op ${best.index} (${best.op}) had seen ${observed(best)}`,
      });
    }
  }
  return violations;
}

/**
 * A register's writes whose outcome is unknown, by value, with the node each was sent to. A request a
 * client gave up on may still take effect at any later time: TCP retransmits it after a link comes
 * back, or the node reads it from its socket after a pause, after the client has moved on and written
 * newer values through another connection. Then the register goes back to that older value, on that
 * node, and legitimately so (the write was never acknowledged, and linearizes last). Seen in the lab:
 * a SET sent 1 ms before `link-down`, given up at the 2.5 s timeout, applied after the same client's
 * next 230 acknowledged SETs.
 */
function lateWrites(ops: readonly Operation[]): Map<number, string> {
  const late = new Map<number, string>();
  for (const op of ops) if (op.op === 'set' && op.outcome === 'info') late.set(op.value!, op.node);
  return late;
}

/**
 * Registers: acknowledged writes kept, no phantom or invented values, reads never go back. A final
 * value (or a read) that is a write of unknown outcome excuses what the node that write was sent to
 * had acknowledged or shown beyond it: that write may have landed after them (`lateWrites`).
 */
export function checkRegister(
  key: string,
  ops: readonly Operation[],
  finalValue: number | null,
): Violation[] {
  const violations: Violation[] = [];
  const late = lateWrites(ops);
  /** Whether `value` may have overwritten newer values that `node` acknowledged or showed. */
  const landedLateOn = (value: number | null | undefined, node: string) =>
    value !== null && value !== undefined && late.get(value) === node;
  const attempted = new Set<number>();
  for (const op of ops)
    if (op.op === 'set' && op.outcome !== 'fail' && op.value !== undefined) attempted.add(op.value);
  const final = finalValue ?? 0;
  if (finalValue !== null && !attempted.has(finalValue)) {
    violations.push({ kind: 'corrupt-value', key, detail: `final value ${finalValue} was never written` });
  }
  for (const op of ops) {
    if (op.outcome !== 'ok') continue;
    if (op.op === 'set' && op.value! > final && !landedLateOn(finalValue, op.node)) {
      violations.push({
        kind: 'lost-write',
        key,
        detail: `client ${op.client} op ${op.index}: SET ${op.value} acknowledged by ${op.node} at ${op.completeMs.toFixed(1)}, final value ${String(finalValue)}`,
      });
    }
    if (op.op === 'get' && op.result !== null && op.result !== undefined) {
      if (!attempted.has(op.result)) {
        violations.push({
          kind: 'corrupt-value',
          key,
          detail: `client ${op.client} op ${op.index} read ${op.result}, never written`,
        });
      } else if (op.result > final && !landedLateOn(finalValue, op.node)) {
        violations.push({
          kind: 'phantom',
          key,
          detail: `client ${op.client} op ${op.index} read ${op.result} from ${op.node} at ${op.completeMs.toFixed(1)}, final value ${String(finalValue)}`,
        });
      }
    }
  }
  violations.push(...checkMonotonic(key, ops, (read) => landedLateOn(observed(read), read.node)));
  return violations;
}

/** Counters: final = acknowledged + at most the unknown, distinct INCR replies, no phantom values. */
export function checkCounter(key: string, ops: readonly Operation[], finalValue: number | null): Violation[] {
  const violations: Violation[] = [];
  const final = finalValue ?? 0;
  const incrs = ops.filter((op) => op.op === 'incr');
  const acked = incrs.filter((op) => op.outcome === 'ok');
  const unknown = incrs.filter((op) => op.outcome === 'info').length;
  if (final < acked.length || final > acked.length + unknown) {
    violations.push({
      kind: 'counter-range',
      key,
      detail: `final ${final}, ${acked.length} acknowledged and ${unknown} unknown INCRs`,
    });
  }
  const seen = new Map<number, Operation>();
  for (const op of acked) {
    const r = op.result ?? 0;
    const earlier = seen.get(r);
    if (earlier !== undefined) {
      violations.push({
        kind: 'duplicate-incr',
        key,
        detail: `client ${earlier.client} op ${earlier.index} and client ${op.client} op ${op.index} both got ${r}`,
      });
    } else seen.set(r, op);
  }
  for (const op of ops) {
    if (op.outcome !== 'ok' || op.op === 'set') continue;
    const r = op.result ?? 0;
    if (r > final) {
      violations.push({
        kind: 'phantom',
        key,
        detail: `client ${op.client} op ${op.index} (${op.op}) saw ${r} at ${op.completeMs.toFixed(1)}, final value ${final}`,
      });
    }
    if (op.op === 'get' && r > acked.length + unknown) {
      violations.push({
        kind: 'corrupt-value',
        key,
        detail: `client ${op.client} op ${op.index} read ${r}, more than INCRs sent`,
      });
    }
  }
  violations.push(...checkMonotonic(key, ops));
  return violations;
}

/**
 * How far apart two processes' wall-clock stamps of one instant may be (each is its own
 * `performance.timeOrigin + performance.now()`); overlaps shorter than this are not judged.
 */
export const CLOCK_TOLERANCE_MS = 2;

/**
 * Fencing: one node per generation; each node's generations only increase over time; and a node
 * acting on its own grant stops before anyone releases under a newer generation (the next one is
 * granted only once the previous grant has lapsed). Releases on a checkpoint's ACK are exempt from
 * the last rule: they may trail a takeover, since the new owner restored everything they reveal.
 */
export function checkReleases(spans: readonly ReleaseSpan[]): Violation[] {
  const violations: Violation[] = [];
  const owners = new Map<number, Set<string>>();
  for (const span of spans) {
    let nodes = owners.get(span.generation);
    if (nodes === undefined) {
      nodes = new Set();
      owners.set(span.generation, nodes);
    }
    nodes.add(span.node);
  }
  for (const [generation, nodes] of owners) {
    if (nodes.size > 1) {
      violations.push({
        kind: 'split-brain',
        detail: `generation ${generation} released by ${[...nodes].sort().join(' and ')}`,
      });
    }
  }
  for (const node of new Set(spans.map((s) => s.node))) {
    const mine = spans.filter((s) => s.node === node).sort((a, b) => a.generation - b.generation);
    for (let i = 0; i < mine.length; i++) {
      for (let j = i + 1; j < mine.length; j++) {
        if (mine[i]!.generation < mine[j]!.generation && mine[i]!.lastMs > mine[j]!.firstMs) {
          violations.push({
            kind: 'generation-regressed',
            detail: `${node} released under generation ${mine[i]!.generation} at ${mine[i]!.lastMs.toFixed(1)}, after generation ${mine[j]!.generation} at ${mine[j]!.firstMs.toFixed(1)}`,
          });
        }
      }
    }
  }
  for (const owner of spans) {
    if (!owner.alone) continue;
    for (const newer of spans) {
      if (newer.node === owner.node || newer.generation <= owner.generation) continue;
      if (owner.lastMs - newer.firstMs > CLOCK_TOLERANCE_MS) {
        violations.push({
          kind: 'overlapping-owners',
          detail: `${owner.node} released under its grant for generation ${owner.generation} until ${owner.lastMs.toFixed(1)}, after ${newer.node} had released under generation ${newer.generation} at ${newer.firstMs.toFixed(1)}`,
        });
      }
    }
  }
  return violations;
}

/** Every property over one run's history, final state and release logs. */
export function checkRun(
  history: readonly Operation[],
  final: FinalState,
  releases: readonly ReleaseSpan[],
): Violation[] {
  const violations: Violation[] = [];
  if (final === null) {
    violations.push({ kind: 'unrecovered', detail: 'no node served after the last heal' });
  } else {
    const keys = byKey(history);
    for (const key of new Set([...keys.keys(), ...final.keys()])) {
      const ops = keys.get(key) ?? [];
      const finalValue = final.get(key) ?? null;
      if (isRegisterKey(key)) violations.push(...checkRegister(key, ops, finalValue));
      else if (isCounterKey(key)) violations.push(...checkCounter(key, ops, finalValue));
    }
  }
  violations.push(...checkReleases(releases));
  return violations;
}

/**
 * Time without service after a fault: from the fault to the first acknowledged operation that was
 * sent at or after it (null: none was). Operations sent before the fault do not count, since a reply
 * to one of those may have been corked before the fault.
 */
export function recoveryMs(history: readonly Operation[], faultAtMs: number): number | null {
  let first = Number.POSITIVE_INFINITY;
  for (const op of history) {
    if (op.outcome === 'ok' && op.invokeMs >= faultAtMs && op.completeMs < first) first = op.completeMs;
  }
  return Number.isFinite(first) ? first - faultAtMs : null;
}
