/**
 * Compaction: a trajectory's message is only its final conclusion, everything after the last
 * `</think>`, or the whole text where there is none. Verbatim: nothing trimmed or rewritten.
 */
import { shuffle } from "../src/common/random.js";
import { splitReasoning } from "../src/common/think.js";
import type { Trajectory } from "../src/spec/run.js";

/** The conclusion of a text: everything after its last `</think>`, else all of it. */
export function conclusionOf(text: string): string {
  return splitReasoning(text).content;
}

/**
 * A trajectory's message for the next round, or `null` (dropped) when it is empty. Backends that
 * separate reasoning already put only the conclusion in `content`.
 */
export function compactTrajectory(trajectory: Trajectory): string | null {
  const message = conclusionOf(trajectory.content);
  return message.trim() === "" ? null : message;
}

/**
 * PaCoRe's ordering against position bias: sort by length (a canonical order that does not
 * depend on which trajectory finished first), then a seeded shuffle.
 */
export function lengthSortThenShuffle(messages: readonly string[], random: () => number): string[] {
  const sorted = messages
    .slice()
    .sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  return shuffle(sorted, random);
}
