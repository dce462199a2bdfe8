/**
 * `pacore demo`: test-time scaling in one screen. Single pass, self-consistency and PaCoRe on
 * the same held-out arith problems, side by side: accuracy and effective tokens per problem.
 */
import { z } from "zod";
import { pacore } from "../../strategies/pacore.js";
import { selfConsistency } from "../../strategies/self-consistency.js";
import { single } from "../../strategies/single.js";
import type { Strategy } from "../spec/strategy.js";
import { DEFAULT_ARITH_DIFFICULTY, generateArith } from "../tasks/arith.js";
import { BACKEND_NAMES, createBackend } from "./backends.js";
import { reportFailures } from "./bench-command.js";
import { type ProblemOutcome, runBenchmark } from "./benchmark.js";
import { type FlagTable, parseCommand, parseIntegerList, parseNumber } from "./flags.js";
import type { CommandIo } from "./run-command.js";

export const DemoCommandSchema = z
  .object({
    limit: z.number().int().positive().default(40),
    k: z.array(z.number().int().positive()).min(1).default([8, 2]),
    backend: z.enum(BACKEND_NAMES).optional(),
    model: z.string().min(1).optional(),
    baseUrl: z.array(z.string().min(1)).default([]),
    apiKeyEnv: z.string().min(1).optional(),
    temperature: z.number().min(0).default(1),
    seed: z.number().int().nonnegative().default(1),
    json: z.boolean().default(false),
  })
  .strict();

export type DemoCommand = z.output<typeof DemoCommandSchema>;

const number = { type: "string", value: "N", parse: parseNumber } as const;

export const DEMO_FLAGS: FlagTable<keyof DemoCommand> = {
  limit: { ...number, description: "Held-out arith problems (default 40)" },
  k: {
    type: "string",
    value: "8,2",
    parse: parseIntegerList,
    description: "PaCoRe rounds (default 8,2); self-consistency gets as many samples",
  },
  backend: { type: "string", value: "NAME", description: "Default: the embedded model" },
  model: { type: "string", value: "NAME|DIR", description: "Model for --backend" },
  baseUrl: {
    type: "string",
    value: "URL",
    multiple: true,
    description: "openai: OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1",
  },
  apiKeyEnv: {
    type: "string",
    value: "NAME",
    description: "openai: environment variable holding the API key",
  },
  temperature: { ...number, description: "Sampling temperature (default 1, as in the paper)" },
  seed: { ...number, description: "Seed of the problems and runs (default 1)" },
  json: { type: "boolean", description: "Print one JSON object on stdout" },
};

/** Runs `pacore demo`; resolves with the exit code. */
export async function demoCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const command = parseCommand(argv, DemoCommandSchema, DEMO_FLAGS);
  const problems = generateArith({
    seed: command.seed,
    count: command.limit,
    difficulty: DEFAULT_ARITH_DIFFICULTY,
  });
  const backend = await createBackend({
    backend: command.backend,
    model: command.model,
    baseUrl: command.baseUrl,
    ...(command.apiKeyEnv !== undefined && { apiKeyEnv: command.apiKeyEnv }),
  });
  const trajectories = command.k.reduce((sum, k) => sum + k, 1);
  const strategies: Strategy[] = [
    single(),
    selfConsistency({ n: trajectories }),
    pacore({ k: command.k }),
  ];
  const rows = [];
  const outcomes: ProblemOutcome[] = [];
  try {
    if (!command.json) {
      io.stderr.write(
        `${problems.length} held-out arith problems on ${backend.provider}/${backend.model}, temperature ${command.temperature}\n`,
      );
    }
    for (const strategy of strategies) {
      const started = performance.now();
      const report = await runBenchmark({
        backend,
        strategy,
        problems,
        options: { seed: command.seed, temperature: command.temperature },
        problemConcurrency: 64,
      });
      outcomes.push(...report.problems);
      const row = {
        strategy: strategy.name,
        plan: strategy.plan,
        accuracy: report.accuracy,
        effectiveTokensPerProblem: report.effectiveTokensPerProblem,
        failed: report.failed,
        elapsedMs: Math.round(performance.now() - started),
      };
      rows.push(row);
      if (!command.json) {
        io.stdout.write(
          `${row.strategy.padEnd(17)} [${row.plan.join(",")}]`.padEnd(30) +
            `accuracy ${row.accuracy.toFixed(3)}   ${Math.round(row.effectiveTokensPerProblem).toLocaleString("en-US").padStart(7)} effective tokens/problem   ${(row.elapsedMs / 1000).toFixed(1)} s\n`,
        );
      }
    }
    if (command.json) {
      io.stdout.write(
        `${JSON.stringify({ backend: backend.provider, model: backend.model, n: problems.length, rows })}\n`,
      );
    }
    return reportFailures(outcomes, io);
  } finally {
    await backend.close?.();
  }
}
