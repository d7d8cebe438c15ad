import { describe, expect, it } from 'vitest';
import {
  createFailureDetector,
  createKeepalive,
  DETECT_MULTIPLIER,
  type FailureDetectorOptions,
  HEARTBEAT_INTERVAL_MS,
  InvalidOptionError,
  type KeepaliveOptions,
} from '../src/index.js';

function rejects(make: () => unknown, option: string): void {
  let caught: unknown;
  try {
    make();
  } catch (err) {
    caught = err;
  }
  expect(caught, `option ${option}`).toBeInstanceOf(InvalidOptionError);
  expect((caught as InvalidOptionError).code).toBe('MC_ERR_INVALID_OPTION');
  expect((caught as Error).message).toContain(`option ${option}`);
}

describe('options', () => {
  it('fills in the documented defaults', () => {
    const d = createFailureDetector();
    expect(d.options).toMatchObject({
      rule: 'deadline',
      intervalMs: HEARTBEAT_INTERVAL_MS,
      multiplier: DETECT_MULTIPLIER,
      phiThreshold: 8,
      minStdDevMs: 10,
      acceptablePauseMs: 40,
      windowSize: 100,
      suspectFraction: 0.5,
      hangTimeoutMs: 500,
      flapHoldMs: 100,
      maxFlapHoldMs: 3_200,
      flapWindowMs: 30_000,
      selfPauseMs: 100,
      startupTimeoutMs: 10_000,
    });
    expect(createFailureDetector({ intervalMs: 50, multiplier: 3 }).options.selfPauseMs).toBe(150);
  });

  const detectorCases: Array<[string, FailureDetectorOptions]> = [
    ['rule', { rule: 'bfd' as 'phi' }],
    ['intervalMs', { intervalMs: 0 }],
    ['intervalMs', { intervalMs: Number.NaN }],
    ['intervalMs', { intervalMs: '20' as unknown as number }],
    ['multiplier', { multiplier: 0.5 }],
    ['phiThreshold', { phiThreshold: 0 }],
    ['minStdDevMs', { minStdDevMs: -1 }],
    ['acceptablePauseMs', { acceptablePauseMs: -5 }],
    ['windowSize', { windowSize: 1 }],
    ['windowSize', { windowSize: 10.5 }],
    ['suspectFraction', { suspectFraction: 0 }],
    ['suspectFraction', { suspectFraction: 1.5 }],
    ['hangTimeoutMs', { hangTimeoutMs: 0 }],
    ['flapHoldMs', { flapHoldMs: -1 }],
    ['maxFlapHoldMs', { flapHoldMs: 500, maxFlapHoldMs: 100 }],
    ['flapWindowMs', { flapWindowMs: 0 }],
    ['selfPauseMs', { selfPauseMs: Number.POSITIVE_INFINITY }],
    ['startupTimeoutMs', { startupTimeoutMs: -1 }],
    ['clock', { clock: 5 as unknown as () => number }],
  ];
  for (const [option, options] of detectorCases) {
    it(`createFailureDetector rejects a bad ${option}: ${JSON.stringify(options)}`, () => {
      rejects(() => createFailureDetector(options), option);
      // The keepalive validates the same options (clock aside, which it refuses outright).
      rejects(() => createKeepalive(options as KeepaliveOptions), option);
    });
  }

  const keepaliveCases: Array<[string, unknown]> = [
    ['options', null],
    ['address', { address: 'localhost' }],
    ['port', { port: 70_000 }],
    ['port', { port: -1 }],
    ['peer', { peer: 'x' }],
    ['peer.address', { peer: { address: 'peer.example', port: 1 } }],
    ['peer.port', { peer: { address: '10.0.0.1', port: 0 } }],
    ['peer.port', { peer: { address: '10.0.0.1' } }],
    ['role', { role: 'leader' }],
    ['epoch', { epoch: -1 }],
    ['epoch', { epoch: 1.5 }],
    ['checkIntervalMs', { checkIntervalMs: 0 }],
    ['goodbyeOnClose', { goodbyeOnClose: 'yes' }],
  ];
  for (const [option, options] of keepaliveCases) {
    it(`createKeepalive rejects a bad ${option}: ${JSON.stringify(options)}`, () => {
      rejects(() => createKeepalive(options as KeepaliveOptions), option);
    });
  }
});
