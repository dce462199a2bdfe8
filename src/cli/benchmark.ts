/**
 * One strategy over a list of task problems, concurrently: accuracy and token accounting. Used
 * by `pacore bench` and `pacore demo`.
 */
import { setMaxListeners } from "node:events";
import pLimit from "p-limit";
import { describeError, type ErrorCode, INPUT_ERROR_CODES } from "../common/errors.js";
import { run } from "../core/engine.js";
import type { RunOptionsInput } from "../core/options.js";
import type { ModelBackend } from "../spec/backend.js";
import type { UsageTotals } from "../spec/run.js";
import type { Strategy } from "../spec/strategy.js";
import { type ArithProblem, verifyArith } from "../tasks/arith.js";

export interface ProblemOutcome {
  readonly id: string;
  readonly correct: boolean;
  readonly answer: string | null;
  readonly expected: string;
  readonly usage: UsageTotals;
  readonly effectiveTokens: number;
  /** Why the run failed, when it did (the problem then counts as wrong). */
  readonly error?: string;
  /** The error code of that failure (`PACORE_ERR_…`). */
  readonly errorCode?: string;
}

export interface BenchmarkInput {
  readonly backend: ModelBackend;
  readonly strategy: Strategy;
  readonly problems: readonly ArithProblem[];
  readonly options: RunOptionsInput;
  readonly problemConcurrency: number;
  readonly onProgress?: (done: number, correct: number) => void;
  /** Aborting stops every problem's run; the benchmark rejects with the abort error. */
  readonly signal?: AbortSignal;
}

const NO_USAGE: UsageTotals = {
  promptTokens: 0,
  completionTokens: 0,
  cachedTokens: 0,
  totalTokens: 0,
};

export async function runBenchmark(input: BenchmarkInput) {
  const { backend, strategy, problems, options } = input;
  const limit = pLimit(input.problemConcurrency);
  // Bad input (a plan that cannot fit, a bad option) fails every problem the same way, and an
  // interrupt stops them all: either ends the whole benchmark at once.
  const controller = new AbortController();
  setMaxListeners(0, controller.signal); // every problem's run listens on it
  const onAbort = () => controller.abort(input.signal?.reason);
  if (input.signal?.aborted) onAbort();
  input.signal?.addEventListener("abort", onAbort, { once: true });
  let fatal: unknown;
  let done = 0;
  let correct = 0;
  const settled = await Promise.allSettled(
    problems.map((problem) =>
      limit(async (): Promise<ProblemOutcome> => {
        let outcome: ProblemOutcome;
        try {
          const result = await run({
            backend,
            strategy,
            problem: problem.prompt,
            options,
            signal: controller.signal,
          });
          outcome = {
            id: problem.id,
            correct: result.content !== "" && verifyArith(problem, result.content),
            answer: result.answer,
            expected: problem.answer,
            usage: result.usage,
            effectiveTokens: result.effectiveTokens,
          };
        } catch (error) {
          const { code } = describeError(error);
          if (INPUT_ERROR_CODES.has(code as ErrorCode) || code === "PACORE_ERR_ABORTED") {
            fatal ??= error;
            controller.abort(error);
            throw error;
          }
          // A failed problem counts as wrong and keeps what it spent; the benchmark goes on.
          const partial = (error as { partial?: { usage: UsageTotals; effectiveTokens: number } })
            .partial;
          outcome = {
            id: problem.id,
            correct: false,
            answer: null,
            expected: problem.answer,
            usage: partial?.usage ?? NO_USAGE,
            effectiveTokens: partial?.effectiveTokens ?? 0,
            error: describeError(error).message,
            errorCode: code,
          };
        }
        done++;
        if (outcome.correct) correct++;
        input.onProgress?.(done, correct);
        return outcome;
      }),
    ),
  );
  input.signal?.removeEventListener("abort", onAbort);
  if (fatal !== undefined) throw fatal;
  const outcomes = settled.map((outcome) => {
    if (outcome.status === "rejected") throw outcome.reason;
    return outcome.value;
  });
  const sum = (pick: (outcome: ProblemOutcome) => number) =>
    outcomes.reduce((total, outcome) => total + pick(outcome), 0);
  const n = outcomes.length;
  return {
    backend: backend.provider,
    model: backend.model,
    n,
    strategy: strategy.name,
    plan: strategy.plan,
    accuracy: n === 0 ? 0 : correct / n,
    correct,
    // Problems whose run stated an answer at all (a model may decline, as the embedded one does
    // when its own check fails): accuracy over answered problems is correct / answered.
    answered: outcomes.filter((outcome) => outcome.answer !== null).length,
    failed: outcomes.filter((outcome) => outcome.error).length,
    usage: {
      promptTokens: sum((o) => o.usage.promptTokens),
      completionTokens: sum((o) => o.usage.completionTokens),
      cachedTokens: sum((o) => o.usage.cachedTokens),
      totalTokens: sum((o) => o.usage.totalTokens),
    },
    effectiveTokensPerProblem: n === 0 ? 0 : sum((o) => o.effectiveTokens) / n,
    problems: outcomes,
  };
}
