/**
 * `BenchmarkProblem`: one problem of a benchmark, whatever it came from (a task generator or a
 * data file), with the grader that decides whether a response is right.
 */
import { gradeAnswer } from "../answers/grade.js";
import type { ChatMessage } from "../spec/backend.js";
import { type ArithOptions, type ArithProblem, generateArith, verifyArith } from "./arith.js";

/** One benchmark problem: what the model is asked, the reference answer, and its grader. */
export interface BenchmarkProblem {
  /** Unique within its benchmark: the file's id column, else the 1-based record number. */
  readonly id: string;
  /**
   * What the model is asked: one user turn, or a conversation whose last user turn is the
   * problem (the engine's `problem`).
   */
  readonly prompt: string | readonly ChatMessage[];
  /** The reference answer as text (`204`, `\frac{1}{2}`, or a letter for multiple choice). */
  readonly groundTruth: string;
  /**
   * True when `response` (a final text, reasoning included, or a compacted message) is right.
   * Data files grade with `gradeAnswer(groundTruth, response)`; tasks with their own verifier.
   */
  readonly grade: (response: string) => Promise<boolean>;
  /** Multiple choice only: the options in the order the prompt shows them (A, B, …). */
  readonly choices?: readonly string[];
}

/** A problem graded by the math grader `gradeAnswer`. */
export function gradedProblem(
  id: string,
  prompt: string | readonly ChatMessage[],
  groundTruth: string,
  choices?: readonly string[],
): BenchmarkProblem {
  return {
    id,
    prompt,
    groundTruth,
    grade: (response) => gradeAnswer(groundTruth, response),
    ...(choices && { choices }),
  };
}

/** An arith problem as a benchmark problem, graded by its own verifier (`verifyArith`). */
export function arithBenchmarkProblem(problem: ArithProblem): BenchmarkProblem {
  return {
    id: problem.id,
    prompt: problem.prompt,
    groundTruth: problem.answer,
    grade: async (response) => response !== "" && verifyArith(problem, response),
  };
}

/** `generateArith(options)` as benchmark problems. */
export function arithBenchmark(options: ArithOptions): BenchmarkProblem[] {
  return generateArith(options).map(arithBenchmarkProblem);
}
