/**
 * Benchmarks: run a strategy over benchmark problems with repeats, measure it, keep the results
 * in a resumable output directory. `pacore bench` and `pacore curve` are built on this.
 */
export {
  type Distribution,
  distribution,
  mean,
  passAtK,
  quantile,
  reportedKs,
  standardError,
} from "./metrics.js";
export {
  type BenchmarkProgress,
  type BenchmarkSummary,
  type ProblemRun,
  type RoundStats,
  type RoundSummary,
  type RunBenchmarkInput,
  repeatSeed,
  runBenchmark,
} from "./run.js";
