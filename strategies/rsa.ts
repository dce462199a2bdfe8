/**
 * Recursive Self-Aggregation (RSA): keep a population of N solutions; at each step every new
 * member aggregates a random subset of K members of the previous population; after the last step
 * the answer is the majority vote of the population. Venkatraman et al., "Recursive
 * Self-Aggregation Unlocks Deep Thinking in Large Language Models" (arXiv 2509.26626).
 */

import { ConfigError } from "../src/common/errors.js";
import { checkPositiveIntegers } from "../src/common/validate.js";
import type { ChatMessage } from "../src/spec/backend.js";
import type { Strategy } from "../src/spec/strategy.js";
import { compactTrajectory } from "./compaction.js";
import { problemText, replaceProblemText } from "./conversation.js";
import { voteOver } from "./self-consistency.js";
import { namedTemplate, type SynthesisTemplate } from "./synthesis-template.js";

export interface RsaOptions {
  /** Population size N. */
  readonly population: number;
  /** Members each aggregation reads, K ≤ N. */
  readonly subset: number;
  /** Rounds in all, the first generation included: T = 1 is plain parallel sampling + vote. */
  readonly steps: number;
  readonly template?: SynthesisTemplate;
}

/** K distinct indices of [0, count), drawn with `random` (partial Fisher–Yates). */
export function drawSubset(count: number, size: number, random: () => number): number[] {
  const pool = Array.from({ length: count }, (_, index) => index);
  const take = Math.min(size, count);
  for (let i = 0; i < take; i++) {
    const j = i + Math.floor(random() * (count - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, take).sort((a, b) => a - b);
}

export function rsa(options: RsaOptions): Strategy {
  const { population, subset, steps } = options;
  checkPositiveIntegers("population, subset, steps", [population, subset, steps]);
  if (subset > population) {
    throw new ConfigError(
      `Expected \`subset\` (K) to be at most \`population\` (N), got K = ${subset} > N = ${population}`,
    );
  }
  const render = options.template ?? namedTemplate("default");
  return {
    name: "rsa",
    plan: new Array<number>(steps).fill(population),
    prompt({ problem, round, messages }): readonly ChatMessage[] {
      if (round === 1) return problem;
      return replaceProblemText(problem, render(problemText(problem), messages));
    },
    references: (_round, _index, messageCount, random) => drawSubset(messageCount, subset, random),
    compact: compactTrajectory,
    select: ({ rounds }) => voteOver(rounds[rounds.length - 1].trajectories),
  };
}
