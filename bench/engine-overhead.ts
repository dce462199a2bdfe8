/**
 * Engine overhead: how fast the scheduler itself is, with no model cost in the way.
 *
 *   node --import tsx bench/engine-overhead.ts [--trajectories 200000] [--latency 50]
 *
 * 1. Throughput with a zero-latency backend: trajectories scheduled per second through full
 *    PaCoRe runs ([32, 4] → 37 trajectories each, many runs at once), without and with a run log.
 *    Target: ≥ 50,000 trajectories/s without the log.
 * 2. Critical path: one [32, 4] run over a backend with a fixed latency per call; the critical
 *    path is 3 rounds × latency. Target: wall time ≤ 1.05 × critical path.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { run } from "../src/core/engine.js";
import type { ModelBackend } from "../src/spec/backend.js";
import { pacore } from "../strategies/pacore.js";

const { values } = parseArgs({
  options: {
    trajectories: { type: "string", default: "200000" },
    latency: { type: "string", default: "50" },
    repeats: { type: "string", default: "3" },
  },
});
const TARGET_TRAJECTORIES = Number(values.trajectories);
const LATENCY_MS = Number(values.latency);
const REPEATS = Number(values.repeats);
const PLAN = [32, 4];
const PER_RUN = 37;

/** A backend that answers at once (or after a fixed delay) with a short reasoning text. */
function instantBackend(latencyMs = 0): ModelBackend {
  const usage = { promptTokens: 20, completionTokens: 12, cachedTokens: 0 };
  return {
    specificationVersion: "v1",
    provider: "bench",
    model: "instant",
    maxSamplesPerCall: 1,
    async generate(request) {
      if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      const seed = request.seeds?.[0] ?? 0;
      return {
        completions: [
          { content: `The answer is ${seed % 10}.`, reasoning: "…", finishReason: "stop", usage },
        ],
      };
    },
    async contextWindow() {
      return 32_768;
    },
  };
}

async function throughput(withLog: boolean): Promise<number> {
  const backend = instantBackend();
  const runs = Math.ceil(TARGET_TRAJECTORIES / PER_RUN);
  const dir = withLog ? mkdtempSync(join(tmpdir(), "pacore-bench-")) : undefined;
  const parallel = 64;
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < runs) {
        const id = next++;
        await run({
          backend,
          strategy: pacore({ k: PLAN }),
          problem: `What is ${id}*3+1?`,
          options: { seed: id },
          ...(dir && { log: join(dir, `${id}.jsonl`) }),
        });
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  if (dir) rmSync(dir, { recursive: true, force: true });
  return (runs * PER_RUN) / seconds;
}

async function criticalPath(): Promise<number> {
  const backend = instantBackend(LATENCY_MS);
  const started = performance.now();
  await run({ backend, strategy: pacore({ k: PLAN }), problem: "What is 17*23+5?" });
  return (performance.now() - started) / (LATENCY_MS * (PLAN.length + 1));
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const format = (x: number) => Math.round(x).toLocaleString("en-US");

await throughput(false); // warm-up: JIT, module loading
const without: number[] = [];
const withLog: number[] = [];
const ratios: number[] = [];
for (let i = 0; i < REPEATS; i++) {
  without.push(await throughput(false));
  withLog.push(await throughput(true));
  ratios.push(await criticalPath());
}
console.log(`engine-overhead (node ${process.version}, plan [${PLAN}], median of ${REPEATS})`);
console.log(
  `  throughput, no log:   ${format(median(without))} trajectories/s (target ≥ 50,000) ${median(without) >= 50_000 ? "OK" : "BELOW TARGET"}`,
);
console.log(
  `  throughput, run log:  ${format(median(withLog))} trajectories/s (${(median(withLog) / median(without)).toFixed(2)}× of no log)`,
);
console.log(
  `  [32,4] at ${LATENCY_MS} ms/call: wall / critical path = ${median(ratios).toFixed(3)}× (target ≤ 1.05) ${median(ratios) <= 1.05 ? "OK" : "ABOVE TARGET"}`,
);
