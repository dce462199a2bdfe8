/**
 * `pacore bench`: a strategy over a task's problems (`--task arith`) or a benchmark file
 * (`--data FILE`: JSONL, JSON, CSV, Parquet), each run `--repeats` times, with accuracy, pass@k,
 * maj@k, tokens and per-round statistics; `--out DIR` keeps everything and makes it resumable.
 * One JSON object with `--json`.
 */
import { z } from "zod";
import { type BenchmarkSummary, type ProblemRun, runBenchmark } from "../bench/run.js";
import { AbortError } from "../common/errors.js";
import { createBackend } from "./backends.js";
import { ENGINE_FLAGS, EngineFlagsShape, runOptionsOf } from "./engine-flags.js";
import { type FlagTable, parseCommand, parseNumber } from "./flags.js";
import { loadProblems, PROBLEM_SOURCE_FLAGS, ProblemSourceShape } from "./problem-flags.js";
import { benchmarkProgressBar } from "./progress.js";
import type { CommandIo } from "./run-command.js";
import { createStrategy } from "./strategies.js";

export const BenchCommandSchema = z
  .object({
    ...ProblemSourceShape,
    repeats: z.number().int().positive().default(1),
    out: z.string().min(1).optional(),
    problemConcurrency: z.number().int().positive().default(32),
    ...EngineFlagsShape,
    json: z.boolean().default(false),
  })
  .strict();

export type BenchCommand = z.output<typeof BenchCommandSchema>;

const number = { type: "string", value: "N", parse: parseNumber } as const;

export const BENCH_FLAGS: FlagTable<keyof BenchCommand> = {
  ...PROBLEM_SOURCE_FLAGS,
  repeats: {
    ...number,
    description: "Independent runs per problem (default 1); pass@k, maj@k, mean@k for k ≤ N",
  },
  out: {
    type: "string",
    value: "DIR",
    description:
      "Write config.json, problems.jsonl, logs/ and summary.json; rerun to resume what is missing",
  },
  problemConcurrency: { ...number, description: "Problem runs in flight at once (default 32)" },
  ...ENGINE_FLAGS,
  json: { type: "boolean", description: "Print one JSON object on stdout" },
};

/** Runs `pacore bench`; resolves with the exit code. */
export async function benchCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const command = parseCommand(argv, BenchCommandSchema, BENCH_FLAGS);
  const loadStarted = performance.now();
  const { problems, source } = await loadProblems(command);
  const loadMs = Math.round(performance.now() - loadStarted);
  const strategy = await createStrategy(command);
  const backend = await createBackend(command);
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) =>
    controller.abort(new AbortError(`Interrupted (${signal}); the benchmark was stopped`));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const progress = benchmarkProgressBar(io.stderr);
  try {
    const summary = await runBenchmark({
      backend,
      strategy,
      problems,
      options: runOptionsOf(command),
      repeats: command.repeats,
      problemConcurrency: command.problemConcurrency,
      ...(command.out !== undefined && { out: command.out }),
      config: { source },
      signal: controller.signal,
      onProgress: progress.update,
    });
    progress.stop();
    const report = {
      ...source,
      k: command.k ?? null,
      temperature: command.temperature ?? null,
      loadMs,
      ...summary,
    };
    io.stdout.write(command.json ? `${JSON.stringify(report)}\n` : describeSummary(report));
    return reportFailures(summary.problems, io);
  } finally {
    progress.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await backend.close?.();
  }
}

const fixed = (value: number | null, digits = 3) => (value === null ? "–" : value.toFixed(digits));
const count = (value: number | null) =>
  value === null ? "–" : Math.round(value).toLocaleString("en-US");

/** The summary as a few human lines. */
export function describeSummary(
  report: BenchmarkSummary & { data?: unknown; task?: unknown; split?: unknown },
): string {
  const what =
    report.data !== undefined
      ? `${String(report.data)}`
      : `${String(report.task)} (${String(report.split)})`;
  const lines = [
    `${report.strategy} [${report.plan.join(",")}] on ${what}: ${report.n} problems × ${report.repeats} repeats, ${report.backend}/${report.model}`,
    `accuracy ${fixed(report.accuracy)} ± ${fixed(report.accuracyStandardError)} (SE across problems${report.repeats > 1 ? `; ± ${fixed(report.accuracyStandardErrorOverRepeats)} across repeats` : ""}) · answered ${fixed(report.answeredRate)}${report.failed ? ` · ${report.failed} failed` : ""}`,
  ];
  if (report.repeats > 1) {
    const row = (name: string, values: Readonly<Record<string, number>>) =>
      `${name} ${Object.entries(values)
        .map(([k, value]) => `@${k} ${fixed(value)}`)
        .join("  ")}`;
    lines.push(
      `${row("pass", report.passAtK)} · ${row("maj", report.majAtK)} · ${row("mean", report.meanAtK)}`,
    );
  }
  const { prompt, completion, effective } = report.tokens;
  lines.push(
    `tokens/problem (mean; quartiles): effective ${count(effective.mean)} (${count(effective.q1)}/${count(effective.median)}/${count(effective.q3)}) · completion ${count(completion.mean)} · prompt ${count(prompt.mean)}`,
  );
  if (report.rounds.length > 1) {
    lines.push(
      `rounds: ${report.rounds.map((round) => `${round.round}: accuracy ${fixed(round.accuracy)}, agreement ${fixed(round.agreement)}`).join(" · ")}`,
    );
  }
  lines.push(
    `${(report.elapsedMs / 1000).toFixed(1)} s · ${report.timing.completionTokensPerSecond.toLocaleString("en-US")} tokens/s · ${report.work.calls} trajectories generated${report.work.reused ? `, ${report.work.reused} problem runs reused` : ""}${report.work.resumed ? `, ${report.work.resumed} trajectories resumed` : ""}`,
  );
  return `${lines.join("\n")}\n`;
}

/**
 * Failed problem runs count as wrong; their reasons must not vanish. Exit 1 when every run
 * failed (nothing was measured), with the first reason; else a warning line when some did.
 */
export function reportFailures(problems: readonly ProblemRun[], io: CommandIo): number {
  const failed = problems.filter((problem) => problem.error !== undefined);
  if (failed.length === 0) return 0;
  const first = failed[0];
  const reason = `the first (${first.id}): ${first.errorCode}: ${first.error}`;
  if (failed.length === problems.length) {
    io.stderr.write(`pacore: all ${problems.length} problems failed; ${reason}\n`);
    return 1;
  }
  io.stderr.write(`warning: ${failed.length} of ${problems.length} problems failed; ${reason}\n`);
  return 0;
}
