/**
 * PaCoRe: Parallel Coordinated Reasoning (Step-Audio team, "PaCoRe: Learning to Scale Test-Time
 * Compute with Parallel Coordinated Reasoning", arXiv 2601.05593).
 *
 * Round 1 sends the problem K_1 times. Each later round sends the synthesis prompt (problem plus
 * the previous round's compacted messages) K_r times; a final round with one trajectory gives the
 * answer. Paper presets: low `[4]`, medium `[16]`, high `[32, 4]`.
 */

import { checkPositiveIntegers } from "../src/common/validate.js";
import type { ChatMessage } from "../src/spec/backend.js";
import type { Strategy } from "../src/spec/strategy.js";
import { compactTrajectory, lengthSortThenShuffle } from "./compaction.js";
import { problemText, replaceProblemText } from "./conversation.js";
import {
  jinjaTemplate,
  namedTemplate,
  type SynthesisTemplate,
  type TemplateName,
} from "./synthesis-template.js";

export interface PacoreOptions {
  /** Parallel trajectories per round, before the final single one. `[32, 4]` runs 32 + 4 + 1. */
  readonly k: readonly number[];
  /**
   * `default` (pacore's wording), `paper` (the PaCoRe-8B training input, byte for byte), a
   * `{ jinja: source }` template, or a function.
   */
  readonly template?: TemplateName | { readonly jinja: string } | SynthesisTemplate;
}

/** The paper's presets. */
export const PACORE_PRESETS = { low: [4], medium: [16], high: [32, 4] } as const;

function resolveTemplate(template: PacoreOptions["template"]): SynthesisTemplate {
  if (template === undefined) return namedTemplate("default");
  if (typeof template === "function") return template;
  if (typeof template === "string") return namedTemplate(template);
  return jinjaTemplate(template.jinja);
}

/**
 * The PaCoRe strategy.
 *
 * @example
 * ```ts
 * const result = await run({ backend, strategy: pacore({ k: [16, 4] }), problem });
 * ```
 */
export function pacore(options: PacoreOptions): Strategy {
  checkPositiveIntegers("k", options.k);
  const render = resolveTemplate(options.template);
  return {
    name: "pacore",
    plan: [...options.k, 1],
    prompt({ problem, round, messages }): readonly ChatMessage[] {
      if (round === 1) return problem;
      return replaceProblemText(problem, render(problemText(problem), messages));
    },
    compact: compactTrajectory,
    order: lengthSortThenShuffle,
  };
}
