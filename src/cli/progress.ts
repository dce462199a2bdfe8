/** Progress displays on stderr, only when stderr is a terminal. */
import cliProgress from "cli-progress";
import type { BenchmarkProgress } from "../bench/run.js";
import type { Run } from "../core/engine.js";

const { SingleBar, Presets } = cliProgress;

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

/**
 * A progress bar for `pacore bench` (cli-progress) on stderr, only when it is a terminal: problem
 * runs done, accuracy so far, tokens generated per second and the ETA. Returns `update` (the
 * benchmark's `onProgress`) and `stop`, which clears the bar.
 */
export function benchmarkProgressBar(stderr: NodeJS.WriteStream): {
  update: (state: BenchmarkProgress) => void;
  stop: () => void;
} {
  if (!stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new SingleBar(
    {
      stream: stderr,
      format:
        "{bar} {value}/{total} runs · accuracy {accuracy} · {tokensPerSecond} tokens/s · ETA {etaText}",
      barsize: 24,
      hideCursor: false,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    Presets.shades_classic,
  );
  let started = false;
  return {
    update(state) {
      const payload = {
        accuracy: (state.correct / Math.max(1, state.done)).toFixed(3),
        tokensPerSecond:
          state.elapsedMs > 0
            ? Math.round((state.completionTokens / state.elapsedMs) * 1000).toLocaleString("en-US")
            : "0",
        etaText: etaText(state),
      };
      if (!started) {
        bar.start(state.total, state.done, payload);
        started = true;
      } else {
        bar.update(state.done, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** The time left, from the pace of the runs this invocation made (reused ones took no time). */
function etaText(state: BenchmarkProgress): string {
  const ran = state.done - state.reused;
  if (ran <= 0) return "…";
  const seconds = Math.round(((state.elapsedMs / ran) * (state.total - state.done)) / 1000);
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600)
    return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`;
}
