/**
 * The arith task through the library's `runBenchmark`, for `pacore demo` (which passes arith
 * problems as generated). `pacore bench` calls the library directly.
 */
import { type BenchmarkSummary, type ProblemRun, runBenchmark as run } from "../bench/run.js";
import type { RunOptionsInput } from "../core/options.js";
import type { ModelBackend } from "../spec/backend.js";
import type { Strategy } from "../spec/strategy.js";
import type { ArithProblem } from "../tasks/arith.js";
import { arithBenchmarkProblem } from "../tasks/problem.js";

/** One problem run of a benchmark (a line of `problems.jsonl`). */
export type ProblemOutcome = ProblemRun;

export interface BenchmarkInput {
  readonly backend: ModelBackend;
  readonly strategy: Strategy;
  readonly problems: readonly ArithProblem[];
  readonly options: RunOptionsInput;
  readonly problemConcurrency: number;
  /** Aborting stops every problem's run; the benchmark rejects with the abort error. */
  readonly signal?: AbortSignal;
}

/** Arith problems, graded by their verifier, one run each. */
export function runBenchmark(input: BenchmarkInput): Promise<BenchmarkSummary> {
  return run({ ...input, problems: input.problems.map(arithBenchmarkProblem) });
}
