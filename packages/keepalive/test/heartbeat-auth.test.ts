import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeHeartbeat,
  deriveHeartbeatKeys,
  encodeAuthenticatedHeartbeat,
  encodeHeartbeat,
  HEARTBEAT_AUTH_BYTES,
  HEARTBEAT_AUTH_VERSION,
  HEARTBEAT_BYTES,
  type Heartbeat,
  HeartbeatDecodeError,
  HeartbeatMacError,
  HeartbeatUnauthenticatedError,
  HeartbeatVersionError,
  InvalidArgumentError,
  REPLAY_WINDOW_SIZE,
  ReplayWindow,
} from '../src/index.js';

const arbHeartbeat: fc.Arbitrary<Heartbeat> = fc.record({
  role: fc.constantFrom('primary', 'secondary', 'witness'),
  goodbye: fc.boolean(),
  incarnation: fc.integer({ min: 1, max: 0xffffffff }),
  intervalMs: fc.integer({ min: 1, max: 0xffffffff }).map((us) => us / 1_000),
  sequence: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  senderTimeMs: fc.double({ min: 0, max: 1e12, noNaN: true }),
  epoch: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  progress: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
});
const arbKey = fc.uint8Array({ minLength: 32, maxLength: 32 });
const arbId = fc.string({ minLength: 1, maxLength: 40 });

describe('authenticated heartbeat codec (version 2)', () => {
  it('round-trips every representable heartbeat under its key', () => {
    fc.assert(
      fc.property(arbHeartbeat, arbKey, (heartbeat, key) => {
        const bytes = encodeAuthenticatedHeartbeat(heartbeat, key);
        expect(bytes.length).toBe(HEARTBEAT_AUTH_BYTES);
        expect(bytes[4]).toBe(HEARTBEAT_AUTH_VERSION);
        expect(decodeHeartbeat(bytes, key)).toEqual(heartbeat);
      }),
    );
  });

  it('refuses any single flipped bit, and any other key, as forged or malformed', () => {
    fc.assert(
      fc.property(
        arbHeartbeat,
        arbKey,
        fc.nat(HEARTBEAT_AUTH_BYTES * 8 - 1),
        arbKey,
        (heartbeat, key, bit, otherKey) => {
          const bytes = encodeAuthenticatedHeartbeat(heartbeat, key).slice();
          bytes[bit >> 3]! ^= 1 << (bit & 7);
          expect(() => decodeHeartbeat(bytes, key)).toThrow(HeartbeatDecodeError);
          const intact = encodeAuthenticatedHeartbeat(heartbeat, key);
          fc.pre(!Buffer.from(otherKey).equals(key));
          expect(() => decodeHeartbeat(intact, otherKey)).toThrow(HeartbeatMacError);
        },
      ),
    );
  });

  it('keeps versions apart: v1 at a keyed receiver is unauthenticated, v2 at a keyless one is a version error', () => {
    fc.assert(
      fc.property(arbHeartbeat, arbKey, (heartbeat, key) => {
        const v1 = encodeHeartbeat(heartbeat);
        expect(v1.length).toBe(HEARTBEAT_BYTES);
        expect(() => decodeHeartbeat(v1, key)).toThrow(HeartbeatUnauthenticatedError);
        expect(() => decodeHeartbeat(encodeAuthenticatedHeartbeat(heartbeat, key))).toThrow(
          HeartbeatVersionError,
        );
        expect(decodeHeartbeat(v1)).toEqual(heartbeat);
      }),
    );
  });

  it('refuses truncated, padded and garbage datagrams with a typed error, never a heartbeat', () => {
    fc.assert(
      fc.property(arbHeartbeat, arbKey, fc.nat(HEARTBEAT_AUTH_BYTES + 8), (heartbeat, key, length) => {
        fc.pre(length !== HEARTBEAT_AUTH_BYTES);
        const full = encodeAuthenticatedHeartbeat(heartbeat, key);
        const cut = new Uint8Array(length);
        cut.set(full.subarray(0, Math.min(length, full.length)));
        expect(() => decodeHeartbeat(cut, key)).toThrow(HeartbeatDecodeError);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 80 }), arbKey, (garbage, key) => {
        expect(() => decodeHeartbeat(garbage, key)).toThrow(HeartbeatDecodeError);
      }),
    );
    expect(() => encodeAuthenticatedHeartbeat({ ...sample(), sequence: 1 }, new Uint8Array(16))).toThrow(
      InvalidArgumentError,
    );
    expect(() => decodeHeartbeat(new Uint8Array(64), new Uint8Array(31))).toThrow(InvalidArgumentError);
  });
});

function sample(): Heartbeat {
  return {
    role: 'primary',
    goodbye: false,
    incarnation: 7,
    intervalMs: 20,
    sequence: 1,
    senderTimeMs: 1,
    epoch: 0,
    progress: 0,
  };
}

describe('heartbeat keys', () => {
  const secret = new Uint8Array(32).fill(9);

  it('are one per direction, and what one side sends with the other receives with', () => {
    fc.assert(
      fc.property(arbId, arbId, fc.uint8Array({ minLength: 16, maxLength: 64 }), (a, b, s) => {
        fc.pre(a !== b);
        const ka = deriveHeartbeatKeys({ secret: s, localId: a, peerId: b });
        const kb = deriveHeartbeatKeys({ secret: s, localId: b, peerId: a });
        expect(Buffer.from(ka.send).equals(kb.receive)).toBe(true);
        expect(Buffer.from(ka.receive).equals(kb.send)).toBe(true);
        // A heartbeat reflected back to its sender does not verify there.
        expect(Buffer.from(ka.send).equals(ka.receive)).toBe(false);
      }),
    );
  });

  it('depend on the ids (length-prefixed), the secret and the session', () => {
    const base = deriveHeartbeatKeys({ secret, localId: 'ab', peerId: 'c' });
    const shifted = deriveHeartbeatKeys({ secret, localId: 'a', peerId: 'bc' });
    expect(Buffer.from(base.send).equals(shifted.send)).toBe(false);
    const otherSecret = deriveHeartbeatKeys({
      secret: new Uint8Array(32).fill(8),
      localId: 'ab',
      peerId: 'c',
    });
    expect(Buffer.from(base.send).equals(otherSecret.send)).toBe(false);
    const session = deriveHeartbeatKeys({
      secret,
      session: new Uint8Array(16).fill(1),
      localId: 'ab',
      peerId: 'c',
    });
    expect(Buffer.from(base.send).equals(session.send)).toBe(false);
    const sessionOnly = deriveHeartbeatKeys({
      session: new Uint8Array(16).fill(1),
      localId: 'ab',
      peerId: 'c',
    });
    expect(sessionOnly.send.length).toBe(32);
    expect(() => deriveHeartbeatKeys({ secret, localId: 'x', peerId: 'x' })).toThrow(InvalidArgumentError);
    expect(() => deriveHeartbeatKeys({ secret: new Uint8Array(8), localId: 'x', peerId: 'y' })).toThrow(
      InvalidArgumentError,
    );
    expect(() => deriveHeartbeatKeys({ localId: 'x', peerId: 'y' })).toThrow(InvalidArgumentError);
  });
});

describe('replay window', () => {
  it('accepts each sequence number at most once, and nothing older than the window (against a model)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 2 ** 40 })), {
          maxLength: 400,
        }),
        (sequences) => {
          const window = new ReplayWindow();
          const accepted = new Set<number>();
          let highest = 0;
          for (const sequence of sequences) {
            const verdict = window.check(sequence);
            const expected =
              sequence > highest
                ? 'fresh'
                : highest - sequence >= REPLAY_WINDOW_SIZE
                  ? 'stale'
                  : accepted.has(sequence)
                    ? 'replayed'
                    : 'fresh';
            expect(verdict).toBe(expected);
            if (verdict === 'fresh') {
              window.accept(sequence);
              accepted.add(sequence);
              highest = Math.max(highest, sequence);
            }
            expect(window.highest).toBe(highest);
          }
        },
      ),
    );
  });

  it('tolerates reordering inside the window', () => {
    const window = new ReplayWindow(8);
    for (const s of [5, 3, 4, 1, 2]) {
      expect(window.check(s)).toBe('fresh');
      window.accept(s);
    }
    expect(window.check(3)).toBe('replayed');
    window.accept(20);
    expect(window.check(12)).toBe('stale');
    expect(window.check(13)).toBe('fresh');
    expect(() => new ReplayWindow(0)).toThrow(RangeError);
  });
});
