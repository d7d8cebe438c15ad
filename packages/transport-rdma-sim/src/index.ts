/**
 * @packageDocumentation
 * RDMA verbs semantics in software (MR/QP/CQ, one-sided WRITE, WRITE_WITH_IMM, RNR, error states) over SharedArrayBuffer and TCP.
 *
 * Nothing is exported yet: see the package README for what is coming.
 */
export {};
