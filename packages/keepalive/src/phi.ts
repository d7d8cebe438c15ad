/**
 * Phi accrual suspicion level (Hayashibara et al.; the logistic approximation of the normal CDF that Akka
 * and Cassandra use): `phi = -log10(1 - F(elapsed))` with F the normal distribution of inter-arrival
 * times of the given mean and standard deviation. phi 1 means a 10% chance that the peer is still alive
 * and its heartbeat merely late, phi 2 1%, phi 8 one in 10^8.
 *
 * Computed in the log domain so that it stays finite (and keeps growing) long after `1 - F` has
 * underflowed to zero: a dead peer's phi is a large number, never Infinity.
 */
export function phi(elapsedMs: number, meanMs: number, stdDevMs: number): number {
  const y = (elapsedMs - meanMs) / stdDevMs;
  const exponent = y * (1.5976 + 0.070566 * y * y);
  if (elapsedMs > meanMs) {
    // -log10(e / (1 + e)) with e = exp(-exponent), rewritten as (exponent + ln(1 + e)) / ln 10.
    return (exponent + Math.log1p(Math.exp(-exponent))) / Math.LN10;
  }
  // -log10(1 - 1 / (1 + e)) = log10(1 + 1/e) = log10(1 + exp(exponent)).
  return Math.log1p(Math.exp(exponent)) / Math.LN10;
}
