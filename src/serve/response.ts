/**
 * A run's result as an OpenAI chat completion (and as stream chunks): the final trajectory's
 * answer in `content`, its reasoning in `reasoning_content`, usage summed over every round, and
 * per-round trajectories in an extra `pacore` field.
 */
import type { FinishReason } from "../spec/backend.js";
import type { RunResult, Trajectory, UsageTotals } from "../spec/run.js";

/** OpenAI usage with cached prompt tokens. */
export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export function openaiUsage(usage: UsageTotals): OpenAIUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens },
  };
}

/** The trajectory whose text the strategy chose: in the last round, the one with that content. */
export function finalTrajectory(result: RunResult): Trajectory | undefined {
  const last = result.rounds.at(-1)?.trajectories ?? [];
  return (
    last.find((trajectory) => !trajectory.error && trajectory.content === result.content) ??
    last.find((trajectory) => !trajectory.error)
  );
}

/** OpenAI's finish reasons: a final trajectory cut by its budget is `length`. */
export function openaiFinishReason(reason: FinishReason | undefined): "stop" | "length" {
  return reason === "length" ? "length" : "stop";
}

function trajectoryJson(trajectory: Trajectory) {
  return {
    index: trajectory.index,
    content: trajectory.content,
    ...(trajectory.reasoning !== undefined && { reasoning: trajectory.reasoning }),
    finish_reason: trajectory.finishReason,
    usage: {
      prompt_tokens: trajectory.usage.promptTokens,
      completion_tokens: trajectory.usage.completionTokens,
      cached_tokens: trajectory.usage.cachedTokens,
    },
    seed: trajectory.seed,
    attempts: trajectory.attempts,
    elapsed_ms: Math.round(trajectory.elapsedMs),
    ...(trajectory.error && { error: trajectory.error }),
  };
}

/** The extra `pacore` field: what ran, per-round trajectories and messages, effective tokens. */
export function pacoreField(result: RunResult, options: { trajectories: boolean }) {
  return {
    strategy: result.strategy,
    plan: result.plan,
    backend: { provider: result.provider, model: result.model },
    seed: result.seed,
    answer: result.answer,
    effective_tokens: result.effectiveTokens,
    calls: result.calls,
    elapsed_ms: Math.round(result.elapsedMs),
    warnings: result.warnings,
    rounds: result.rounds.map((round) => ({
      round: round.round,
      k: round.k,
      usage: openaiUsage(round.usage),
      elapsed_ms: Math.round(round.elapsedMs),
      messages: round.messages,
      ...(options.trajectories && { trajectories: round.trajectories.map(trajectoryJson) }),
    })),
  };
}

/** Identity of one response, shared by all its chunks. */
export interface CompletionIdentity {
  readonly id: string;
  readonly created: number;
  readonly model: string;
}

export function chatCompletion(
  identity: CompletionIdentity,
  result: RunResult,
  options: { trajectories: boolean },
) {
  const final = finalTrajectory(result);
  return {
    id: identity.id,
    object: "chat.completion" as const,
    created: identity.created,
    model: identity.model,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant" as const,
          content: result.content,
          refusal: null,
          ...(final?.reasoning !== undefined && { reasoning_content: final.reasoning }),
        },
        logprobs: null,
        finish_reason: openaiFinishReason(final?.finishReason),
      },
    ],
    usage: openaiUsage(result.usage),
    pacore: pacoreField(result, options),
  };
}

/** One `chat.completion.chunk` with the given choices and extra fields. */
export function chunk(
  identity: CompletionIdentity,
  choices: readonly unknown[],
  extra: Record<string, unknown> = {},
) {
  return {
    id: identity.id,
    object: "chat.completion.chunk" as const,
    created: identity.created,
    model: identity.model,
    system_fingerprint: null,
    choices,
    ...extra,
  };
}

/** A delta choice of a stream chunk. */
export function deltaChoice(
  delta: Record<string, unknown>,
  finishReason: "stop" | "length" | null = null,
) {
  return { index: 0, delta, logprobs: null, finish_reason: finishReason };
}

/** Splits text into stream deltas of about `size` characters (whole code points). */
export function splitDeltas(text: string, size = 256): string[] {
  const points = Array.from(text);
  const deltas: string[] = [];
  for (let i = 0; i < points.length; i += size) deltas.push(points.slice(i, i + size).join(""));
  return deltas;
}
