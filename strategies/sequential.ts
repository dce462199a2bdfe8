/**
 * Sequential refinement: one trajectory per round, each reading the previous one's message, then
 * the final round. The PaCoRe paper's sequential ablation (`K = [1, 1, …]`, arXiv 2601.05593):
 * at equal trajectory counts, parallel rounds beat it.
 */

import { ConfigError } from "../src/common/errors.js";
import { checkPositiveIntegers } from "../src/common/validate.js";
import type { Strategy } from "../src/spec/strategy.js";
import { type PacoreOptions, pacore } from "./pacore.js";

export interface SequentialOptions {
  /** All ones: `[1, 1, 1, 1]` is four refinement rounds before the final one. */
  readonly k: readonly number[];
  readonly template?: PacoreOptions["template"];
}

export function sequential(options: SequentialOptions): Strategy {
  checkPositiveIntegers("k", options.k);
  if (!options.k.every((k) => k === 1)) {
    throw new ConfigError(
      `Expected \`k\` of the sequential strategy to be all ones such as 1,1,1,1, got \`${options.k.join(",")}\` (use --strategy pacore for parallel rounds)`,
    );
  }
  return { ...pacore(options), name: "sequential" };
}
