// Filled in by the fault-harness work (#10).
export {};
