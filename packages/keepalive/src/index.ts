/**
 * @packageDocumentation
 * Failure detection in milliseconds: UDP heartbeats from a worker thread, deadline and phi-accrual detectors, self-pause guard.
 *
 * Nothing is exported yet: see the package README for what is coming.
 */
export {};
