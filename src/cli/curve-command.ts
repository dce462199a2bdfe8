/**
 * `pacore curve`: accuracy against effective tokens for a grid of strategies on one set of
 * problems. Writes `curve.csv`, `curve.jsonl`, `curve.md` and `curve.svg` at the top of `--out`,
 * after every point; the trajectories go to `--out`'s `cache.jsonl`, so a curve that is killed
 * and started again generates only what it lacks, and points share the trajectories they have in
 * common (one seed: self-consistency@16 is a prefix of @64).
 */
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { AbortError, ConfigError } from "../common/errors.js";
import { writeAtomically } from "../common/write-atomically.js";
import { curveSvg } from "../curve/chart.js";
import { DEFAULT_GRID, type GridPoint, parseGrid } from "../curve/grid.js";
import { curveCsv, curveJsonl, curveMarkdown, describeSaving } from "../curve/report.js";
import { type CurveRow, runCurve, type SweepTotals } from "../curve/sweep.js";
import { createBackend } from "./backends.js";
import { ENGINE_FLAGS, EngineFlagsShape, runOptionsOf } from "./engine-flags.js";
import { type FlagTable, parseCommand, parseNumber } from "./flags.js";
import { loadProblems, PROBLEM_SOURCE_FLAGS, ProblemSourceShape } from "./problem-flags.js";
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
    ...ProblemSourceShape,
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
  ...PROBLEM_SOURCE_FLAGS,
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
  const { problems, name: task } = await loadProblems(command);
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
