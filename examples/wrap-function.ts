/**
 * Wrap any async function as a model, then run PaCoRe on it.
 * Here the "model" is a toy that knows arithmetic and sometimes slips; yours would call an API
 * or a local model. In your project: `import { functionBackend, pacore, run } from "pacore";`.
 *
 *   node --import tsx examples/wrap-function.ts
 */
import { createRandom, functionBackend, pacore, run } from "../src/index.js";

const backend = functionBackend(async ({ messages, seed }) => {
  const random = createRandom(seed);
  const last = messages[messages.length - 1];
  const text = typeof last.content === "string" ? last.content : "";
  const isSynthesis = text.includes("Reference 1:");
  // Reading references makes this toy model more careful.
  const slip = random() < (isSynthesis ? 0.1 : 0.5) ? 1 + Math.floor(random() * 3) : 0;
  return `<think>17*23 = 391, plus 5.</think>The answer is ${396 + slip}.`;
});

const result = await run({ backend, strategy: pacore({ k: [8, 2] }), problem: "What is 17*23+5?" });
console.log(`answer ${result.answer} after ${result.calls} trajectories`);
console.log(`round 1 messages: ${result.rounds[0].messages.join(" | ")}`);
