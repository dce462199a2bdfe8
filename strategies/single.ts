/** Single pass: one trajectory, its text is the answer. The baseline every curve starts from. */
import type { Strategy } from "../src/spec/strategy.js";
import { compactTrajectory } from "./compaction.js";

export function single(): Strategy {
  return {
    name: "single",
    plan: [1],
    prompt: ({ problem }) => problem,
    compact: compactTrajectory,
  };
}
