/**
 * @packageDocumentation
 * The fault harness (private): network-namespace test hosts, nemeses, a recording client workload and
 * a checker that judges the protected KV service from the clients' point of view.
 */
export {};
