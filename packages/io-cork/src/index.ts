/**
 * @packageDocumentation
 * Epoch-tagged output queue: release on commit, exactly-once re-emission after failover, receiver-side dedup.
 *
 * Nothing is exported yet: see the package README for what is coming.
 */
export {};
