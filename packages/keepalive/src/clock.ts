/**
 * A monotonic clock in milliseconds. The detector never reads the wall clock: NTP steps and manual
 * changes would look like a dead peer or a stalled process.
 */
export type Clock = () => number;

/**
 * `CLOCK_MONOTONIC` in milliseconds (fractional). Unlike `performance.now()`, whose origin differs per
 * thread, every thread and every process on the host reads the same clock, so the heartbeat worker's
 * arrival stamps, the main thread's checks and another process's fault-injection times compare directly.
 */
export function monotonicMs(): number {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1_000 + nanoseconds / 1_000_000;
}
