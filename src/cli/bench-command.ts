/**
 * `pacore bench --task arith`: a strategy over a task's problems, concurrently, with accuracy
 * and token accounting. One JSON object with `--json`.
 */
import { z } from "zod";
import { AbortError } from "../common/errors.js";
import { type ArithProblem, DEFAULT_ARITH_DIFFICULTY, generateArith } from "../tasks/arith.js";
import { createBackend } from "./backends.js";
import { type ProblemOutcome, runBenchmark } from "./benchmark.js";
import { ENGINE_FLAGS, EngineFlagsShape, runOptionsOf } from "./engine-flags.js";
import { type FlagTable, parseCommand, parseNumber } from "./flags.js";
import type { CommandIo } from "./run-command.js";
import { createStrategy } from "./strategies.js";

export const TASK_NAMES = ["arith"] as const;

export const BenchCommandSchema = z
  .object({
    task: z.enum(TASK_NAMES).default("arith"),
    limit: z.number().int().positive().default(100),
    split: z.enum(["heldout", "train", "all"]).default("heldout"),
    difficulty: z.number().int().positive().default(DEFAULT_ARITH_DIFFICULTY),
    problemConcurrency: z.number().int().positive().default(32),
    ...EngineFlagsShape,
    json: z.boolean().default(false),
  })
  .strict();

export type BenchCommand = z.output<typeof BenchCommandSchema>;

const number = { type: "string", value: "N", parse: parseNumber } as const;

export const BENCH_FLAGS: FlagTable<keyof BenchCommand> = {
  task: { type: "string", value: "NAME", description: `Task family: ${TASK_NAMES.join(" | ")}` },
  limit: { ...number, description: "Problems to run (default 100)" },
  split: {
    type: "string",
    value: "NAME",
    description: "heldout (default: never trained on) | train | all",
  },
  difficulty: {
    ...number,
    description: `arith difficulty level (default ${DEFAULT_ARITH_DIFFICULTY})`,
  },
  problemConcurrency: { ...number, description: "Problems in flight at once (default 32)" },
  ...ENGINE_FLAGS,
  json: { type: "boolean", description: "Print one JSON object on stdout" },
};

/** Runs `pacore bench`; resolves with the exit code. */
export async function benchCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const command = parseCommand(argv, BenchCommandSchema, BENCH_FLAGS);
  const problems: ArithProblem[] = generateArith({
    seed: command.seed,
    count: command.limit,
    split: command.split,
    difficulty: command.difficulty,
  });
  const strategy = await createStrategy(command);
  const backend = await createBackend(command);
  const started = performance.now();
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) =>
    controller.abort(new AbortError(`Interrupted (${signal}); the benchmark was stopped`));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const report = {
      task: command.task,
      split: command.split,
      difficulty: command.difficulty,
      seed: command.seed,
      k: command.k ?? null,
      temperature: command.temperature ?? null,
      ...(await runBenchmark({
        backend,
        strategy,
        problems,
        options: runOptionsOf(command),
        problemConcurrency: command.problemConcurrency,
        signal: controller.signal,
        onProgress: io.stderr.isTTY
          ? (done, correct) =>
              io.stderr.write(
                `\r\u001b[2K${done}/${problems.length} problems · accuracy ${(correct / Math.max(1, done)).toFixed(3)}`,
              )
          : undefined,
      })),
      elapsedMs: Math.round(performance.now() - started),
    };
    if (io.stderr.isTTY) io.stderr.write("\r\u001b[2K");
    const n = report.n;
    if (command.json) {
      io.stdout.write(`${JSON.stringify(report)}\n`);
    } else {
      io.stdout.write(
        `${report.strategy} [${report.plan.join(",")}] on ${report.task} (${n} ${report.split} problems, ${report.backend}/${report.model}): accuracy ${report.accuracy.toFixed(3)} · ${Math.round(report.effectiveTokensPerProblem)} effective tokens/problem · ${(report.elapsedMs / 1000).toFixed(1)} s${report.failed ? ` · ${report.failed} failed` : ""}\n`,
      );
    }
    return reportFailures(report.problems, io);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await backend.close?.();
  }
}

/**
 * Failed problems count as wrong; their reasons must not vanish. Exit 1 when every problem
 * failed (nothing was measured), with the first reason; else a warning line when some did.
 */
export function reportFailures(problems: readonly ProblemOutcome[], io: CommandIo): number {
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
