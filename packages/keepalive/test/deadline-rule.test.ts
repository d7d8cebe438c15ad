import { describe, expect, it } from 'vitest';
import {
  createFailureDetector,
  type FailureDetector,
  type FailureDetectorOptions,
  type HeartbeatArrival,
  type StateChange,
} from '../src/index.js';

/** A detector on a fake clock, with a peer that sends exactly on time unless told otherwise. */
function harness(options: FailureDetectorOptions = {}) {
  let now = 1_000;
  const detector = createFailureDetector({ ...options, clock: () => now });
  const changes: StateChange[] = [];
  detector.on('change', (c) => changes.push(c));
  let sequence = 0;
  let progress = 0;
  const h = {
    detector,
    changes,
    now: () => now,
    /** Advances the clock in 5 ms checks, evaluating at each, as the keepalive does. */
    advance(ms: number, step = 5) {
      const end = now + ms;
      while (now < end) {
        now = Math.min(end, now + step);
        detector.evaluate();
      }
    },
    heartbeat(overrides: Partial<HeartbeatArrival> = {}) {
      sequence++;
      progress++;
      detector.heartbeat({
        atMs: now,
        sequence,
        incarnation: 7,
        progress,
        senderTimeMs: now - 1,
        intervalMs: 20,
        epoch: 3,
        role: 'primary',
        goodbye: false,
        ...overrides,
      });
    },
    /** Sends a heartbeat every 20 ms for `ms`, evaluating every 5 ms. */
    healthy(ms: number, overrides: Partial<HeartbeatArrival> = {}) {
      const end = now + ms;
      while (now < end) {
        h.heartbeat(overrides);
        h.advance(20);
      }
    },
    states: () => changes.map((c) => `${c.to}:${c.reason}`),
  };
  return h;
}

function nextChangeTo(d: FailureDetector, to: string): Promise<StateChange> {
  return new Promise((resolve) => {
    const listener = (c: StateChange) => {
      if (c.to !== to) return;
      d.off('change', listener);
      resolve(c);
    };
    d.on('change', listener);
  });
}

describe('deadline rule (multiplier x interval)', () => {
  it('stays pending until the first heartbeat, then alive while heartbeats keep coming', () => {
    const h = harness();
    h.advance(500);
    expect(h.detector.state).toBe('pending');
    h.healthy(2_000);
    expect(h.states()).toEqual(['alive:heartbeat']);
    const s = h.detector.status();
    expect(s.heartbeatsReceived).toBe(100);
    expect(s.meanIntervalMs).toBeCloseTo(20, 6);
    expect(s.stdDevMs).toBeCloseTo(0, 6);
    expect(s.heartbeatsLate).toBe(0);
    expect(s.detectionTimeMs).toBe(100);
    expect(s.peer).toMatchObject({ role: 'primary', epoch: 3, incarnation: 7, sequence: 100 });
  });

  it('suspects at half the deadline and convicts at multiplier x interval, with default 5 x 20 ms', () => {
    const h = harness();
    h.healthy(200);
    const lastHeartbeat = h.now() - 20;
    h.advance(200, 1);
    const suspect = h.changes.find((c) => c.to === 'suspect');
    const dead = h.changes.find((c) => c.to === 'dead');
    expect(suspect?.reason).toBe('silence');
    expect(suspect!.atMs - lastHeartbeat).toBe(50);
    expect(dead?.reason).toBe('silence');
    expect(dead!.atMs - lastHeartbeat).toBe(100);
    expect(h.detector.status().convictions).toBe(1);
  });

  it('follows the multiplier and interval options', () => {
    const h = harness({ multiplier: 3, intervalMs: 50 });
    h.heartbeat({ intervalMs: 50 });
    const start = h.now();
    h.advance(400, 1);
    const dead = h.changes.find((c) => c.to === 'dead');
    expect(dead!.atMs - start).toBe(150);
  });

  it('uses the longer interval when the peer advertises one', () => {
    const h = harness();
    h.heartbeat({ intervalMs: 40 });
    const start = h.now();
    h.advance(400, 1);
    expect(h.changes.find((c) => c.to === 'dead')!.atMs - start).toBe(200);
    expect(h.detector.status().expectedIntervalMs).toBe(40);
  });

  it('counts late heartbeats and sequence gaps', () => {
    const h = harness();
    h.healthy(100);
    h.advance(45);
    h.heartbeat({ sequence: 10 });
    const s = h.detector.status();
    expect(s.heartbeatsLate).toBe(1);
    expect(s.heartbeatsMissed).toBe(10 - 5 - 1);
  });

  it('ignores heartbeats that are not newer than the last one (reordered or replayed)', () => {
    const h = harness();
    h.healthy(100);
    h.advance(80);
    h.detector.heartbeat({
      atMs: h.now(),
      sequence: 2,
      incarnation: 7,
      progress: 99,
      senderTimeMs: 0,
      intervalMs: 20,
      epoch: 0,
      role: 'primary',
      goodbye: false,
    });
    h.advance(30, 1);
    expect(h.detector.state).toBe('dead');
    expect(h.detector.status().heartbeatsStale).toBe(1);
  });

  it('recovers a convicted peer on its next heartbeat and reports it as a flap', () => {
    const h = harness();
    const flaps: number[] = [];
    h.detector.on('flap', (f) => flaps.push(f.recentFlaps));
    h.healthy(100);
    h.advance(150);
    expect(h.detector.state).toBe('dead');
    h.healthy(40);
    expect(h.detector.state).toBe('alive');
    expect(h.changes.at(-1)?.reason).toBe('heartbeat');
    expect(flaps).toEqual([1]);
  });

  it('convicts a never-heard peer after the startup timeout', () => {
    const h = harness({ startupTimeoutMs: 300 });
    h.advance(295);
    expect(h.detector.state).toBe('pending');
    h.advance(10);
    expect(h.states()).toEqual(['dead:never-heard']);
  });

  it('convicts at once on a goodbye heartbeat, ignoring flap damping', () => {
    const h = harness();
    h.healthy(100);
    h.heartbeat({ goodbye: true });
    h.advance(5);
    expect(h.states()).toEqual(['alive:heartbeat', 'suspect:goodbye', 'dead:goodbye']);
  });

  it('treats a new incarnation as a restart: fresh statistics, no flap', () => {
    const h = harness();
    const restarts: number[] = [];
    h.detector.on('restart', (r) => restarts.push(r.previousIncarnation));
    h.healthy(100);
    h.advance(200);
    expect(h.detector.state).toBe('dead');
    h.heartbeat({ incarnation: 8, sequence: 1 });
    h.advance(5);
    expect(h.detector.state).toBe('alive');
    expect(h.changes.at(-1)?.reason).toBe('restart');
    expect(restarts).toEqual([7]);
    const s = h.detector.status();
    expect(s.flaps).toBe(0);
    expect(s.samples).toBe(0);
    expect(s.peer?.incarnation).toBe(8);
  });
});

describe('evidence from the data channel', () => {
  it('counts bytes and ACKs as signs of life when heartbeats are lost', () => {
    const h = harness();
    h.healthy(100);
    for (let i = 0; i < 20; i++) {
      h.advance(30);
      h.detector.evidenceOfLife(i % 2 === 0 ? 'bytes' : 'ack');
    }
    expect(h.detector.state).toBe('alive');
    const s = h.detector.status();
    expect(s.evidenceBytes).toBe(10);
    expect(s.evidenceAcks).toBe(10);
    expect(s.phi).toBeGreaterThan(0);
  });

  it('never counts the absence of evidence against the peer', () => {
    const h = harness();
    h.detector.evidenceOfLife('bytes');
    h.advance(5);
    h.healthy(1_000);
    expect(h.states()).toEqual(['alive:evidence']);
  });

  it('bytes alone do not prove the main loop runs; ACKs do', () => {
    const h = harness({ hangTimeoutMs: 200 });
    h.healthy(100);
    for (let i = 0; i < 10; i++) {
      h.advance(25);
      h.detector.evidenceOfLife('bytes');
    }
    expect(h.detector.state).toBe('dead');
    expect(h.changes.at(-1)?.reason).toBe('hung');

    const g = harness({ hangTimeoutMs: 200 });
    g.healthy(100);
    for (let i = 0; i < 10; i++) {
      g.advance(25);
      g.detector.evidenceOfLife('ack');
    }
    expect(g.detector.state).toBe('alive');
  });

  it('a reset or EOF moves the peer straight to suspect; the rule still decides the conviction', () => {
    const h = harness();
    h.healthy(100);
    h.detector.dataChannelLost('eof');
    expect(h.detector.state).toBe('suspect');
    expect(h.changes.at(-1)?.reason).toBe('data-channel');
    h.advance(95, 1);
    expect(h.detector.state).toBe('dead');
    expect(h.changes.at(-1)?.reason).toBe('silence');
  });

  it('a heartbeat after the loss clears the suspicion', () => {
    const h = harness();
    h.healthy(100);
    h.detector.dataChannelLost('reset');
    h.advance(10);
    expect(h.detector.state).toBe('suspect');
    h.heartbeat();
    h.advance(5);
    expect(h.detector.state).toBe('alive');
  });

  it('rejects unknown evidence kinds and loss reasons with typed errors', () => {
    const h = harness();
    expect(() => h.detector.evidenceOfLife('nope' as 'ack')).toThrow(
      expect.objectContaining({ code: 'MC_ERR_INVALID_ARGUMENT' }),
    );
    expect(() => h.detector.dataChannelLost('nope' as 'eof')).toThrow(
      expect.objectContaining({ code: 'MC_ERR_INVALID_ARGUMENT' }),
    );
  });
});

describe('hang rule (progress counter)', () => {
  it('convicts a peer whose heartbeats arrive but whose progress counter stopped', () => {
    const h = harness({ hangTimeoutMs: 300 });
    h.healthy(200);
    const stuckAt = h.now() - 20;
    h.healthy(400, { progress: 42 });
    const suspect = h.changes.find((c) => c.to === 'suspect')!;
    const dead = h.changes.find((c) => c.to === 'dead')!;
    expect(suspect.reason).toBe('hung');
    expect(dead.reason).toBe('hung');
    // The first heartbeat carrying 42 was progress; the silence of the counter starts there.
    expect(dead.atMs - (stuckAt + 20)).toBeGreaterThanOrEqual(300);
    expect(dead.atMs - (stuckAt + 20)).toBeLessThanOrEqual(305);
    expect(dead.heartbeatAgeMs).toBeLessThanOrEqual(20);
    h.healthy(40);
    expect(h.detector.state).toBe('alive');
  });

  it('is disabled by an infinite hangTimeoutMs', () => {
    const h = harness({ hangTimeoutMs: Number.POSITIVE_INFINITY });
    h.healthy(5_000, { progress: 1 });
    expect(h.states()).toEqual(['alive:heartbeat']);
  });
});

describe('self-pause guard', () => {
  it('re-arms instead of convicting after this process stalled longer than the window', () => {
    const h = harness();
    const pauses: string[] = [];
    h.detector.on('self-pause', (p) => pauses.push(`${p.cause}:${p.stalledMs}`));
    h.healthy(200);
    h.advance(500, 500); // one evaluation 500 ms after the previous: this process was stalled
    expect(h.detector.state).toBe('alive');
    expect(pauses).toEqual(['stall:500']);
    h.healthy(100);
    expect(h.states()).toEqual(['alive:heartbeat']);
  });

  it('still convicts a dead peer one window after the re-arm', () => {
    const h = harness();
    h.healthy(200);
    h.advance(500, 500);
    const rearmedAt = h.now();
    h.advance(200, 1);
    const dead = h.changes.find((c) => c.to === 'dead')!;
    expect(dead.atMs - rearmedAt).toBe(100);
  });

  it('re-arms when the clock runs backwards', () => {
    let now = 5_000;
    const d = createFailureDetector({ clock: () => now });
    const pauses: string[] = [];
    d.on('self-pause', (p) => pauses.push(p.cause));
    d.heartbeat({
      atMs: now,
      sequence: 1,
      incarnation: 1,
      progress: 1,
      senderTimeMs: 0,
      intervalMs: 20,
      epoch: 0,
      role: 'secondary',
      goodbye: false,
    });
    d.evaluate();
    now -= 1_000;
    expect(d.evaluate()).toBe('alive');
    expect(pauses).toEqual(['clock']);
    // Every stamp was pulled back to the new "now": the peer gets one whole window from there.
    now += 49;
    expect(d.evaluate()).toBe('alive');
    now += 52;
    expect(d.evaluate()).toBe('dead');
  });

  it('a suspicion cleared by a re-arm is not a flap', () => {
    const h = harness();
    h.healthy(100);
    h.advance(60);
    expect(h.detector.state).toBe('suspect');
    h.detector.selfPause(150);
    h.advance(5);
    expect(h.detector.state).toBe('alive');
    expect(h.changes.at(-1)?.reason).toBe('rearmed');
    expect(h.detector.status().flaps).toBe(0);
  });

  it('ignores reported stalls shorter than selfPauseMs', () => {
    const h = harness({ selfPauseMs: 80 });
    expect(h.detector.selfPause(80)).toBe(false);
    expect(h.detector.selfPause(81)).toBe(true);
    expect(h.detector.status().selfPauses).toBe(1);
  });
});

describe('flap damping', () => {
  it('holds a flapping peer in suspect longer, doubling per recent flap up to the cap', () => {
    const h = harness({ flapHoldMs: 100, maxFlapHoldMs: 400 });
    const holds: number[] = [];
    h.detector.on('flap', (f) => holds.push(f.suspectHoldMs));
    const convictionDelays: number[] = [];
    for (let round = 0; round < 5; round++) {
      h.healthy(100);
      const last = h.now() - 20;
      h.advance(1_000, 1);
      convictionDelays.push(h.changes.filter((c) => c.to === 'dead').at(-1)!.atMs - last);
    }
    // Suspect at 50 ms; conviction at max(100 ms, 50 ms + hold).
    expect(convictionDelays).toEqual([100, 150, 250, 450, 450]);
    expect(holds).toEqual([100, 200, 400, 400]);
    expect(h.detector.status().recentFlaps).toBe(4);
  });

  it('forgets flaps older than the flap window', () => {
    const h = harness({ flapWindowMs: 2_000 });
    h.healthy(100);
    h.advance(150);
    h.healthy(100);
    expect(h.detector.status().recentFlaps).toBe(1);
    expect(h.detector.status().suspectHoldMs).toBe(100);
    h.healthy(2_100);
    expect(h.detector.status().recentFlaps).toBe(0);
    expect(h.detector.status().suspectHoldMs).toBe(0);
  });

  it('emits one event per state change, with the state names as events too', async () => {
    const h = harness();
    h.healthy(40);
    const dead = nextChangeTo(h.detector, 'dead');
    const named: string[] = [];
    h.detector.on('suspect', () => named.push('suspect'));
    h.detector.on('dead', () => named.push('dead'));
    h.advance(200);
    expect((await dead).to).toBe('dead');
    expect(named).toEqual(['suspect', 'dead']);
  });
});
