/**
 * Child process for the `--out` resume test: `runBenchmark` over a data file on the simulated
 * backend with some latency, writing to an output directory; prints the summary as JSON at the
 * end. The parent kills it with SIGKILL mid-way and starts it again.
 */

import { simulatedBackend } from "../../../src/backends/simulated/index.js";
import { runBenchmark } from "../../../src/bench/run.js";
import { loadBenchmark } from "../../../src/tasks/files.js";
import { pacore } from "../../../strategies/pacore.js";

const [data, out, latencyMs] = process.argv.slice(2);
const { problems } = await loadBenchmark({ path: data });
const summary = await runBenchmark({
  backend: simulatedBackend({ latencyMs: Number(latencyMs), accuracy: 0.5 }),
  strategy: pacore({ k: [4] }),
  problems,
  repeats: 2,
  options: { seed: 5, temperature: 1 },
  problemConcurrency: 3,
  out,
});
process.stdout.write(`${JSON.stringify(summary)}\n`);
