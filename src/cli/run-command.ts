/**
 * `pacore run [PROMPT]`: one problem, one strategy, one backend. A contract that scripts rely
 * on: the flags and the `--json` object are documented in the README.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { AbortError, ConfigError, PacoreError } from "../common/errors.js";
import { Run } from "../core/engine.js";
import type { ChatMessage, ContentPart } from "../spec/backend.js";
import type { RunResult } from "../spec/run.js";
import { createBackend } from "./backends.js";
import { ENGINE_FLAGS, EngineFlagsShape, runOptionsOf } from "./engine-flags.js";
import { type FlagTable, parseCommand } from "./flags.js";
import { attachProgress } from "./progress.js";
import { toRunJson } from "./run-json.js";
import { createStrategy } from "./strategies.js";

export const RunCommandSchema = z
  .object({
    prompt: z.string().optional(),
    file: z.string().min(1).optional(),
    image: z.array(z.string().min(1)).default([]),
    system: z.string().optional(),
    ...EngineFlagsShape,
    log: z.string().min(1).optional(),
    json: z.boolean().default(false),
  })
  .strict();

export type RunCommand = z.output<typeof RunCommandSchema>;

export const RUN_FLAGS: FlagTable<keyof RunCommand> = {
  prompt: { type: "string", positional: true, description: "The problem (or --file, or stdin)" },
  file: { type: "string", value: "PATH", description: "Read the problem from a file" },
  image: {
    type: "string",
    value: "PATH|URL",
    multiple: true,
    description: "Attach an image to the problem (kept in every round)",
  },
  system: { type: "string", value: "TEXT", description: "A system prompt (none by default)" },
  ...ENGINE_FLAGS,
  log: {
    type: "string",
    value: "PATH",
    description: "Run log (JSONL): keeps finished trajectories; rerun to resume",
  },
  json: { type: "boolean", description: "Print one JSON object on stdout" },
};

const IMAGE_TYPES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
};

/** The problem text from the argument, `--file`, or stdin (in that order). */
async function readPrompt(command: RunCommand, stdin: NodeJS.ReadStream): Promise<string> {
  if (command.prompt !== undefined && command.file !== undefined) {
    throw new ConfigError("Expected a prompt or `--file`, got both");
  }
  if (command.prompt !== undefined) {
    if (command.prompt.trim() === "") {
      throw new ConfigError("Expected a problem, got an empty prompt; pass the problem's text");
    }
    return command.prompt;
  }
  if (command.file !== undefined) {
    let text: string;
    try {
      text = await readFile(command.file, "utf8");
    } catch (error) {
      throw new ConfigError(`Cannot read \`--file ${command.file}\`: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (text.trim() === "") {
      throw new ConfigError(`\`--file ${command.file}\` is empty; put the problem's text in it`);
    }
    return text;
  }
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    if (text.trim() !== "") return text;
  }
  throw new ConfigError(
    'Expected a problem: pass it as an argument (pacore run "What is 17*23+5?"), with --file PATH, or on stdin',
  );
}

function imagePart(image: string): ContentPart {
  if (/^(https?:|data:)/.test(image)) return { type: "image", image };
  if (!existsSync(image)) {
    throw new ConfigError(`Expected \`--image\` to be a URL or an existing file, got \`${image}\``);
  }
  const extension = image.split(".").pop()?.toLowerCase() ?? "";
  const mediaType = IMAGE_TYPES[extension];
  return { type: "image", image, ...(mediaType && { mediaType }) };
}

/** The conversation: an optional system turn, then one user turn with the text and images. */
export async function buildProblem(
  command: RunCommand,
  stdin: NodeJS.ReadStream,
): Promise<ChatMessage[]> {
  const text = await readPrompt(command, stdin);
  const images = command.image.map(imagePart);
  const user: ChatMessage = {
    role: "user",
    content: images.length === 0 ? text : [...images, { type: "text", text }],
  };
  return command.system === undefined
    ? [user]
    : [{ role: "system", content: command.system }, user];
}

export interface CommandIo {
  readonly stdin: NodeJS.ReadStream;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WriteStream;
}

/** Runs `pacore run`; resolves with the exit code. */
export async function runCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const command = parseCommand(argv, RunCommandSchema, RUN_FLAGS);
  const problem = await buildProblem(command, io.stdin);
  const strategy = await createStrategy(command);
  // Warnings of the backend's loading (a CUDA fallback) belong with the run's own.
  const backendWarnings: string[] = [];
  const backend = await createBackend(command, (message) => backendWarnings.push(message));

  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) =>
    controller.abort(
      new AbortError(
        command.log !== undefined
          ? `Interrupted (${signal}); run the same command again to resume from ${command.log}`
          : `Interrupted (${signal}); pass --log PATH to keep finished trajectories for a resume`,
      ),
    );
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const run = new Run({
    backend,
    strategy,
    problem,
    options: runOptionsOf(command),
    signal: controller.signal,
    ...(command.log !== undefined && { log: command.log }),
  });
  const detach = attachProgress(run, io.stderr);
  try {
    const finished = await run.start();
    const hints =
      finished.answer === null && command.backend === undefined && command.model === undefined
        ? [
            // The default model declines what it cannot check; say why a newcomer sees no answer.
            "No answer: the embedded pacore-tiny model only solves integer arithmetic such as `6-390-90*6+107-221` (its training task), and declines when its own check fails; for anything else point --backend openai at a real reasoning model.",
          ]
        : [];
    const result = withWarnings(withWarnings(finished, backendWarnings), hints, "last");
    detach();
    report(result, command, io);
    return 0;
  } catch (error) {
    detach();
    // A failed run still prints what it finished, so nothing is lost.
    const partial =
      error instanceof PacoreError && error.partial
        ? withWarnings(error.partial, backendWarnings)
        : undefined;
    if (partial && !command.json) {
      for (const warning of partial.warnings) io.stderr.write(`warning: ${warning}\n`);
    }
    if (partial && command.json) {
      io.stdout.write(`${JSON.stringify(toRunJson(partial, error as PacoreError))}\n`);
    }
    throw error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await backend.close?.();
  }
}

function withWarnings(
  result: RunResult,
  more: readonly string[],
  place: "first" | "last" = "first",
): RunResult {
  if (more.length === 0) return result;
  const warnings =
    place === "first" ? [...more, ...result.warnings] : [...result.warnings, ...more];
  return { ...result, warnings };
}

function report(result: RunResult, command: RunCommand, io: CommandIo): void {
  if (command.json) {
    io.stdout.write(`${JSON.stringify(toRunJson(result))}\n`);
    return;
  }
  for (const warning of result.warnings) io.stderr.write(`warning: ${warning}\n`);
  io.stdout.write(result.content.endsWith("\n") ? result.content : `${result.content}\n`);
  io.stderr.write(
    `answer: ${result.answer ?? "(none found)"} · ${result.strategy} [${result.plan.join(",")}] on ${result.provider}/${result.model} · ${result.calls} trajectories · ${result.effectiveTokens.toLocaleString("en-US")} effective tokens · ${(result.elapsedMs / 1000).toFixed(1)} s\n`,
  );
}
