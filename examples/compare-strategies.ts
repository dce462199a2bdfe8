/**
 * Compare two strategies at equal compute: PaCoRe [8, 2] (11 trajectories) against
 * self-consistency with 11 samples, on 40 simulated arithmetic problems. Prints accuracy and the
 * effective tokens each spent.
 *
 *   node --import tsx examples/compare-strategies.ts
 */
import { answersEqual, pacore, run, selfConsistency, simulatedBackend } from "../src/index.js";

const backend = simulatedBackend({ accuracy: 0.4 });
const problems = Array.from({ length: 40 }, (_, i) => {
  const [a, b, c] = [13 + i, 7 + (i % 9), 100 + 3 * i];
  return { text: `What is ${a}*${b}+${c}?`, answer: String(a * b + c) };
});

for (const strategy of [pacore({ k: [8, 2] }), selfConsistency({ n: 11 })]) {
  let correct = 0;
  let tokens = 0;
  for (const [seed, problem] of problems.entries()) {
    const result = await run({ backend, strategy, problem: problem.text, options: { seed } });
    if (result.answer !== null && answersEqual(result.answer, problem.answer)) correct++;
    tokens += result.effectiveTokens;
  }
  console.log(
    `${strategy.name.padEnd(17)} accuracy ${(correct / problems.length).toFixed(2)}  effective tokens/problem ${Math.round(tokens / problems.length)}`,
  );
}
