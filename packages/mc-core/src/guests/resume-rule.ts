import { GuestClosedError, GuestStateError } from '../errors.js';
import type { GuestState } from './contract.js';

/**
 * What `resume()` may do from `state`, the same for every guest: true when a paused guest is to run
 * again, false when it already runs; throws for a pause still pending or a guest that has ended.
 */
export function resumeNeeded(state: GuestState): boolean {
  switch (state) {
    case 'running':
      return false;
    case 'pausing':
      throw new GuestStateError('resume() while a pause is pending: await pause() first');
    case 'stopped':
      throw new GuestClosedError();
    case 'failed':
      throw new GuestClosedError('the guest failed; it cannot resume');
    case 'paused':
      return true;
  }
}
