import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CLOCK_TOLERANCE_MS,
  checkCounter,
  checkRegister,
  checkReleases,
  checkRun,
  recoveryMs,
} from '../src/checker.js';
import { HistoryFormatError } from '../src/errors.js';
import {
  type Operation,
  parseHistory,
  parseOperation,
  parseReleaseLog,
  type ReleaseSpan,
} from '../src/history.js';

/**
 * A correct system, simulated: operations take effect one at a time at increasing instants (their
 * linearization points), each inside its [invoke, complete] interval; some end without a reply
 * (applied, not applied, or applied `lateBy` steps later, as a request the client gave up on and the
 * network delivered after all), some fail without effect. The state after the last one is the final
 * state.
 */
interface Step {
  client: number;
  kind: 'set' | 'incr' | 'get';
  key: number;
  ending: 'ok' | 'info-applied' | 'info-lost' | 'info-late' | 'fail';
  before: number;
  after: number;
  lateBy: number;
}

const CLIENTS = 3;
const COUNTERS = 2;
const step: fc.Arbitrary<Step> = fc.record({
  client: fc.nat(CLIENTS - 1),
  kind: fc.constantFrom('set', 'incr', 'get'),
  key: fc.nat(CLIENTS + COUNTERS - 1),
  ending: fc.constantFrom('ok', 'ok', 'ok', 'info-applied', 'info-lost', 'info-late', 'fail'),
  before: fc.integer({ min: 0, max: 30 }),
  after: fc.integer({ min: 0, max: 30 }),
  lateBy: fc.nat(20),
});

interface Simulation {
  history: Operation[];
  /** State after each step (index i: after step i); index -1 is the empty table. */
  states: Array<Map<string, number | null>>;
  /** Index of each acknowledged step that changed a value. */
  ackedWrites: number[];
  /** Values of the SETs whose outcome is unknown (whatever became of them). */
  unknownSets: Set<number>;
}

function simulate(steps: readonly Step[]): Simulation {
  const state = new Map<string, number | null>();
  for (let c = 0; c < CLIENTS; c++) state.set(`r${c}`, null);
  for (let k = 0; k < COUNTERS; k++) state.set(`k${k}`, null);
  const written = new Array(CLIENTS).fill(0);
  const history: Operation[] = [];
  const states: Array<Map<string, number | null>> = [];
  const ackedWrites: number[] = [];
  const unknownSets = new Set<number>();
  // Late writes, by the step before which they land (past the end: after the last step).
  const landing = new Map<number, Array<() => void>>();
  const landAt = (step: number) => {
    for (const land of landing.get(step) ?? []) land();
    landing.delete(step);
  };
  steps.forEach((s, i) => {
    landAt(i);
    const at = 10 * (i + 1); // intervals up to 60 wide: neighbours overlap
    const applied = s.ending === 'ok' || s.ending === 'info-applied';
    const later = (apply: () => void) => {
      const when = Math.min(i + 1 + s.lateBy, steps.length);
      landing.set(when, [...(landing.get(when) ?? []), apply]);
    };
    const outcome = s.ending === 'fail' ? 'fail' : s.ending === 'ok' ? 'ok' : 'info';
    const base = {
      client: s.client,
      index: i,
      invokeMs: at - s.before,
      completeMs: at + s.after,
      outcome,
      node: 'primary',
    } as const;
    if (s.kind === 'set') {
      const key = `r${s.client}`;
      const value = ++written[s.client];
      if (applied) state.set(key, value);
      if (s.ending === 'info-late') later(() => state.set(key, value));
      if (outcome === 'info') unknownSets.add(value);
      history.push({ ...base, op: 'set', key, value });
      if (s.ending === 'ok') ackedWrites.push(i);
    } else if (s.kind === 'incr') {
      const key = `k${s.key % COUNTERS}`;
      const value = (state.get(key) ?? 0) + 1;
      if (applied) state.set(key, value);
      if (s.ending === 'info-late') later(() => state.set(key, (state.get(key) ?? 0) + 1));
      history.push({ ...base, op: 'incr', key, ...(s.ending === 'ok' ? { result: value } : {}) });
      if (s.ending === 'ok') ackedWrites.push(i);
    } else {
      const key = s.key < CLIENTS ? `r${s.key}` : `k${s.key - CLIENTS}`;
      history.push({
        ...base,
        op: 'get',
        key,
        ...(s.ending === 'ok' ? { result: state.get(key) ?? null } : {}),
      });
    }
    states.push(new Map(state));
  });
  landAt(steps.length);
  if (steps.length > 0) states[steps.length - 1] = new Map(state);
  return { history, states, ackedWrites, unknownSets };
}

describe('checker on generated histories', () => {
  it('finds nothing wrong in a correct system, however operations overlap and end', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const { history, states } = simulate(steps);
        const final = states.at(-1) ?? new Map();
        expect(checkRun(history, final, [])).toEqual([]);
      }),
    );
  });

  it('always reports a final state that lost an acknowledged write (a rollback)', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 80 }), fc.nat(), (steps, pick) => {
        const { history, states, ackedWrites, unknownSets } = simulate(steps);
        fc.pre(ackedWrites.length > 0);
        // Roll the final state back to just before some acknowledged write took effect.
        const lost = ackedWrites[pick % ackedWrites.length]!;
        const rolledBack = lost === 0 ? new Map([...states[0]!].map(([k]) => [k, null])) : states[lost - 1]!;
        // Unless the register then held a write of unknown outcome: that one may have landed after
        // the acknowledged one, so the history explains this final state (see the next test).
        const key = history[lost]!.key;
        fc.pre(history[lost]!.op !== 'set' || !unknownSets.has(rolledBack.get(key) ?? -1));
        const kinds = checkRun(history, rolledBack, []).map((v) => v.kind);
        expect(kinds.length).toBeGreaterThan(0);
        expect(kinds.some((k) => ['lost-write', 'phantom', 'counter-range', 'stale-read'].includes(k))).toBe(
          true,
        );
      }),
    );
  });

  it('takes a write the client gave up on, landing after newer ones on its node, as legitimate', () => {
    const h: Operation[] = [
      op({
        client: 1,
        index: 0,
        op: 'set',
        key: 'r1',
        value: 76,
        outcome: 'info',
        invokeMs: 0,
        completeMs: 2500,
      }),
      op({ client: 1, index: 1, op: 'set', key: 'r1', value: 77, invokeMs: 2510, completeMs: 2511 }),
      op({ client: 0, index: 0, op: 'get', key: 'r1', result: 77, invokeMs: 2512, completeMs: 2513 }),
      op({ client: 0, index: 1, op: 'get', key: 'r1', result: 76, invokeMs: 2600, completeMs: 2601 }),
    ];
    expect(checkRegister('r1', h, 76)).toEqual([]);
    // Not when the newer write was acknowledged by another node: the late one cannot land there.
    const elsewhere = h.map((o) => (o.index === 1 && o.client === 1 ? { ...o, node: 'secondary' } : o));
    expect(checkRegister('r1', elsewhere, 76).map((v) => v.kind)).toEqual(['lost-write']);
    // Nor when the final value is one a client saw acknowledged.
    const acked = h.map((o) => (o.value === 76 ? { ...o, outcome: 'ok' as const } : o));
    expect(
      checkRegister('r1', acked, 76)
        .map((v) => v.kind)
        .sort(),
    ).toEqual(['lost-write', 'phantom', 'stale-read']);
  });

  it('survives the history file round trip', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const { history } = simulate(steps);
        expect(parseHistory(history.map((op) => JSON.stringify(op)).join('\n'))).toEqual(history);
      }),
    );
  });
});

const op = (o: Partial<Operation> & Pick<Operation, 'op' | 'key'>): Operation => ({
  client: 0,
  index: 0,
  invokeMs: 0,
  completeMs: 1,
  outcome: 'ok',
  node: 'primary',
  ...o,
});

describe('checker, one property at a time', () => {
  it('register: lost write, phantom read, invented value, stale read', () => {
    const set3 = op({ op: 'set', key: 'r0', value: 3, invokeMs: 0, completeMs: 10 });
    expect(checkRegister('r0', [set3], 3)).toEqual([]);
    expect(checkRegister('r0', [set3], 2).map((v) => v.kind)).toContain('corrupt-value');
    // A write of unknown outcome sent to another node cannot land after SET 3 where SET 3 landed.
    const unknown2 = op({ op: 'set', key: 'r0', value: 2, outcome: 'info', node: 'secondary' });
    expect(checkRegister('r0', [unknown2, set3], 2).map((v) => v.kind)).toEqual(['lost-write']);
    const read5 = op({ op: 'get', key: 'r0', result: 5, invokeMs: 20, completeMs: 30 });
    const set5 = op({ op: 'set', key: 'r0', value: 5, outcome: 'info', invokeMs: 11, completeMs: 40 });
    expect(checkRegister('r0', [set3, set5, read5], 3).map((v) => v.kind)).toEqual(['phantom']);
    expect(checkRegister('r0', [set3, set5, read5], 5)).toEqual([]);
    const staleRead = op({ op: 'get', key: 'r0', result: null, invokeMs: 50, completeMs: 60 });
    expect(checkRegister('r0', [set3, staleRead], 3).map((v) => v.kind)).toEqual(['stale-read']);
    // Overlapping: the read may legitimately see the value from before the write.
    const overlapping = op({ op: 'get', key: 'r0', result: null, invokeMs: 5, completeMs: 60 });
    expect(checkRegister('r0', [set3, overlapping], 3)).toEqual([]);
  });

  it('counter: acknowledged <= final <= acknowledged + unknown, distinct replies, no phantom', () => {
    const incr = (result: number | undefined, outcome: Operation['outcome'] = 'ok', t = 0) =>
      op({
        op: 'incr',
        key: 'k0',
        ...(result === undefined ? {} : { result }),
        outcome,
        invokeMs: t,
        completeMs: t + 1,
      });
    expect(checkCounter('k0', [incr(1), incr(2), incr(undefined, 'info')], 2)).toEqual([]);
    expect(checkCounter('k0', [incr(1), incr(2), incr(undefined, 'info')], 3)).toEqual([]);
    expect(checkCounter('k0', [incr(1), incr(2), incr(undefined, 'info')], 4).map((v) => v.kind)).toEqual([
      'counter-range',
    ]);
    expect(checkCounter('k0', [incr(1), incr(2)], 1).map((v) => v.kind)).toEqual([
      'counter-range',
      'phantom',
    ]);
    expect(checkCounter('k0', [incr(1, 'ok', 0), incr(1, 'ok', 5)], 2).map((v) => v.kind)).toContain(
      'duplicate-incr',
    );
    expect(checkCounter('k0', [incr(undefined, 'fail')], 0)).toEqual([]);
    expect(checkCounter('k0', [incr(undefined, 'fail')], 1).map((v) => v.kind)).toEqual(['counter-range']);
  });

  it('fencing: two nodes in one generation, and a generation going back', () => {
    const span = (node: string, generation: number, firstMs: number, lastMs: number): ReleaseSpan => ({
      node,
      generation,
      token: generation,
      alone: false,
      count: 1,
      firstMs,
      lastMs,
    });
    expect(checkReleases([span('primary', 1, 0, 10), span('secondary', 2, 12, 20)])).toEqual([]);
    expect(
      checkReleases([span('primary', 2, 0, 10), span('secondary', 2, 12, 20)]).map((v) => v.kind),
    ).toEqual(['split-brain']);
    expect(checkReleases([span('primary', 1, 0, 30), span('primary', 2, 20, 40)]).map((v) => v.kind)).toEqual(
      ['generation-regressed'],
    );
    // One generation in both modes (a survivor re-protected) is not a regression.
    expect(
      checkReleases([span('secondary', 2, 30, 50), { ...span('secondary', 2, 0, 40), alone: true }]),
    ).toEqual([]);
  });

  it('fencing: an owner acting on its grant after a newer generation released', () => {
    const span = (node: string, generation: number, alone: boolean, firstMs: number, lastMs: number) => ({
      node,
      generation,
      token: generation,
      alone,
      count: 1,
      firstMs,
      lastMs,
    });
    // The primary served alone under 2 until 500; the secondary took generation 3 at 300.
    expect(
      checkReleases([span('primary', 2, true, 100, 500), span('secondary', 3, true, 300, 900)]).map(
        (v) => v.kind,
      ),
    ).toEqual(['overlapping-owners']);
    // Releases on an ACK may trail the takeover: the new owner restored what they reveal.
    expect(
      checkReleases([span('primary', 1, false, 100, 500), span('secondary', 2, true, 300, 900)]),
    ).toEqual([]);
    // Handed over in order, or apart by less than the clocks of two processes can tell.
    expect(checkReleases([span('primary', 2, true, 100, 300), span('secondary', 3, true, 301, 900)])).toEqual(
      [],
    );
    expect(
      checkReleases([
        span('primary', 2, true, 100, 300 + CLOCK_TOLERANCE_MS),
        span('secondary', 3, true, 300, 900),
      ]),
    ).toEqual([]);
  });

  it('no final state is a run that never recovered', () => {
    expect(checkRun([], null, []).map((v) => v.kind)).toEqual(['unrecovered']);
  });

  it('recovery: first acknowledged operation sent at or after the fault', () => {
    const h = [
      op({ op: 'get', key: 'k0', result: 0, invokeMs: 90, completeMs: 400 }),
      op({ op: 'get', key: 'k0', result: 0, invokeMs: 150, completeMs: 300, outcome: 'info' }),
      op({ op: 'get', key: 'k0', result: 0, invokeMs: 310, completeMs: 350 }),
    ];
    expect(recoveryMs(h, 100)).toBe(250);
    expect(recoveryMs(h, 320)).toBeNull();
  });
});

describe('history and release log parsing', () => {
  it('refuses what is not an operation, with a typed error', () => {
    const good = op({ op: 'get', key: 'k0', result: 1 });
    expect(parseOperation(JSON.stringify(good))).toEqual(good);
    const bad = [
      'not json',
      '42',
      JSON.stringify({ ...good, op: 'del' }),
      JSON.stringify({ ...good, outcome: 'maybe' }),
      JSON.stringify({ ...good, key: '' }),
      JSON.stringify({ ...good, completeMs: -5 }),
      JSON.stringify({ ...good, result: 1.5 }),
      JSON.stringify({ ...good, result: undefined }),
      JSON.stringify({ ...good, op: 'set', value: 'x' }),
      JSON.stringify({ ...good, client: 'a' }),
    ];
    for (const line of bad) expect(() => parseOperation(line)).toThrow(HistoryFormatError);
  });

  it('sums a release log per generation and ignores only a torn last line', () => {
    const spans = parseReleaseLog(
      'primary',
      '1 5 100.5 acked\n1 5 90 acked\n2 7 200 alone\n2 7 2 alone\n2 7 250 acked',
    );
    expect(spans).toEqual([
      { node: 'primary', generation: 1, token: 5, alone: false, count: 2, firstMs: 90, lastMs: 100.5 },
      { node: 'primary', generation: 2, token: 7, alone: true, count: 2, firstMs: 2, lastMs: 200 },
      { node: 'primary', generation: 2, token: 7, alone: false, count: 1, firstMs: 250, lastMs: 250 },
    ]);
    expect(parseReleaseLog('primary', '1 5 100 acked\n1 5 1')).toHaveLength(1);
    for (const bad of [
      '1 5\n1 5 100 acked\n',
      '1 5 100\n1 5 100 acked\n',
      '1 5 100 maybe\n1 5 100 acked\n',
    ]) {
      expect(() => parseReleaseLog('primary', bad)).toThrow(HistoryFormatError);
    }
  });
});

describe('release log parsing (property)', () => {
  const release = fc.record({
    generation: fc.nat(6),
    alone: fc.boolean(),
    atMs: fc.double({ min: 0, max: 1e7, noNaN: true }).map((ms) => Math.round(ms * 1000) / 1000),
  });

  it('adds up any log per generation and mode, and a log cut anywhere loses at most its last line', () => {
    fc.assert(
      fc.property(fc.array(release, { maxLength: 60 }), fc.nat(), (lines, cutAt) => {
        const text = lines
          .map(
            (l) =>
              `${l.generation} ${l.generation * 10} ${l.atMs.toFixed(3)} ${l.alone ? 'alone' : 'acked'}\n`,
          )
          .join('');
        const spans = parseReleaseLog('n', text);
        expect(spans.reduce((sum, s) => sum + s.count, 0)).toBe(lines.length);
        for (const span of spans) {
          const mine = lines.filter((l) => l.generation === span.generation && l.alone === span.alone);
          expect(span.count).toBe(mine.length);
          expect(span.token).toBe(span.generation * 10);
          expect(span.firstMs).toBe(Math.min(...mine.map((l) => l.atMs)));
          expect(span.lastMs).toBe(Math.max(...mine.map((l) => l.atMs)));
        }
        // A SIGKILL mid-write leaves a torn last line: never an error, never more than one lost.
        const cut = text.slice(0, text.length === 0 ? 0 : cutAt % text.length);
        const counted = parseReleaseLog('n', cut).reduce((sum, s) => sum + s.count, 0);
        const whole = cut.split('\n').length - 1;
        expect(counted === whole || counted === whole + 1).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
