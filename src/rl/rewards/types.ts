/**
 * The reward contract: an async function from what a response was given and said to a score in
 * [0, 1] with its named parts. Rewards compose (`combineRewards`, `withPenalties`, `routeReward`)
 * because they all have this one shape.
 */
import type { FinishReason } from "../../spec/backend.js";

/** What a reward scores: one response, and what is known about the problem it answers. */
export interface RewardInput {
  /** The response: the model's whole text (reasoning included where the backend kept it). */
  readonly response: string;
  /** The ground truth: an answer, a choice letter, test cases (JSON), a box or point (JSON). */
  readonly groundTruth?: string;
  /** The problem text, as the model was asked it (judges read it; link checks allow its links). */
  readonly problem?: string;
  /** A teacher's answer, for pairwise preference (GenRM). */
  readonly teacherResponse?: string;
  /** Why generation stopped, when known: `length` means the response was cut off. */
  readonly finishReason?: FinishReason;
  /** Free metadata of the problem, such as `{ ambiguous: true }` or an image size. */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** Aborting stops a reward that calls a model or runs a program. */
  readonly signal?: AbortSignal;
}

/** A reward's verdict. */
export interface RewardResult {
  /** In [0, 1]. */
  readonly score: number;
  /** Named components (each a number), for logging: `{ math: 1, language: 1 }`. */
  readonly parts: Readonly<Record<string, number>>;
  /** One line on why, where the reward has something to say (a penalty that fired). */
  readonly reason?: string;
}

/**
 * A reward function. A penalty has the same shape: its score is a factor (1 = no penalty, 0 =
 * the reward is zeroed) that `withPenalties` multiplies in.
 */
export type Reward = (input: RewardInput) => Promise<RewardResult>;

/** Clamps to [0, 1]; NaN becomes 0. */
export function clampScore(value: number): number {
  if (!Number.isFinite(value)) return value === Number.POSITIVE_INFINITY ? 1 : 0;
  return Math.min(1, Math.max(0, value));
}
