/**
 * The request body of `POST /v1/chat/completions`: one zod schema (the OpenAI fields pacore
 * honours, plus an optional `pacore` field), and the mapping onto pacore's conversation and run
 * options.
 */
import { randomInt } from "node:crypto";
import { z } from "zod";
import { TEMPLATE_NAMES } from "../../strategies/synthesis-template.js";
import { STRATEGY_NAMES } from "../cli/strategies.js";
import { formatZodError } from "../common/validate.js";
import type { RunOptionsInput } from "../core/options.js";
import type { ChatMessage, ContentPart } from "../spec/backend.js";
import type { StrategySettings } from "./models.js";

const TextPartSchema = z.object({ type: z.literal("text"), text: z.string() });

/**
 * Only remote and inline images: a local path would make the backend read the server's files.
 */
const ImageUrlSchema = z
  .string()
  .regex(/^(https?:\/\/|data:image\/)/i, "expected an http(s) URL or a data:image/… URL");

const ImagePartSchema = z.object({
  type: z.literal("image_url"),
  image_url: z.object({
    url: ImageUrlSchema,
    detail: z.enum(["auto", "low", "high"]).optional(),
  }),
});

const TextContentSchema = z.union([z.string(), z.array(TextPartSchema).min(1)]);
const UserContentSchema = z.union([
  z.string(),
  z.array(z.discriminatedUnion("type", [TextPartSchema, ImagePartSchema])).min(1),
]);

const MessageSchema = z.discriminatedUnion("role", [
  z.object({ role: z.literal("system"), content: TextContentSchema, name: z.string().optional() }),
  z.object({
    role: z.literal("developer"),
    content: TextContentSchema,
    name: z.string().optional(),
  }),
  z.object({ role: z.literal("user"), content: UserContentSchema, name: z.string().optional() }),
  z.object({
    role: z.literal("assistant"),
    content: TextContentSchema,
    name: z.string().optional(),
    tool_calls: z.array(z.unknown()).max(0, "tool calls are not supported").optional(),
  }),
]);

const positive = z.number().int().positive();

/** The request's own strategy settings: they override those of the model name. */
export const PacoreRequestSchema = z
  .object({
    strategy: z.enum(STRATEGY_NAMES).optional(),
    /** Trajectories per round (pacore, sequential) or samples (self-consistency, best-of-n). */
    k: z.array(positive).min(1).optional(),
    population: positive.optional(),
    subset: positive.optional(),
    steps: positive.optional(),
    /** A named synthesis template only: a path would read the server's files. */
    template: z.enum(TEMPLATE_NAMES).optional(),
    /** Streaming: send round and trajectory events as `choices: []` chunks with a `pacore` field. */
    progress: z.boolean().optional(),
    /** Include every round's trajectories in the response (default true). */
    trajectories: z.boolean().optional(),
  })
  .strict();

export const ChatCompletionRequestSchema = z
  .object({
    model: z.string().min(1).max(200),
    messages: z
      .array(MessageSchema)
      .min(1)
      .refine((messages) => messages.at(-1)?.role === "user", {
        message: "expected the last message to be the user's (the problem to solve)",
      }),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().gt(0).max(1).nullish(),
    /** Not an OpenAI field; vLLM and SGLang take it. */
    top_k: z.number().int().nonnegative().nullish(),
    max_tokens: positive.nullish(),
    max_completion_tokens: positive.nullish(),
    seed: z.number().int().nonnegative().nullish(),
    stop: z.union([z.string().min(1), z.array(z.string().min(1)).max(4)]).nullish(),
    n: z.literal(1, "only n = 1 is supported: a run already samples many trajectories").nullish(),
    logprobs: z.literal(false, "logprobs are not supported").nullish(),
    tools: z.array(z.unknown()).max(0, "tools are not supported").nullish(),
    pacore: PacoreRequestSchema.nullish(),
  })
  .passthrough();

export type ChatCompletionRequest = z.output<typeof ChatCompletionRequestSchema>;

/** A request that failed validation: the message names the field; `param` is its path. */
export interface RequestProblem {
  readonly message: string;
  readonly param: string | null;
}

const MAX_ECHO = 80;

/** Validates a parsed JSON body. */
export function parseChatRequest(
  body: unknown,
): { success: true; data: ChatCompletionRequest } | { success: false; problem: RequestProblem } {
  const parsed = ChatCompletionRequestSchema.safeParse(body, { reportInput: true });
  if (parsed.success) return parsed;
  // Echo short inputs only: a prompt sent back in an error would be noise, and maybe a secret.
  const issues = parsed.error.issues.map((issue) => {
    if (!("input" in issue)) return issue;
    const text = JSON.stringify(issue.input) ?? "";
    if (text.length <= MAX_ECHO) return issue;
    const { input: _input, ...rest } = issue;
    return rest;
  });
  const first = parsed.error.issues[0];
  const param =
    first && first.path.length > 0
      ? first.path
          .map((key, i) =>
            typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`,
          )
          .join("")
      : null;
  return {
    success: false,
    problem: {
      message: formatZodError({ issues } as z.ZodError, "request field"),
      param,
    },
  };
}

type RequestMessage = ChatCompletionRequest["messages"][number];

function partsOf(content: RequestMessage["content"]): string | ContentPart[] {
  if (typeof content === "string") return content;
  return content.map(
    (part): ContentPart =>
      part.type === "text"
        ? { type: "text", text: part.text }
        : { type: "image", image: part.image_url.url },
  );
}

/** The conversation pacore runs: `developer` turns become system turns; the last turn is the problem. */
export function conversationOf(request: ChatCompletionRequest): ChatMessage[] {
  return request.messages.map((message) => ({
    role: message.role === "developer" ? "system" : message.role,
    content: partsOf(message.content),
  }));
}

/**
 * The run options of a request: the server's defaults, overridden by the sampling fields the
 * request sets (`temperature: 0` included: it is a value, never replaced by a default). Without
 * a seed from either, the run gets a random one.
 */
export function runOptionsOf(
  request: ChatCompletionRequest,
  defaults: RunOptionsInput,
): RunOptionsInput {
  const options: Record<string, unknown> = { ...defaults };
  const set = (key: string, value: unknown) => {
    if (value !== undefined && value !== null) options[key] = value;
  };
  set("temperature", request.temperature);
  set("topP", request.top_p);
  set("topK", request.top_k);
  set("maxTokens", request.max_completion_tokens ?? request.max_tokens);
  set("seed", request.seed);
  if (request.stop !== undefined && request.stop !== null) {
    options.stop = typeof request.stop === "string" ? [request.stop] : request.stop;
  }
  // No seed from the request or the server: a fresh one, as OpenAI's sampling would (the
  // response's `pacore.seed` says which, to reproduce it).
  if (options.seed === undefined) options.seed = randomInt(2 ** 31);
  return options as RunOptionsInput;
}

/** The strategy settings of the request's `pacore` field. */
export function strategySettingsOf(request: ChatCompletionRequest): StrategySettings {
  const { strategy, k, population, subset, steps, template } = request.pacore ?? {};
  return {
    ...(strategy !== undefined && { strategy }),
    ...(k !== undefined && { k }),
    ...(population !== undefined && { population }),
    ...(subset !== undefined && { subset }),
    ...(steps !== undefined && { steps }),
    ...(template !== undefined && { template }),
  };
}

/** The last user turn's text, for `--log-prompts`. */
export function promptTextOf(request: ChatCompletionRequest): string {
  const content = request.messages.at(-1)?.content ?? "";
  if (typeof content === "string") return content;
  return content.map((part) => (part.type === "text" ? part.text : "[image]")).join(" ");
}
