/**
 * Child process for the resume test: runs pacore [8, 4] with a run log on a slow scripted
 * backend and prints one line per finished trajectory, so the parent can kill -9 it mid-run.
 */
import { run } from "../../src/core/engine.js";
import { pacore } from "../../strategies/pacore.js";
import { scriptedBackend } from "./scripted-backend.js";

const [log] = process.argv.slice(2);
await run(
  {
    backend: scriptedBackend({ latencyMs: (call) => 5 + (call % 4) * 10 }),
    strategy: pacore({ k: [8, 4] }),
    problem: "What is 17*23+5?",
    options: { seed: 3, concurrency: 4 },
    log,
  },
  {
    "trajectory-end": ({ trajectory }) =>
      console.log(`end ${trajectory.round} ${trajectory.index}`),
  },
);
