/**
 * Where a command's problems come from: a built-in task (`--task arith`) or a benchmark file
 * (`--data FILE` and its field flags). One zod shape and flag table, shared by `pacore bench` and
 * `pacore curve`, and the one function that loads what they name.
 */
import { basename } from "node:path";
import { z } from "zod";
import { ConfigError } from "../common/errors.js";
import { DEFAULT_ARITH_DIFFICULTY } from "../tasks/arith.js";
import { loadBenchmark } from "../tasks/files.js";
import { arithBenchmark, type BenchmarkProblem } from "../tasks/problem.js";
import { type FlagTable, flagName, parseNumber } from "./flags.js";

export const TASK_NAMES = ["arith"] as const;

/** Problems of `--task arith` when no `--limit` is given. */
const DEFAULT_TASK_LIMIT = 100;

export const ProblemSourceShape = {
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
};

export type ProblemSource = z.output<z.ZodObject<typeof ProblemSourceShape>>;

const number = { type: "string", value: "N", parse: parseNumber } as const;

export const PROBLEM_SOURCE_FLAGS: FlagTable<keyof ProblemSource> = {
  task: {
    type: "string",
    value: "NAME",
    description: `Task family: ${TASK_NAMES.join(" | ")} (default arith, unless --data)`,
  },
  data: {
    type: "string",
    value: "FILE",
    description:
      "Benchmark file: .jsonl, .json, .csv or .parquet (MATH-500, AIME, MathArena, GSM8K, GPQA, PaCoRe shapes found by column names)",
  },
  fieldProblem: {
    type: "string",
    value: "NAME",
    description: "--data: column holding the problem (text, or a chat list)",
  },
  fieldAnswer: { type: "string", value: "NAME", description: "--data: column holding the answer" },
  fieldId: { type: "string", value: "NAME", description: "--data: column holding a unique id" },
  limit: {
    ...number,
    description: `Problems to run (default: arith ${DEFAULT_TASK_LIMIT}, --data all)`,
  },
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
};

export interface LoadedProblems {
  readonly problems: BenchmarkProblem[];
  /** A short name of the source: the task, or the data file's name. */
  readonly name: string;
  /** What to record about the source (a bench's config.json). */
  readonly source: Record<string, unknown>;
}

/** The problems `--task` or `--data` names; seeded by `seed` (arith draws, GPQA shuffles). */
export async function loadProblems(
  command: ProblemSource & { readonly seed: number },
): Promise<LoadedProblems> {
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
    return {
      problems: loaded.problems,
      name: basename(command.data),
      source: { data: command.data, shape: loaded.shape, records: loaded.records },
    };
  }
  for (const flag of ["fieldProblem", "fieldAnswer", "fieldId", "ids"] as const) {
    if (command[flag] !== undefined) {
      throw new ConfigError(
        `\`--${flagName(flag)}\` is for \`--data FILE\`; the arith task has no such field. Fix: drop it or give --data`,
      );
    }
  }
  const task = command.task ?? "arith";
  const problems = arithBenchmark({
    seed: command.seed,
    count: command.offset + (command.limit ?? DEFAULT_TASK_LIMIT),
    split: command.split,
    difficulty: command.difficulty,
  }).slice(command.offset);
  return {
    problems,
    name: task,
    source: { task, split: command.split, difficulty: command.difficulty },
  };
}
