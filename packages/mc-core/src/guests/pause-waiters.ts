import { PauseTimeoutError } from '../errors.js';

interface PauseWaiter {
  resolve(): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The callers awaiting one guest's pause. Both guests share it: each waiter may time out on its own,
 * and when the last one gives up nobody wants the pause any more, so the guest withdraws it.
 */
export class PauseWaiters {
  #waiters: PauseWaiter[] = [];

  /**
   * Resolves when `settle()` runs. With `timeoutMs > 0` it rejects with PauseTimeoutError after that
   * long; if it was the last waiter, `withdraw()` runs first so the guest can run on.
   */
  wait(timeoutMs: number, withdraw: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: PauseWaiter = { resolve, reject, timer: undefined };
      if (timeoutMs > 0)
        waiter.timer = setTimeout(() => this.#timedOut(waiter, timeoutMs, withdraw), timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** The pause was reached (or the guest failed: then every waiter is rejected with `failure`). */
  settle(failure?: Error): void {
    for (const waiter of this.#waiters.splice(0)) {
      if (waiter.timer !== undefined) clearTimeout(waiter.timer);
      if (failure) waiter.reject(failure);
      else waiter.resolve();
    }
  }

  #timedOut(waiter: PauseWaiter, timeoutMs: number, withdraw: () => void): void {
    const index = this.#waiters.indexOf(waiter);
    if (index === -1) return;
    this.#waiters.splice(index, 1);
    if (this.#waiters.length === 0) withdraw();
    waiter.reject(new PauseTimeoutError(timeoutMs));
  }
}
