/**
 * Rewards: verifiable (math, numeric, choice, code, perception), model-based (judge, GenRM),
 * behavioural penalties, and the combinators that compose them. `namedReward` builds one from
 * names, as the CLI and the reward server do.
 */
import { ConfigError } from "../../common/errors.js";
import type { ModelBackend } from "../../spec/backend.js";
import { codeReward } from "./code.js";
import { withPenalties } from "./compose.js";
import { genrmReward, judgeReward } from "./model-based.js";
import {
  completenessPenalty,
  fabricationPenalty,
  languagePenalty,
  overconfidencePenalty,
} from "./penalties.js";
import { boxIoUReward, pointReward } from "./perception.js";
import type { Reward } from "./types.js";
import { choiceReward, mathReward, numericReward } from "./verifiable.js";

export * from "./code.js";
export * from "./compose.js";
export * from "./model-based.js";
export * from "./penalties.js";
export * from "./perception.js";
export * from "./types.js";
export * from "./verifiable.js";

export const REWARD_NAMES = [
  "math",
  "numeric",
  "choice",
  "code",
  "box-iou",
  "point",
  "judge",
  "genrm",
] as const;
export type RewardName = (typeof REWARD_NAMES)[number];

export const PENALTY_NAMES = ["language", "fabrication", "overconfidence", "completeness"] as const;
export type PenaltyName = (typeof PENALTY_NAMES)[number];

/** What `namedReward` needs beyond the names. */
export interface NamedRewardOptions {
  /** The judging model, for `judge` and `genrm`. */
  readonly judgeBackend?: ModelBackend;
  /** A Jinja template for the judge or GenRM prompt. */
  readonly judgeTemplate?: string;
  /** Allowed links for the fabrication penalty. */
  readonly allowLinks?: readonly string[];
  /** Code reward limits. */
  readonly codeTimeoutMs?: number;
  readonly codeMemoryMb?: number;
  readonly codeNetwork?: "cut" | "allow";
  /** Relative tolerance of the numeric reward. */
  readonly tolerance?: number;
}

/**
 * A reward by name with penalties multiplied in.
 *
 * @example
 * const reward = namedReward("math", ["completeness", "fabrication"]);
 */
export function namedReward(
  name: RewardName,
  penalties: readonly PenaltyName[] = [],
  options: NamedRewardOptions = {},
): Reward {
  const needJudge = (): ModelBackend => {
    if (!options.judgeBackend) {
      throw new ConfigError(
        `The \`${name}\` reward needs a judge model: pass --backend and --model (any backend) for it`,
      );
    }
    return options.judgeBackend;
  };
  const judge = () => ({
    backend: needJudge(),
    ...(options.judgeTemplate !== undefined && { template: options.judgeTemplate }),
  });
  const base: Reward = (() => {
    switch (name) {
      case "math":
        return mathReward(options.tolerance !== undefined ? { tolerance: options.tolerance } : {});
      case "numeric":
        return numericReward(
          options.tolerance !== undefined ? { relative: options.tolerance } : {},
        );
      case "choice":
        return choiceReward();
      case "code":
        return codeReward({
          ...(options.codeTimeoutMs !== undefined && { timeoutMs: options.codeTimeoutMs }),
          ...(options.codeMemoryMb !== undefined && { memoryMb: options.codeMemoryMb }),
          ...(options.codeNetwork !== undefined && { network: options.codeNetwork }),
        });
      case "box-iou":
        return boxIoUReward();
      case "point":
        return pointReward();
      case "judge":
        return judgeReward(judge());
      case "genrm":
        return genrmReward(judge());
      default:
        throw new ConfigError(
          `Expected a reward among ${REWARD_NAMES.join(", ")}, got \`${String(name)}\``,
        );
    }
  })();
  if (penalties.length === 0) return base;
  return withPenalties(
    base,
    penalties.map((penalty) => {
      switch (penalty) {
        case "language":
          return languagePenalty();
        case "fabrication":
          return fabricationPenalty({ allow: options.allowLinks ?? [] });
        case "overconfidence":
          return overconfidencePenalty();
        case "completeness":
          return completenessPenalty();
        default:
          throw new ConfigError(
            `Expected a penalty among ${PENALTY_NAMES.join(", ")}, got \`${String(penalty)}\``,
          );
      }
    }),
  );
}
