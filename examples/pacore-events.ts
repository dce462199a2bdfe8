/**
 * Run PaCoRe on the simulated backend and print its events as they happen: the rounds, each
 * trajectory's end, and the usage at the end.
 *
 *   node --import tsx examples/pacore-events.ts
 */
import { pacore, Run, simulatedBackend } from "../src/index.js";

const backend = simulatedBackend({ accuracy: 0.5, latencyMs: 5 });
const run = new Run({
  backend,
  strategy: pacore({ k: [6, 3] }),
  problem: "What is (47*8+129)-36*3?",
  options: { seed: 7 },
});

run.on("run-start", ({ plan }) => console.log(`run-start plan [${plan.join(", ")}]`));
run.on("round-start", ({ round, k }) => console.log(`round-start ${round}: ${k} trajectories`));
run.on("trajectory-end", ({ trajectory }) =>
  console.log(
    `  trajectory-end ${trajectory.round}.${trajectory.index}: ${trajectory.usage.completionTokens} tokens, ${trajectory.content.slice(-32)}`,
  ),
);
run.on("round-end", ({ result }) =>
  console.log(`round-end ${result.round}: ${result.messages.length} messages for the next round`),
);
run.on("run-end", ({ result }) =>
  console.log(`run-end: answer ${result.answer}, ${result.effectiveTokens} effective tokens`),
);
await run.start();
