/**
 * Task families (problem generators with programmatic verifiers) and benchmark files (JSONL,
 * JSON, CSV, Parquet) read into `BenchmarkProblem`s.
 */

export {
  ARITH_LEVELS,
  type ArithLevel,
  type ArithNode,
  type ArithOptions,
  type ArithProblem,
  type ArithSplit,
  arithSteps,
  DEFAULT_ARITH_DIFFICULTY,
  evaluateArith,
  fnv1a32,
  generateArith,
  isHeldOut,
  parseArith,
  verifyArith,
} from "./arith.js";
export {
  BENCHMARK_FORMATS,
  type BenchmarkFields,
  type BenchmarkFormat,
  type BenchmarkShape,
  type BenchmarkSource,
  type LoadedBenchmark,
  loadBenchmark,
} from "./files.js";
export {
  arithBenchmark,
  arithBenchmarkProblem,
  type BenchmarkProblem,
  gradedProblem,
} from "./problem.js";
