/**
 * The strategy contract: pure planning over spec types. A strategy says how many trajectories
 * each round has, what each round sends, how a trajectory becomes a message, and which text is
 * the answer. The engine does everything else (concurrency, retries, budgets, events).
 */
import type { ChatMessage } from "./backend.js";
import type { RoundResult, Trajectory } from "./run.js";

/** What a strategy sees when it builds a round's prompt. */
export interface RoundInput {
  /** The conversation as given; its last user turn is the problem (text and images). */
  readonly problem: readonly ChatMessage[];
  /** 1-based round number. */
  readonly round: number;
  /**
   * Messages this round is to read, already cut to the context budget (empty in round 1).
   * Order matters: the strategy's `order` has already been applied.
   */
  readonly messages: readonly string[];
}

/** What a strategy sees when it picks the run's answer. */
export interface SelectionInput {
  readonly problem: readonly ChatMessage[];
  readonly rounds: readonly RoundResult[];
}

/** The strategy's pick: the final text, and optionally its extracted answer. */
export interface Selection {
  readonly content: string;
  /** The extracted answer; `undefined` lets the engine extract it from `content`. */
  readonly answer?: string | null;
}

/**
 * A test-time scaling strategy. Plain data plus pure functions; see `strategies/` for examples.
 */
export interface Strategy {
  /** Name used in results, logs and the CLI's `--strategy`. */
  readonly name: string;
  /** Trajectories per round, final round included (PaCoRe `[32, 4]` → `[32, 4, 1]`). */
  readonly plan: readonly number[];
  /**
   * The prompt of one round, from the problem and the messages it reads. Called once per round
   * with all messages, and by the budget planner with empty messages to measure the overhead.
   */
  prompt(input: RoundInput): readonly ChatMessage[];
  /**
   * Which of the previous round's messages trajectory `index` of round `round` reads (indices into
   * the ordered list). Omit when every trajectory of a round reads all of them (PaCoRe). `random`
   * is seeded by the run's seed, the problem, the round and the index.
   */
  references?(
    round: number,
    index: number,
    messageCount: number,
    random: () => number,
  ): readonly number[];
  /** Turns a finished trajectory into its message for the next round; `null` drops it. */
  compact(trajectory: Trajectory): string | null;
  /**
   * Orders a round's messages before the next round reads them. `random` is seeded by the run's
   * seed, the problem and the round, so the order is deterministic.
   */
  order?(messages: readonly string[], random: () => number): string[];
  /**
   * Picks the run's final text (default: the first successful trajectory of the last round). May
   * be async, for a verifier or reward model.
   */
  select?(input: SelectionInput): Selection | Promise<Selection>;
}
