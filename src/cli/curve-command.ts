/**
 * `pacore curve`: accuracy against effective tokens for a grid of strategies on one set of
 * problems. Writes `curve.csv`, `curve.jsonl`, `curve.md` and `curve.svg` at the top of `--out`,
 * after every point; the trajectories go to `--out`'s `cache.jsonl`, so a curve that is killed
 * and started again generates only what it lacks, and points share the trajectories they have in
 * common (one seed: self-consistency@16 is a prefix of @64).
 */
import { mkdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { z } from "zod";
import { AbortError, ConfigError } from "../common/errors.js";
import { curveSvg } from "../curve/chart.js";
import { DEFAULT_GRID, type GridPoint, parseGrid } from "../curve/grid.js";
import { curveCsv, curveJsonl, curveMarkdown, describeSaving } from "../curve/report.js";
import { type CurveRow, runCurve, type SweepTotals } from "../curve/sweep.js";
import { DEFAULT_ARITH_DIFFICULTY } from "../tasks/arith.js";
import { loadBenchmark } from "../tasks/files.js";
import { arithBenchmark, type BenchmarkProblem } from "../tasks/problem.js";
import { createBackend } from "./backends.js";
import { TASK_NAMES } from "./bench-command.js";
import { ENGINE_FLAGS, EngineFlagsShape, runOptionsOf } from "./engine-flags.js";
import { type FlagTable, flagName, parseCommand, parseNumber } from "./flags.js";
import type { CommandIo } from "./run-command.js";
import { createStrategy } from "./strategies.js";

// The grid names the strategies and their numbers: the single-strategy flags do not apply.
const {
  strategy: _strategy,
  k: _k,
  population: _p,
  subset: _s,
  steps: _t,
  ...CurveEngineShape
} = EngineFlagsShape;
const {
  strategy: _strategyFlag,
  k: _kFlag,
  population: _pFlag,
  subset: _sFlag,
  steps: _tFlag,
  ...CURVE_ENGINE_FLAGS
} = ENGINE_FLAGS;

export const CurveCommandSchema = z
  .object({
    grid: z.string().default(DEFAULT_GRID),
    task: z.enum(TASK_NAMES).optional(),
    data: z.string().min(1).optional(),
    fieldProblem: z.string().min(1).optional(),
    fieldAnswer: z.string().min(1).optional(),
    fieldId: z.string().min(1).optional(),
    limit: z.number().int().positive().optional(),
    offset: z.number().int().nonnegative().default(0),
    ids: z.array(z.string().min(1)).min(1).optional(),
    split: z.enum(["heldout", "train", "all"]).default("heldout"),
    difficulty: z.number().int().positive().default(DEFAULT_ARITH_DIFFICULTY),
    repeats: z.number().int().positive().default(1),
    out: z.string().min(1).default("pacore-curve"),
    problemConcurrency: z.number().int().positive().default(32),
    ...CurveEngineShape,
  })
  .strict();

export type CurveCommand = z.output<typeof CurveCommandSchema>;

const number = { type: "string", value: "N", parse: parseNumber } as const;

export const CURVE_FLAGS: FlagTable<keyof CurveCommand> = {
  grid: {
    type: "string",
    value: "GRID",
    description: `Points, \`;\`-separated (default "${DEFAULT_GRID}")`,
  },
  task: {
    type: "string",
    value: "NAME",
    description: `Task family: ${TASK_NAMES.join(" | ")} (default arith, unless --data)`,
  },
  data: {
    type: "string",
    value: "FILE",
    description:
      "Benchmark file: .jsonl, .json, .csv or .parquet (the shapes `pacore bench --data` reads)",
  },
  fieldProblem: {
    type: "string",
    value: "NAME",
    description: "--data: column holding the problem (text, or a chat list)",
  },
  fieldAnswer: { type: "string", value: "NAME", description: "--data: column holding the answer" },
  fieldId: { type: "string", value: "NAME", description: "--data: column holding a unique id" },
  limit: { ...number, description: "Problems (default: arith 100, --data all)" },
  offset: { ...number, description: "Problems to skip first (default 0)" },
  ids: {
    type: "string",
    value: "a,b,c",
    parse: (text) => text.split(",").map((id) => id.trim()),
    description: "--data: only the problems with these ids",
  },
  split: {
    type: "string",
    value: "NAME",
    description: "arith: heldout (default: never trained on) | train | all",
  },
  difficulty: {
    ...number,
    description: `arith difficulty level (default ${DEFAULT_ARITH_DIFFICULTY})`,
  },
  repeats: { ...number, description: "Independent runs per problem and point (default 1)" },
  out: {
    type: "string",
    value: "DIR",
    description:
      "Folder for curve.csv/.jsonl/.md/.svg and the trajectory cache; run again to resume (default pacore-curve)",
  },
  problemConcurrency: { ...number, description: "Problems in flight at once (default 32)" },
  ...CURVE_ENGINE_FLAGS,
};

/** Writes a file whole or not at all (a kill mid-write leaves the previous version). */
function writeAtomically(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** Writes the four curve files into `out`. */
export async function writeCurveFiles(
  out: string,
  rows: readonly CurveRow[],
  sweep: SweepTotals,
): Promise<void> {
  writeAtomically(join(out, "curve.csv"), curveCsv(rows));
  writeAtomically(join(out, "curve.jsonl"), curveJsonl(rows));
  writeAtomically(join(out, "curve.md"), curveMarkdown(rows, sweep));
  writeAtomically(join(out, "curve.svg"), await curveSvg(rows));
}

function prepareOut(out: string): void {
  if (statSync(out, { throwIfNoEntry: false })?.isFile()) {
    throw new ConfigError(`\`--out ${out}\` is a file; pass a folder for the curve's files`);
  }
  try {
    mkdirSync(out, { recursive: true });
  } catch (error) {
    throw new ConfigError(
      `\`--out ${out}\` cannot be made (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); pass another folder`,
      { cause: error },
    );
  }
}

/** The problems `--task` or `--data` names (as `pacore bench` reads them), and their name. */
async function problemsOf(
  command: CurveCommand,
): Promise<{ problems: BenchmarkProblem[]; task: string }> {
  if (command.data !== undefined) {
    if (command.task !== undefined) {
      throw new ConfigError(
        `Expected either \`--task\` or \`--data\`, got both (\`--task ${command.task}\`, \`--data ${command.data}\`). Fix: drop one`,
      );
    }
    const loaded = await loadBenchmark({
      path: command.data,
      fields: {
        ...(command.fieldProblem !== undefined && { problem: command.fieldProblem }),
        ...(command.fieldAnswer !== undefined && { answer: command.fieldAnswer }),
        ...(command.fieldId !== undefined && { id: command.fieldId }),
      },
      seed: command.seed,
      offset: command.offset,
      ...(command.limit !== undefined && { limit: command.limit }),
      ...(command.ids !== undefined && { ids: command.ids }),
    });
    return { problems: loaded.problems, task: basename(command.data) };
  }
  for (const flag of ["fieldProblem", "fieldAnswer", "fieldId", "ids"] as const) {
    if (command[flag] !== undefined) {
      throw new ConfigError(
        `\`--${flagName(flag)}\` is for \`--data FILE\`; the arith task has no such field. Fix: drop it or give --data`,
      );
    }
  }
  const problems = arithBenchmark({
    seed: command.seed,
    count: command.offset + (command.limit ?? 100),
    split: command.split,
    difficulty: command.difficulty,
  }).slice(command.offset);
  return { problems, task: command.task ?? "arith" };
}

/** Runs `pacore curve`; resolves with the exit code. */
export async function curveCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const command = parseCommand(argv, CurveCommandSchema, CURVE_FLAGS);
  const points = parseGrid(command.grid);
  const strategyOf = (point: GridPoint) =>
    createStrategy({
      strategy: point.strategy,
      template: command.template,
      ...(point.k !== undefined && { k: point.k }),
      ...(point.population !== undefined && { population: point.population }),
      ...(point.subset !== undefined && { subset: point.subset }),
      ...(point.steps !== undefined && { steps: point.steps }),
      ...(point.strategy === "best-of-n" &&
        command.verifier !== undefined && { verifier: command.verifier }),
    });
  if (command.verifier !== undefined && !points.some((point) => point.strategy === "best-of-n")) {
    throw new ConfigError("`--verifier` is for best-of-n points, and the grid has none");
  }
  for (const point of points) await strategyOf(point); // a bad point exits 2 before loading
  const { problems, task } = await problemsOf(command);
  prepareOut(command.out);
  const backend = await createBackend(command);
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) =>
    controller.abort(new AbortError(`Interrupted (${signal}); the curve was stopped`));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const tty = io.stderr.isTTY === true;
  try {
    const { rows, sweep } = await runCurve({
      backend,
      points,
      strategyOf,
      problems,
      task,
      options: runOptionsOf({ ...command, strategy: "pacore" }),
      repeats: command.repeats,
      problemConcurrency: command.problemConcurrency,
      cachePath: join(command.out, "cache.jsonl"),
      signal: controller.signal,
      onProgress: tty
        ? ({ point, index, done, total }) =>
            io.stderr.write(
              `\r\u001b[2K${point.label} (${index + 1}/${points.length}) · ${done}/${total} problems`,
            )
        : undefined,
      onPoint: async (rows, sweep) => {
        if (tty) io.stderr.write("\r\u001b[2K");
        const row = rows[rows.length - 1];
        io.stdout.write(
          `${row.point.padEnd(22)} [${row.plan.join(",")}]`.padEnd(36) +
            ` accuracy ${row.accuracy.toFixed(3)} ± ${row.standardError.toFixed(3)} · ${Math.round(row.effectiveTokens).toLocaleString("en-US")} effective tokens/problem · ${row.trajectories} trajectories, ${row.calls} new, ${row.generated} generated now · ${row.wallSeconds.toFixed(1)} s${row.failed ? ` · ${row.failed} failed` : ""}\n`,
        );
        await writeCurveFiles(command.out, rows, sweep);
      },
    });
    io.stdout.write(
      `${describeSaving(sweep)}; this invocation generated ${sweep.generated} and reused ${sweep.cached}. Files: ${["csv", "jsonl", "md", "svg"].map((ext) => join(command.out, `curve.${ext}`)).join(", ")}\n`,
    );
    const failed = rows.reduce((sum, row) => sum + row.failed, 0);
    const runs = rows.reduce((sum, row) => sum + row.problems * row.repeats, 0);
    if (failed > 0 && failed === runs) {
      io.stderr.write(`pacore: every run of every point failed (${failed})\n`);
      return 1;
    }
    if (failed > 0) io.stderr.write(`warning: ${failed} of ${runs} runs failed (counted wrong)\n`);
    return 0;
  } finally {
    if (tty) io.stderr.write("\r\u001b[2K");
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await backend.close?.();
  }
}
