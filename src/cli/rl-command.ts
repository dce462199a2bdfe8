/**
 * `pacore rl build`: synthesis training data (PaCoRe release JSONL, verl Parquet, OpenRLHF and
 * TRL JSONL) from a task or a data file. `pacore rl serve-rewards`: rewards over OpenRLHF's
 * remote reward protocol. Uses only the library's public pieces.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { AbortError, ConfigError } from "../common/errors.js";
import {
  buildSynthesisDataset,
  createRewardServer,
  DEFAULT_BANDS,
  FORMAT_FILES,
  namedReward,
  PENALTY_NAMES,
  REWARD_NAMES,
  type SynthesisProblem,
  writeTrainingFormats,
} from "../rl/index.js";
import type { ModelBackend } from "../spec/backend.js";
import { DEFAULT_ARITH_DIFFICULTY } from "../tasks/arith.js";
import { loadBenchmark } from "../tasks/files.js";
import { arithBenchmark } from "../tasks/problem.js";
import { createBackend } from "./backends.js";
import { ENGINE_FLAGS, EngineFlagsShape, runOptionsOf } from "./engine-flags.js";
import { type FlagTable, parseCommand, parseNumber } from "./flags.js";
import type { CommandIo } from "./run-command.js";

// The strategy flags do not apply: building samples M answers per problem, then synthesises.
const {
  strategy: _strategy,
  k: _k,
  verifier: _verifier,
  population: _population,
  subset: _subset,
  steps: _steps,
  template: _template,
  ...BackendFlagsShape
} = EngineFlagsShape;
const {
  strategy: _s,
  k: _kk,
  verifier: _v,
  population: _p,
  subset: _ss,
  steps: _st,
  template: _t,
  ...BACKEND_FLAGS
} = ENGINE_FLAGS;

const number = { type: "string", value: "N", parse: parseNumber } as const;

export const RlBuildSchema = z
  .object({
    task: z.enum(["arith"]).optional(),
    data: z.string().min(1).optional(),
    limit: z.number().int().positive().optional(),
    split: z.enum(["heldout", "train", "all"]).default("train"),
    difficulty: z.number().int().positive().default(DEFAULT_ARITH_DIFFICULTY),
    out: z.string().min(1),
    ability: z.enum(["math", "code"]).default("math"),
    samples: z.number().int().positive().default(24),
    setSizeMin: z.number().int().positive().default(16),
    setSizeMax: z.number().int().positive().default(24),
    setsPerProblem: z.number().int().positive().default(1),
    bandMin: z.number().min(0).max(1).optional(),
    bandMax: z.number().min(0).max(1).optional(),
    synthesisSamples: z.number().int().nonnegative().default(0),
    template: z.string().min(1).default("paper"),
    problemConcurrency: z.number().int().positive().default(16),
    ...BackendFlagsShape,
    json: z.boolean().default(false),
  })
  .strict();
export type RlBuild = z.output<typeof RlBuildSchema>;

export const RL_BUILD_FLAGS: FlagTable<keyof RlBuild> = {
  task: {
    type: "string",
    value: "NAME",
    description: "Task family: arith (default, unless --data)",
  },
  data: {
    type: "string",
    value: "FILE",
    description:
      "Problems from a benchmark file (JSONL, JSON, CSV, Parquet; as `pacore bench --data`)",
  },
  limit: { ...number, description: "Problems to sample (default: arith 100, --data all)" },
  split: {
    type: "string",
    value: "NAME",
    description: "arith split: train (default) | heldout | all",
  },
  difficulty: { ...number, description: `arith level (default ${DEFAULT_ARITH_DIFFICULTY})` },
  out: {
    type: "string",
    value: "DIR",
    description: "Output folder (formats, and cache/ to resume)",
  },
  ability: {
    type: "string",
    value: "NAME",
    description: "math (default) | code: the default band",
  },
  samples: { ...number, description: "Responses sampled per problem, M (default 24)" },
  setSizeMin: { ...number, description: "Smallest message set, a of |M| ~ U(a, b) (default 16)" },
  setSizeMax: { ...number, description: "Largest message set, b (default 24)" },
  setsPerProblem: { ...number, description: "Message sets drawn per kept problem (default 1)" },
  bandMin: {
    ...number,
    description: "Keep problems with mean message accuracy above this (default 0)",
  },
  bandMax: {
    ...number,
    description: "... and below this (default 9/24 math, 15/24 code)",
  },
  synthesisSamples: {
    ...number,
    description:
      "Second filter: synthesis samples per set; keep sets with accuracy in (0, 1) (default 0: off)",
  },
  template: {
    type: "string",
    value: "NAME",
    description: "Synthesis prompt: paper (default) | default",
  },
  problemConcurrency: { ...number, description: "Problems in flight at once (default 16)" },
  ...BACKEND_FLAGS,
  json: { type: "boolean", description: "Print one JSON summary on stdout" },
};

export const RlServeSchema = z
  .object({
    reward: z.enum(REWARD_NAMES).default("math"),
    penalty: z.array(z.enum(PENALTY_NAMES)).default([]),
    allowLink: z.array(z.string().min(1)).default([]),
    judgeTemplate: z.string().min(1).optional(),
    codeTimeout: z.number().positive().optional(),
    codeMemory: z.number().int().positive().optional(),
    codeNetwork: z.enum(["cut", "allow"]).optional(),
    tolerance: z.number().min(0).optional(),
    port: z.number().int().min(0).max(65535).default(5000),
    host: z.string().min(1).default("127.0.0.1"),
    maxConcurrency: z.number().int().positive().default(8),
    ...BackendFlagsShape,
  })
  .strict();
export type RlServe = z.output<typeof RlServeSchema>;

export const RL_SERVE_FLAGS: FlagTable<keyof RlServe> = {
  reward: {
    type: "string",
    value: "NAME",
    description: `${REWARD_NAMES.join(" | ")} (default math)`,
  },
  penalty: {
    type: "string",
    value: "NAME",
    multiple: true,
    description: `Penalty multiplied in: ${PENALTY_NAMES.join(" | ")}`,
  },
  allowLink: {
    type: "string",
    value: "URL|HOST",
    multiple: true,
    description: "fabrication: an allowed link prefix or host",
  },
  judgeTemplate: {
    type: "string",
    value: "FILE",
    description: "judge/genrm: a Jinja prompt template",
  },
  codeTimeout: {
    type: "string",
    value: "SECONDS",
    parse: parseNumber,
    description: "code: per test (default 5)",
  },
  codeMemory: { ...number, description: "code: MiB per program (default 512)" },
  codeNetwork: {
    type: "string",
    value: "MODE",
    description: "code: cut (default; needs unshare -n) | allow",
  },
  tolerance: { ...number, description: "math/numeric: relative tolerance" },
  port: { ...number, description: "Port (default 5000; 0 picks one)" },
  host: {
    type: "string",
    value: "HOST",
    description: "Interface (default 127.0.0.1: loopback only)",
  },
  maxConcurrency: { ...number, description: "Rewards computed at once (default 8)" },
  ...BACKEND_FLAGS,
};

/** The `rl` flags `--help` lists: both subcommands' tables. */
export const RL_FLAGS: FlagTable<string> = {
  ...Object.fromEntries(
    Object.entries(RL_BUILD_FLAGS).map(([key, spec]) => [
      key,
      { ...spec, description: `build: ${spec.description}` },
    ]),
  ),
  ...Object.fromEntries(
    Object.entries(RL_SERVE_FLAGS)
      .filter(([key]) => !(key in RL_BUILD_FLAGS))
      .map(([key, spec]) => [key, { ...spec, description: `serve-rewards: ${spec.description}` }]),
  ),
};

async function problemsOf(command: RlBuild): Promise<SynthesisProblem[]> {
  if (command.data !== undefined) {
    if (command.task !== undefined) {
      throw new ConfigError(
        `Expected either \`--task\` or \`--data\`, got both (\`--task ${command.task}\`, \`--data ${command.data}\`). Fix: drop one`,
      );
    }
    const { problems } = await loadBenchmark({
      path: command.data,
      ...(command.limit !== undefined && { limit: command.limit }),
      seed: command.seed,
    });
    return problems.map((problem) => ({
      id: problem.id,
      problem: problem.prompt,
      groundTruth: problem.groundTruth,
      ability: command.ability,
      dataSource: command.data!,
      grade: problem.grade,
    }));
  }
  return arithBenchmark({
    seed: command.seed,
    count: command.limit ?? 100,
    split: command.split,
    difficulty: command.difficulty,
  }).map((problem) => ({
    id: problem.id,
    problem: problem.prompt,
    groundTruth: problem.groundTruth,
    ability: "math",
    dataSource: "pacore/arith",
    grade: problem.grade,
  }));
}

/** Runs `pacore rl build`. */
export async function rlBuildCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const command = parseCommand(argv, RlBuildSchema, RL_BUILD_FLAGS);
  if (command.template !== "paper" && command.template !== "default") {
    throw new ConfigError(`Expected \`--template\` paper or default, got \`${command.template}\``);
  }
  const band: [number, number] = [
    command.bandMin ?? DEFAULT_BANDS[command.ability][0],
    command.bandMax ?? DEFAULT_BANDS[command.ability][1],
  ];
  const problems = await problemsOf(command);
  const backend = await createBackend(command);
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) =>
    controller.abort(new AbortError(`Interrupted (${signal}); rerun the same command to resume`));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    // Sampling needs diversity: the paper samples at temperature 1, the default here too.
    const options = runOptionsOf({
      ...command,
      strategy: "single",
      template: command.template,
      temperature: command.temperature ?? 1,
    });
    const result = await buildSynthesisDataset({
      backend,
      problems,
      cacheDir: join(command.out, "cache"),
      samples: command.samples,
      setSize: [command.setSizeMin, command.setSizeMax],
      setsPerProblem: command.setsPerProblem,
      band,
      synthesisSamples: command.synthesisSamples,
      template: command.template,
      options,
      problemConcurrency: command.problemConcurrency,
      signal: controller.signal,
      onProgress: io.stderr.isTTY
        ? (done, total) => io.stderr.write(`\r\u001b[2K${done}/${total} problems sampled`)
        : undefined,
    });
    if (io.stderr.isTTY) io.stderr.write("\r\u001b[2K");
    const files = await writeTrainingFormats(command.out, result.records);
    const inBand = result.problems.filter((problem) => problem.inBand).length;
    const histogram: Record<string, number> = {};
    for (const problem of result.problems) {
      histogram[problem.correct] = (histogram[problem.correct] ?? 0) + 1;
    }
    const summary = {
      problems: result.problems.length,
      samples: command.samples,
      band,
      inBand,
      records: result.records.length,
      trimmedSets: result.trimmedSets,
      generated: result.generated,
      resumed: result.resumed,
      meanMessageAccuracy:
        result.problems.reduce((sum, problem) => sum + problem.messageAccuracy, 0) /
        Math.max(1, result.problems.length),
      correctMessagesHistogram: histogram,
      backend: `${backend.provider}/${backend.model}`,
      elapsedMs: Math.round(result.elapsedMs),
      files,
    };
    if (command.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      io.stdout.write(
        `${summary.problems} problems × ${command.samples} samples on ${summary.backend}: ${inBand} in the band (${band[0].toFixed(3)}, ${band[1].toFixed(3)}), ${summary.records} records (${result.trimmedSets} cut to fit the window) · mean message accuracy ${summary.meanMessageAccuracy.toFixed(3)} · ${(summary.elapsedMs / 1000).toFixed(1)} s (${result.generated} generated, ${result.resumed} from cache)\n` +
          Object.values(FORMAT_FILES)
            .map((name) => `  ${join(command.out, name)}\n`)
            .join(""),
      );
    }
    return 0;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await backend.close?.();
  }
}

/** Runs `pacore rl serve-rewards` until SIGTERM or SIGINT. */
export async function rlServeCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const command = parseCommand(argv, RlServeSchema, RL_SERVE_FLAGS);
  let template: string | undefined;
  if (command.judgeTemplate !== undefined) {
    try {
      template = await readFile(command.judgeTemplate, "utf8");
    } catch (error) {
      throw new ConfigError(
        `Cannot read \`--judge-template ${command.judgeTemplate}\`: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  const needsJudge = command.reward === "judge" || command.reward === "genrm";
  let judge: ModelBackend | undefined;
  if (needsJudge) judge = await createBackend(command);
  const reward = namedReward(command.reward, command.penalty, {
    ...(judge !== undefined && { judgeBackend: judge }),
    ...(template !== undefined && { judgeTemplate: template }),
    allowLinks: command.allowLink,
    ...(command.codeTimeout !== undefined && {
      codeTimeoutMs: Math.round(command.codeTimeout * 1000),
    }),
    ...(command.codeMemory !== undefined && { codeMemoryMb: command.codeMemory }),
    ...(command.codeNetwork !== undefined && { codeNetwork: command.codeNetwork }),
    ...(command.tolerance !== undefined && { tolerance: command.tolerance }),
  });
  const server = createRewardServer({
    reward,
    maxConcurrency: command.maxConcurrency,
    log: (line) => io.stderr.write(`${line}\n`),
  });
  const address = await server.listen(command.port, command.host);
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  io.stderr.write(
    `pacore rl serve-rewards: ${command.reward}${command.penalty.length ? ` × ${command.penalty.join(", ")}` : ""} on http://${host}:${address.port}/get_reward\n`,
  );
  if (!["127.0.0.1", "::1", "localhost"].includes(command.host)) {
    io.stderr.write(
      `warning: listening on ${command.host}; anyone who reaches it can run rewards\n`,
    );
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      resolve();
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
  await server.close();
  await judge?.close?.();
  return 0;
}

/** `pacore rl build|serve-rewards …`. */
export async function rlCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "build") return rlBuildCommand(rest, io);
  if (sub === "serve-rewards") return rlServeCommand(rest, io);
  throw new ConfigError(
    `Expected \`pacore rl build\` or \`pacore rl serve-rewards\`, got \`pacore rl ${sub ?? ""}\`. Run \`pacore rl --help\``,
  );
}
