/**
 * Majority voting over extracted answers (self-consistency), grouping equivalent answers.
 */
import { ConfigError } from "../common/errors.js";
import { normalizeAnswer } from "./equivalence.js";

/** One group of equivalent answers. */
export interface VoteGroup {
  /** The group's answer as first written (its earliest member, trimmed). */
  readonly answer: string;
  /** Members of the group. */
  readonly count: number;
  /** Indices of the members in the input list, ascending. */
  readonly indices: readonly number[];
}

/** Outcome of `majorityVote`. */
export interface VoteResult {
  /** The winning answer as first written, or null when no answer was given. */
  readonly answer: string | null;
  /** Votes of the winner (0 when there is none). */
  readonly count: number;
  /** Every group, the winner first, then in the tie-break order. */
  readonly groups: readonly VoteGroup[];
}

/**
 * How a tie between groups with the same count is broken.
 * - `first`: the group whose first member appears earliest wins.
 * - `lexicographic`: the group whose normalized answer sorts first (by UTF-16 code units, not
 *   locale) wins.
 */
export type TieBreak = "first" | "lexicographic";

/**
 * Majority vote: groups answers by equivalence (`normalizeAnswer` key), ignores nulls and blank
 * answers, and picks the largest group; ties are broken deterministically (`first` by default).
 *
 * @example
 * majorityVote(["1/2", null, "0.5", "3"]).answer // "1/2" (2 votes)
 */
export function majorityVote(
  answers: readonly (string | null)[],
  tieBreak: TieBreak = "first",
): VoteResult {
  if (tieBreak !== "first" && tieBreak !== "lexicographic") {
    throw new ConfigError(
      `Expected \`tieBreak\` to be "first" or "lexicographic", got \`${String(tieBreak)}\``,
    );
  }
  const byKey = new Map<string, { key: string; answer: string; indices: number[] }>();
  answers.forEach((answer, index) => {
    if (answer === null || answer === undefined || answer.trim() === "") return;
    const key = normalizeAnswer(answer);
    const group = byKey.get(key);
    if (group) group.indices.push(index);
    else byKey.set(key, { key, answer: answer.trim(), indices: [index] });
  });
  const ordered = [...byKey.values()].sort((a, b) => {
    if (a.indices.length !== b.indices.length) return b.indices.length - a.indices.length;
    if (tieBreak === "lexicographic" && a.key !== b.key) return a.key < b.key ? -1 : 1;
    return a.indices[0] - b.indices[0];
  });
  const groups = ordered.map(({ answer, indices }) => ({ answer, count: indices.length, indices }));
  return { answer: groups[0]?.answer ?? null, count: groups[0]?.count ?? 0, groups };
}
