/**
 * Flags every command that runs a strategy shares: strategy, backend, sampling, engine limits.
 * One zod shape (the source of truth) and its flag table.
 */
import { z } from "zod";
import { type RunOptionsInput, RunOptionsSchema } from "../core/options.js";
import { BACKEND_NAMES } from "./backends.js";
import { EMBEDDED_MODEL_BATCH_SIZE } from "./embedded-model.js";
import { type FlagTable, parseIntegerList, parseNumber } from "./flags.js";
import { STRATEGY_NAMES } from "./strategies.js";

/**
 * Run options the CLI sets directly, flag for option. Their flags take the option's own schema
 * (one source of truth) without its default: a flag left out leaves the engine's default.
 */
const RUN_OPTION_FLAGS = [
  "temperature",
  "topP",
  "topK",
  "maxTokens",
  "stop",
  "context",
  "concurrency",
  "retries",
  "quorum",
  "trim",
  "minMessageTokens",
] as const;
type RunOptionFlag = (typeof RUN_OPTION_FLAGS)[number];
type RunOptionShape = typeof RunOptionsSchema.shape;
type WithoutDefault<T> = T extends z.ZodDefault<infer Inner> ? Inner : T;

function optionalFlag<K extends RunOptionFlag>(
  key: K,
): z.ZodOptional<WithoutDefault<RunOptionShape[K]>> {
  const schema: z.ZodType = RunOptionsSchema.shape[key];
  const inner = (schema instanceof z.ZodDefault ? schema.unwrap() : schema) as z.ZodType;
  return (inner instanceof z.ZodOptional ? inner : inner.optional()) as z.ZodOptional<
    WithoutDefault<RunOptionShape[K]>
  >;
}

const runOptionFlags = Object.fromEntries(
  RUN_OPTION_FLAGS.map((key) => [key, optionalFlag(key)]),
) as {
  [K in RunOptionFlag]: ReturnType<typeof optionalFlag<K>>;
};

export const EngineFlagsShape = {
  strategy: z.enum(STRATEGY_NAMES).default("pacore"),
  k: z.array(z.number().int().positive()).min(1).optional(),
  template: z.string().min(1).default("default"),
  verifier: z.string().min(1).optional(),
  population: z.number().int().positive().optional(),
  subset: z.number().int().positive().optional(),
  steps: z.number().int().positive().optional(),
  backend: z.enum(BACKEND_NAMES).optional(),
  model: z.string().min(1).optional(),
  baseUrl: z.array(z.string().min(1)).default([]),
  apiKeyEnv: z.string().min(1).optional(),
  device: z.string().min(1).optional(),
  maxBatchSize: z.number().int().positive().optional(),
  ...runOptionFlags,
  seed: RunOptionsSchema.shape.seed,
  logprobs: RunOptionsSchema.shape.logprobs,
  /** Seconds on the command line; the run option `timeoutMs` is in milliseconds. */
  timeout: z.number().positive().optional(),
};

export type EngineFlags = z.output<z.ZodObject<typeof EngineFlagsShape>>;

const number = { type: "string", value: "N", parse: parseNumber } as const;

export const ENGINE_FLAGS: FlagTable<keyof EngineFlags> = {
  strategy: { type: "string", value: "NAME", description: `${STRATEGY_NAMES.join(" | ")}` },
  k: {
    type: "string",
    value: "16,4",
    parse: parseIntegerList,
    description:
      "pacore: trajectories per round before the final one (default 4); sequential: one per round (default 1,1,1,1); self-consistency/best-of-n: samples (default 16)",
  },
  verifier: {
    type: "string",
    value: "PATH",
    description: "best-of-n: JS module exporting a function (candidate) => score",
  },
  population: { ...number, description: "rsa: population size N (default 16)" },
  subset: { ...number, description: "rsa: members each aggregation reads, K (default 4)" },
  steps: { ...number, description: "rsa: rounds in all, T (default 3)" },
  template: {
    type: "string",
    value: "NAME|PATH",
    description: "Synthesis template: default | paper | a .jinja file",
  },
  backend: {
    type: "string",
    value: "NAME",
    description: `${BACKEND_NAMES.join(" | ")} (default: onnx on the embedded pacore-tiny model)`,
  },
  model: {
    type: "string",
    value: "NAME|DIR",
    description: "Model name (openai) or directory (onnx)",
  },
  baseUrl: {
    type: "string",
    value: "URL",
    multiple: true,
    description: "OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1",
  },
  apiKeyEnv: {
    type: "string",
    value: "NAME",
    description: "openai: environment variable holding the API key (default OPENAI_API_KEY)",
  },
  device: { type: "string", value: "NAME", description: "onnx: auto | cpu | cuda[:N] | webgpu" },
  maxBatchSize: {
    ...number,
    description: `onnx: rows decoded together per device (default 8; the embedded model ${EMBEDDED_MODEL_BATCH_SIZE})`,
  },
  temperature: { ...number, description: "Sampling temperature; 0 = greedy" },
  topP: { ...number, description: "Nucleus sampling mass" },
  topK: { ...number, description: "Keep the k most likely tokens" },
  maxTokens: {
    ...number,
    description:
      "Most tokens per trajectory (default: 8192, the model's own default, or what fits)",
  },
  stop: { type: "string", value: "TEXT", multiple: true, description: "Stop string" },
  seed: { ...number, description: "Run seed (default 0)" },
  context: { ...number, description: "Context window in tokens (else the backend's report)" },
  concurrency: { ...number, description: "Most backend calls in flight (default 64)" },
  retries: { ...number, description: "Retries per trajectory on transient errors (default 4)" },
  timeout: {
    type: "string",
    value: "SECONDS",
    parse: parseNumber,
    description:
      "Most seconds a backend call may go without a byte or token before it fails and is retried (default: the backend's; openai 300)",
  },
  quorum: { ...number, description: "Fraction of a round that must succeed (default 1)" },
  trim: {
    type: "string",
    value: "POLICY",
    description:
      "How messages that overflow a synthesis round's budget are trimmed: keep-tail | keep-head-tail | drop-longest",
  },
  minMessageTokens: {
    ...number,
    description:
      "Smallest share a message may be cut to; a plan that cannot give every message this much fails before any call (default 32)",
  },
  logprobs: { type: "boolean", description: "Ask for sampled-token log-probs" },
};

/** The engine options the flags set. */
export function runOptionsOf(flags: EngineFlags): RunOptionsInput {
  const options: Record<string, unknown> = { seed: flags.seed, logprobs: flags.logprobs };
  for (const key of RUN_OPTION_FLAGS) {
    if (flags[key] !== undefined) options[key] = flags[key];
  }
  if (flags.timeout !== undefined) options.timeoutMs = Math.round(flags.timeout * 1000);
  return options as RunOptionsInput;
}
