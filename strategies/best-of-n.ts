/**
 * Best-of-N: sample N trajectories and keep the one a verifier or reward function scores
 * highest. Cobbe et al., "Training Verifiers to Solve Math Word Problems" (arXiv 2110.14168).
 */
import { extractAnswer } from "../src/answers/extract.js";
import { ConfigError } from "../src/common/errors.js";
import { checkPositiveIntegers } from "../src/common/validate.js";
import type { ChatMessage } from "../src/spec/backend.js";
import type { Trajectory } from "../src/spec/run.js";
import type { Strategy } from "../src/spec/strategy.js";
import { compactTrajectory } from "./compaction.js";

/** What a verifier scores: one finished trajectory of the problem. */
export interface Candidate {
  readonly problem: readonly ChatMessage[];
  readonly content: string;
  readonly reasoning?: string;
  /** The extracted answer, or null. */
  readonly answer: string | null;
  readonly trajectory: Trajectory;
}

/** Scores a candidate; higher is better. May call a reward model. */
export type Verifier = (candidate: Candidate) => number | Promise<number>;

export interface BestOfNOptions {
  readonly n: number;
  readonly verifier: Verifier;
}

/**
 * Ties go to the lowest index, so the pick is deterministic.
 *
 * @example
 * ```ts
 * const strategy = bestOfN({ n: 8, verifier: ({ answer }) => (answer === "396" ? 1 : 0) });
 * ```
 */
export function bestOfN(options: BestOfNOptions): Strategy {
  checkPositiveIntegers("n", [options.n]);
  if (typeof options.verifier !== "function") {
    throw new ConfigError(
      `Expected \`verifier\` to be a function (candidate) => number, got \`${typeof options.verifier}\``,
    );
  }
  return {
    name: "best-of-n",
    plan: [options.n],
    prompt: ({ problem }) => problem,
    compact: compactTrajectory,
    async select({ problem, rounds }) {
      const finished = rounds[0].trajectories.filter((trajectory) => !trajectory.error);
      let best: { score: number; trajectory: Trajectory; answer: string | null } | undefined;
      for (const trajectory of finished) {
        const answer = extractAnswer(trajectory.content);
        const score = await options.verifier({
          problem,
          content: trajectory.content,
          ...(trajectory.reasoning !== undefined && { reasoning: trajectory.reasoning }),
          answer,
          trajectory,
        });
        if (typeof score !== "number" || Number.isNaN(score)) {
          throw new ConfigError(
            `Expected the verifier to return a number, got \`${String(score)}\``,
          );
        }
        if (!best || score > best.score) best = { score, trajectory, answer };
      }
      return best
        ? { content: best.trajectory.content, answer: best.answer }
        : { content: "", answer: null };
    },
  };
}
