/** The `--json` object of `pacore run`: a documented contract, see README "JSON output". */
import type { RunResult, Trajectory } from "../spec/run.js";

function trajectoryJson(trajectory: Trajectory) {
  return {
    content: trajectory.content,
    reasoning: trajectory.reasoning ?? null,
    finishReason: trajectory.finishReason,
    usage: trajectory.usage,
    ...(trajectory.tokenIds && { tokenIds: trajectory.tokenIds }),
    ...(trajectory.logprobs && { logprobs: trajectory.logprobs }),
    seed: trajectory.seed,
    attempts: trajectory.attempts,
    elapsedMs: Math.round(trajectory.elapsedMs),
    ...(trajectory.resumed && { resumed: true }),
    ...(trajectory.error && { error: trajectory.error }),
  };
}

/** The object; `failure` is set when the run failed and `result` is what it finished. */
export function toRunJson(result: RunResult, failure?: { code: string; message: string }) {
  return {
    ...(failure && { error: { code: failure.code, message: failure.message } }),
    backend: result.provider,
    model: result.model,
    strategy: result.strategy,
    plan: result.plan,
    seed: result.seed,
    answer: result.answer,
    content: result.content,
    rounds: result.rounds.map((round) => ({
      round: round.round,
      k: round.k,
      trajectories: round.trajectories.map(trajectoryJson),
      messages: round.messages,
      usage: round.usage,
      elapsedMs: Math.round(round.elapsedMs),
    })),
    usage: {
      promptTokens: result.usage.promptTokens,
      completionTokens: result.usage.completionTokens,
      cachedTokens: result.usage.cachedTokens,
      totalTokens: result.usage.totalTokens,
    },
    effectiveTokens: result.effectiveTokens,
    calls: result.calls,
    resumed: result.resumed,
    elapsedMs: Math.round(result.elapsedMs),
    warnings: result.warnings,
  };
}
