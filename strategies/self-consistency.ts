/**
 * Self-consistency: sample N trajectories and take the majority answer.
 * Wang et al., "Self-Consistency Improves Chain of Thought Reasoning in Language Models",
 * ICLR 2023 (arXiv 2203.11171).
 */
import { extractAnswer as defaultExtract } from "../src/answers/extract.js";
import { majorityVote, type TieBreak } from "../src/answers/vote.js";
import { checkPositiveIntegers } from "../src/common/validate.js";
import type { Trajectory } from "../src/spec/run.js";
import type { Selection, Strategy } from "../src/spec/strategy.js";
import { compactTrajectory } from "./compaction.js";

export interface SelfConsistencyOptions {
  /** Samples. */
  readonly n: number;
  /** Answer extraction (default `extractAnswer`). */
  readonly extractAnswer?: (text: string) => string | null;
  /** Tie-break between equally large groups (default: the group seen first, by index). */
  readonly tieBreak?: TieBreak;
}

/** The majority answer over trajectories, and the first trajectory that gave it. */
export function voteOver(
  trajectories: readonly Trajectory[],
  extract: (text: string) => string | null = defaultExtract,
  tieBreak: TieBreak = "first",
): Selection {
  const finished = trajectories.filter((trajectory) => !trajectory.error);
  const answers = finished.map((trajectory) => extract(trajectory.content));
  const vote = majorityVote(answers, tieBreak);
  const winner = vote.groups[0];
  const chosen = winner ? finished[winner.indices[0]] : finished[0];
  return { content: chosen?.content ?? "", answer: vote.answer };
}

/**
 * @example
 * ```ts
 * const result = await run({ backend, strategy: selfConsistency({ n: 16 }), problem });
 * ```
 */
export function selfConsistency(options: SelfConsistencyOptions): Strategy {
  checkPositiveIntegers("n", [options.n]);
  return {
    name: "self-consistency",
    plan: [options.n],
    prompt: ({ problem }) => problem,
    compact: compactTrajectory,
    select: ({ rounds }) =>
      voteOver(rounds[0].trajectories, options.extractAnswer, options.tieBreak),
  };
}
