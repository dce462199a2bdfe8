/**
 * `pacore serve`: the strategies behind an OpenAI-compatible endpoint. Any OpenAI client gets
 * PaCoRe by changing its base URL; the model name picks the strategy (`pacore-high`,
 * `pacore:16,4`, `self-consistency:8`, …), the flags set the backend and the defaults.
 */
import { z } from "zod";
import { ConfigError } from "../common/errors.js";
import {
  createServer,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_CONCURRENT_REQUESTS,
  DEFAULT_MAX_TRAJECTORIES,
} from "../serve/index.js";
import type { ModelBackend } from "../spec/backend.js";
import { createBackend } from "./backends.js";
import { ENGINE_FLAGS, EngineFlagsShape, runOptionsOf } from "./engine-flags.js";
import { type FlagTable, parseCommand, parseNumber } from "./flags.js";
import type { CommandIo } from "./run-command.js";
import { createStrategy } from "./strategies.js";

// `--api-key-env` is the server's own key here; the backend's is `--backend-api-key-env`.
const { apiKeyEnv: _backendKey, ...engineShape } = EngineFlagsShape;
const { apiKeyEnv: backendKeyFlag, ...engineFlags } = ENGINE_FLAGS;

export const ServeCommandSchema = z
  .object({
    ...engineShape,
    /** No default: a request without a seed gets a fresh random one, as OpenAI's would. */
    seed: z.number().int().nonnegative().optional(),
    backendApiKeyEnv: z.string().min(1).optional(),
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65_535).default(8000),
    apiKeyEnv: z.string().min(1).optional(),
    maxConcurrentRequests: z.number().int().positive().default(DEFAULT_MAX_CONCURRENT_REQUESTS),
    maxBodyBytes: z.number().int().positive().default(DEFAULT_MAX_BODY_BYTES),
    maxTrajectories: z.number().int().positive().default(DEFAULT_MAX_TRAJECTORIES),
    shutdownGrace: z.number().nonnegative().default(30),
    logPrompts: z.boolean().default(false),
  })
  .strict();

export type ServeCommand = z.output<typeof ServeCommandSchema>;

const number = { type: "string", value: "N", parse: parseNumber } as const;

export const SERVE_FLAGS: FlagTable<keyof ServeCommand> = {
  ...engineFlags,
  strategy: {
    ...engineFlags.strategy,
    description: `What the model \`pacore\` runs: ${engineFlags.strategy.description}`,
  },
  seed: { ...number, description: "Seed of requests that send none (default: a random one)" },
  backendApiKeyEnv: {
    ...backendKeyFlag,
    description: "openai backend: environment variable holding its key (default OPENAI_API_KEY)",
  },
  host: {
    type: "string",
    value: "HOST",
    description: "Address to listen on (default 127.0.0.1; 0.0.0.0 exposes the server)",
  },
  port: { ...number, description: "Port (default 8000; 0 picks a free one)" },
  apiKeyEnv: {
    type: "string",
    value: "NAME",
    description: "Environment variable holding the key clients must send (Bearer)",
  },
  maxConcurrentRequests: {
    ...number,
    description: `Chat requests in flight at once; more get 429 (default ${DEFAULT_MAX_CONCURRENT_REQUESTS})`,
  },
  maxBodyBytes: {
    ...number,
    description: `Largest request body; larger get 413 (default ${DEFAULT_MAX_BODY_BYTES})`,
  },
  maxTrajectories: {
    ...number,
    description: `Most trajectories one request may run; more get 400 (default ${DEFAULT_MAX_TRAJECTORIES})`,
  },
  shutdownGrace: {
    type: "string",
    value: "SECONDS",
    parse: parseNumber,
    description:
      "On SIGTERM, how long requests in flight may finish before they are aborted (default 30)",
  },
  logPrompts: { type: "boolean", description: "Add each request's last user turn to its log line" },
};

/** The server's API key from the environment variable `--api-key-env` names. */
function apiKeyOf(command: ServeCommand): string | undefined {
  if (command.apiKeyEnv === undefined) return undefined;
  const key = process.env[command.apiKeyEnv];
  if (key === undefined || key === "") {
    throw new ConfigError(
      `\`--api-key-env ${command.apiKeyEnv}\`: the environment variable \`${command.apiKeyEnv}\` is not set; export it with the key clients must send, or drop the flag`,
    );
  }
  return key;
}

/** Resolves on the first SIGTERM or SIGINT. */
function shutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off("SIGTERM", on);
      process.off("SIGINT", on);
      resolve(signal);
    };
    process.on("SIGTERM", on);
    process.on("SIGINT", on);
  });
}

/** Runs `pacore serve` until SIGTERM or SIGINT; resolves with the exit code. */
export async function serveCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const command = parseCommand(argv, ServeCommandSchema, SERVE_FLAGS);
  const apiKey = apiKeyOf(command);
  const { strategy, k, template, verifier, population, subset, steps } = command;
  const defaults = {
    strategy,
    template,
    ...(k !== undefined && { k }),
    ...(verifier !== undefined && { verifier }),
    ...(population !== undefined && { population }),
    ...(subset !== undefined && { subset }),
    ...(steps !== undefined && { steps }),
  };
  await createStrategy(defaults); // bad strategy flags fail at startup, not on the first request
  const { seed: _seed, ...options } = runOptionsOf({ ...command, seed: 0 });
  const runOptions = command.seed === undefined ? options : { ...options, seed: command.seed };
  // The backend loads in the background (the ONNX model takes a while): /health answers at once.
  const loading = createBackend({ ...command, apiKeyEnv: command.backendApiKeyEnv });
  loading.catch(() => {});
  const server = createServer({
    backend: loading,
    strategy: defaults,
    runOptions,
    ...(apiKey !== undefined && { apiKey }),
    maxConcurrentRequests: command.maxConcurrentRequests,
    maxBodyBytes: command.maxBodyBytes,
    maxTrajectories: command.maxTrajectories,
    logPrompts: command.logPrompts,
    log: (line) => io.stderr.write(`${line}\n`),
  });
  const signal = shutdownSignal();
  const address = await server.listen(command.port, command.host);
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  io.stderr.write(`pacore serve: listening on http://${host}:${address.port}/v1\n`);
  if (apiKey === undefined && !["127.0.0.1", "::1", "localhost"].includes(command.host)) {
    io.stderr.write(
      `warning: listening on ${command.host} with no key; anyone who reaches it can run models (\`--api-key-env NAME\`)\n`,
    );
  }
  let backend: ModelBackend | undefined;
  try {
    backend = await Promise.race([loading, signal.then(() => undefined)]);
    if (backend !== undefined) {
      io.stderr.write(`pacore serve: backend ${backend.provider}/${backend.model} ready\n`);
      await signal;
    }
  } catch (error) {
    await server.close({ graceMs: 0 });
    throw error;
  }
  io.stderr.write(
    `pacore serve: shutting down (requests in flight get ${command.shutdownGrace} s)\n`,
  );
  await server.close({ graceMs: command.shutdownGrace * 1000 });
  await (backend ?? (await loading.catch(() => undefined)))?.close?.();
  return 0;
}
