/**
 * @packageDocumentation
 * The micro-checkpointing engine: guest memory, dirty tracking, hot copy path, MC protocol, primary/secondary roles, failover.
 *
 * Nothing is exported yet: see the package README for what is coming.
 */
export {};
