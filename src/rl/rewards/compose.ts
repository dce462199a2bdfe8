/**
 * Composition: weighted sums of rewards, penalties that multiply a reward down (a fabricated
 * link zeroes it), and routing by problem kind (the Step3-VL report's bifurcation: verifiable
 * rewards where an answer can be checked, model-based ones where it cannot).
 */
import { ConfigError } from "../../common/errors.js";
import { clampScore, type Reward, type RewardInput, type RewardResult } from "./types.js";

/**
 * The weighted mean of several rewards; parts are merged (later names win).
 *
 * @example
 * const reward = combineRewards([[mathReward(), 0.9], [formatReward, 0.1]]);
 */
export function combineRewards(entries: readonly (readonly [Reward, number])[]): Reward {
  const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
  if (entries.length === 0 || !(total > 0) || entries.some(([, weight]) => !(weight >= 0))) {
    throw new ConfigError(
      `Expected at least one reward with non-negative weights summing above 0, got weights [${entries.map(([, w]) => w).join(", ")}]`,
    );
  }
  return async (input) => {
    const results = await Promise.all(entries.map(([reward]) => reward(input)));
    let score = 0;
    const parts: Record<string, number> = {};
    const reasons: string[] = [];
    results.forEach((result, index) => {
      score += (entries[index][1] / total) * result.score;
      Object.assign(parts, result.parts);
      if (result.reason) reasons.push(result.reason);
    });
    return {
      score: clampScore(score),
      parts,
      ...(reasons.length > 0 && { reason: reasons.join("; ") }),
    };
  };
}

/**
 * A reward multiplied by penalty factors: each penalty scores 1 (nothing wrong) down to 0 (the
 * reward is zeroed). Parts hold the base reward's parts, each penalty's factor, and `base`.
 *
 * @example
 * const reward = withPenalties(mathReward(), [fabricationPenalty(), completenessPenalty()]);
 */
export function withPenalties(base: Reward, penalties: readonly Reward[]): Reward {
  return async (input) => {
    const [main, ...factors] = await Promise.all([base, ...penalties].map((r) => r(input)));
    let score = main.score;
    const parts: Record<string, number> = { ...main.parts, base: main.score };
    const reasons = main.reason ? [main.reason] : [];
    for (const factor of factors) {
      score *= factor.score;
      Object.assign(parts, factor.parts);
      if (factor.reason) reasons.push(factor.reason);
    }
    return {
      score: clampScore(score),
      parts,
      ...(reasons.length > 0 && { reason: reasons.join("; ") }),
    };
  };
}

/**
 * Chooses a reward per input: `select` returns a key of `routes`. The Step3-VL split: problems
 * with a checkable answer go to a verifiable reward, open-ended ones to a judge or GenRM.
 *
 * @example
 * const reward = routeReward({ math: mathReward(), open: genrmReward({ backend }) },
 *   (input) => (input.groundTruth ? "math" : "open"));
 */
export function routeReward<Key extends string>(
  routes: Readonly<Record<Key, Reward>>,
  select: (input: RewardInput) => Key,
): Reward {
  return async (input): Promise<RewardResult> => {
    const key = select(input);
    const reward = routes[key];
    if (reward === undefined) {
      throw new ConfigError(
        `Expected the route to be one of ${Object.keys(routes).join(", ")}, got \`${key}\``,
      );
    }
    return reward(input);
  };
}
