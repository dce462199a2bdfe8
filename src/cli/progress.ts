/** A one-line progress display on stderr, only when stderr is a terminal. */
import type { Run } from "../core/engine.js";

/** Subscribes a progress line to a run's events; returns a function that removes it. */
export function attachProgress(run: Run, stderr: NodeJS.WriteStream): () => void {
  if (!stderr.isTTY) return () => {};
  let round = 0;
  let k = 0;
  let done = 0;
  let failed = 0;
  let tokens = 0;
  const rounds = { total: 0 };
  const draw = () =>
    stderr.write(
      `\r\u001b[2Kround ${round}/${rounds.total} · ${done}/${k} trajectories${failed ? ` (${failed} failed)` : ""} · ${tokens.toLocaleString("en-US")} tokens generated`,
    );
  run.on("run-start", ({ plan }) => {
    rounds.total = plan.length;
  });
  run.on("round-start", (event) => {
    round = event.round;
    k = event.k;
    done = 0;
    failed = 0;
    draw();
  });
  run.on("trajectory-end", ({ trajectory }) => {
    done++;
    if (trajectory.error) failed++;
    tokens += trajectory.usage.completionTokens;
    draw();
  });
  run.on("run-warning", ({ message }) => stderr.write(`\r\u001b[2Kwarning: ${message}\n`));
  return () => stderr.write("\r\u001b[2K");
}
