/**
 * @packageDocumentation
 * etcd arbiter for microcheckpoint (in progress).
 */
export {};
