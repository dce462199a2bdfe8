/**
 * Benchmark statistics: pure functions over numbers, no dependencies. Every estimator is the one
 * papers use, so that a number printed here means what it means there.
 */
import { ConfigError } from "../common/errors.js";

/** Mean and quartiles of a sample (`null` fields when it is empty). */
export interface Distribution {
  readonly mean: number | null;
  /** First quartile, median and third quartile: linear interpolation between order statistics
   * (numpy's default, R type 7). */
  readonly q1: number | null;
  readonly median: number | null;
  readonly q3: number | null;
  readonly min: number | null;
  readonly max: number | null;
}

/** The arithmetic mean, or null for an empty list. */
export function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let total = 0;
  for (const value of values) total += value;
  return total / values.length;
}

/**
 * The standard error of the mean: the sample standard deviation (n − 1 in the denominator)
 * divided by √n. Null with fewer than two values, where it is not defined.
 *
 * @example
 * standardError([0, 1, 1, 1]) // 0.25
 */
export function standardError(values: readonly number[]): number | null {
  const n = values.length;
  if (n < 2) return null;
  const average = mean(values) as number;
  let squares = 0;
  for (const value of values) squares += (value - average) ** 2;
  return Math.sqrt(squares / (n - 1)) / Math.sqrt(n);
}

/** The `p` quantile (0–1) of sorted values by linear interpolation (R type 7, numpy default). */
export function quantile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const position = (sorted.length - 1) * p;
  const below = Math.floor(position);
  const above = Math.ceil(position);
  return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
}

/** Mean, quartiles, min and max of a sample. */
export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    mean: mean(values),
    q1: quantile(sorted, 0.25),
    median: quantile(sorted, 0.5),
    q3: quantile(sorted, 0.75),
    min: sorted[0] ?? null,
    max: sorted.at(-1) ?? null,
  };
}

/**
 * The unbiased pass@k estimator of Chen et al. 2021 ("Evaluating Large Language Models Trained
 * on Code"): the probability that at least one of k samples drawn without replacement from `n`
 * runs, `correct` of them right, is right: 1 − C(n−c, k) / C(n, k), computed as a product so that
 * it never overflows.
 *
 * @example
 * passAtK(4, 1, 2) // 0.5: 1 − C(3,2)/C(4,2) = 1 − 3/6
 */
export function passAtK(n: number, correct: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(correct) || !Number.isInteger(k)) {
    throw new ConfigError(
      `Expected integers n, correct and k for pass@k, got n=${n}, correct=${correct}, k=${k}`,
    );
  }
  if (k < 1 || k > n || correct < 0 || correct > n) {
    throw new ConfigError(
      `Expected 1 ≤ k ≤ n and 0 ≤ correct ≤ n for pass@k, got n=${n}, correct=${correct}, k=${k}`,
    );
  }
  if (n - correct < k) return 1;
  let allWrong = 1;
  for (let i = n - correct + 1; i <= n; i++) allWrong *= 1 - k / i;
  return 1 - allWrong;
}

/**
 * The k at which pass@k, maj@k and mean@k are reported for `repeats` runs per problem: the
 * powers of two up to `repeats`, and `repeats` itself.
 *
 * @example
 * reportedKs(6) // [1, 2, 4, 6]
 */
export function reportedKs(repeats: number): number[] {
  const ks: number[] = [];
  for (let k = 1; k <= repeats; k *= 2) ks.push(k);
  if (ks.at(-1) !== repeats) ks.push(repeats);
  return ks;
}
