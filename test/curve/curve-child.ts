/**
 * Child process for the curve resume test: a sweep over a slow simulated backend that writes its
 * files after each point and prints one line per trajectory the backend generated, so that the
 * parent can kill -9 it mid-sweep. Ends with one JSON line of the sweep's totals.
 */
import { join } from "node:path";
import { simulatedBackend } from "../../src/backends/simulated/index.js";
import { writeCurveFiles } from "../../src/cli/curve-command.js";
import { createStrategy } from "../../src/cli/strategies.js";
import { parseGrid } from "../../src/curve/grid.js";
import { runCurve } from "../../src/curve/sweep.js";
import type { ModelBackend } from "../../src/spec/backend.js";
import { arithBenchmark } from "../../src/tasks/problem.js";

const [out] = process.argv.slice(2);
const inner = simulatedBackend({ accuracy: 0.5, latencyMs: 4, maxSamplesPerCall: 4 });
const backend: ModelBackend = {
  ...inner,
  generate: async (request) => {
    const result = await inner.generate(request);
    for (let i = 0; i < result.completions.length; i++) console.log("generated");
    return result;
  },
};
const problems = arithBenchmark({ seed: 3, count: 12, difficulty: 3 });
const { sweep } = await runCurve({
  backend,
  points: parseGrid("single;self-consistency:4,8;pacore:4;pacore:8,2;sequential:3"),
  strategyOf: (point) => createStrategy({ ...point, template: "default" }),
  problems,
  task: "arith",
  options: { seed: 5, temperature: 1, concurrency: 4 },
  repeats: 2,
  problemConcurrency: 3,
  cachePath: join(out, "cache.jsonl"),
  onPoint: (rows, totals) => writeCurveFiles(out, rows, totals),
});
console.log(JSON.stringify(sweep));
