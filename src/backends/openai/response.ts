/**
 * Reads chat-completion responses, whole (JSON) or streamed (server-sent events), into
 * completions. A body that does not have the expected shape is a {@link MalformedResponseError}:
 * a transient fault to retry, never an empty answer.
 */

import { estimateTokens } from "../../common/estimate-tokens.js";
import { splitReasoning } from "../../common/think.js";
import type { Completion, FinishReason } from "../../spec/backend.js";

/** A 200 response whose body is not a chat completion (cut short, not JSON, wrong shape). */
export class MalformedResponseError extends Error {
  /** The start of the body, for the error report. */
  readonly excerpt: string;

  constructor(message: string, body: string) {
    super(message);
    this.name = "MalformedResponseError";
    this.excerpt = excerptOf(body);
  }
}

/** At most `limit` characters of a body, with a marker when cut. */
export function excerptOf(body: string, limit = 300): string {
  const flat = body.replace(/\s+/g, " ").trim();
  return flat.length > limit ? `${flat.slice(0, limit)}… (${body.length} chars)` : flat;
}

/** One choice as the server returned it. */
export interface ParsedChoice {
  readonly index: number;
  /** `content`, verbatim (empty when the server sent null). */
  readonly content: string;
  /** `reasoning_content` or `reasoning`, when the server separated it. */
  readonly reasoning?: string;
  readonly finishReason: string | null;
  readonly logprobs?: readonly number[];
  readonly tokenIds?: readonly number[];
}

/** Usage of one request as the server reported it. */
export interface ParsedUsage {
  readonly promptTokens: number;
  /** Summed over all choices of the request. */
  readonly completionTokens: number;
  readonly cachedTokens: number;
}

/** A chat completion, whole. */
export interface ParsedResponse {
  readonly choices: readonly ParsedChoice[];
  readonly usage?: ParsedUsage;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function optionalString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function readUsage(raw: unknown, timings?: unknown): ParsedUsage | undefined {
  if (!isObject(raw)) return undefined;
  const prompt = raw.prompt_tokens;
  const completion = raw.completion_tokens;
  if (typeof prompt !== "number" || typeof completion !== "number") return undefined;
  const details = raw.prompt_tokens_details;
  let cached = isObject(details) ? details.cached_tokens : undefined;
  // llama.cpp reports prompt-cache reuse in `timings.cache_n`.
  if (typeof cached !== "number" && isObject(timings)) cached = timings.cache_n;
  return {
    promptTokens: prompt,
    completionTokens: completion,
    cachedTokens: typeof cached === "number" ? cached : 0,
  };
}

function readLogprobs(raw: unknown): number[] | undefined {
  if (!isObject(raw) || !Array.isArray(raw.content)) return undefined;
  return raw.content.map((entry) =>
    isObject(entry) && typeof entry.logprob === "number" ? entry.logprob : Number.NaN,
  );
}

function readTokenIds(raw: unknown): number[] | undefined {
  return Array.isArray(raw) && raw.every((id) => typeof id === "number") ? raw : undefined;
}

/** Parses a non-streaming chat-completion body. Throws {@link MalformedResponseError}. */
export function parseChatCompletion(body: string): ParsedResponse {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new MalformedResponseError("the 200 response body is not JSON (cut short?)", body);
  }
  if (!isObject(json) || !Array.isArray(json.choices) || json.choices.length === 0) {
    throw new MalformedResponseError("the 200 response body has no `choices`", body);
  }
  const choices = json.choices.map((raw, position): ParsedChoice => {
    const message = isObject(raw) ? raw.message : undefined;
    if (!isObject(raw) || !isObject(message)) {
      throw new MalformedResponseError(`choice ${position} has no \`message\``, body);
    }
    const content = message.content;
    if (content !== null && content !== undefined && typeof content !== "string") {
      throw new MalformedResponseError(`choice ${position} has a non-string \`content\``, body);
    }
    return {
      index: typeof raw.index === "number" ? raw.index : position,
      content: content ?? "",
      reasoning: optionalString(message.reasoning_content) ?? optionalString(message.reasoning),
      finishReason: optionalString(raw.finish_reason) ?? null,
      logprobs: readLogprobs(raw.logprobs),
      tokenIds: readTokenIds(raw.token_ids),
    };
  });
  choices.sort((a, b) => a.index - b.index);
  return { choices, usage: readUsage(json.usage, json.timings) };
}

interface ChoiceDraft {
  content: string;
  reasoning: string | undefined;
  finishReason: string | null;
  logprobs: number[] | undefined;
  tokenIds: number[] | undefined;
}

/**
 * Accumulates a streamed chat completion from server-sent events. Feed it decoded text as it
 * arrives ({@link StreamAccumulator.push}); frames may be split anywhere, lines may end in
 * `\n` or `\r\n`, and comment lines (`: ping`) are ignored.
 */
export class StreamAccumulator {
  readonly #drafts = new Map<number, ChoiceDraft>();
  readonly #onText: (index: number, text: string) => void;
  #buffer = "";
  #data: string[] = [];
  #usage: ParsedUsage | undefined;
  #done = false;
  #seen = "";

  /** `onText` receives each piece of generated text (reasoning or content) per choice index. */
  constructor(onText: (index: number, text: string) => void = () => {}) {
    this.#onText = onText;
  }

  /** True once `data: [DONE]` arrived. */
  get done(): boolean {
    return this.#done;
  }

  /** Feeds decoded text. Throws {@link MalformedResponseError} on a frame that is not JSON. */
  push(text: string): void {
    if (this.#seen.length < 600) this.#seen += text.slice(0, 600 - this.#seen.length);
    this.#buffer += text;
    let newline = this.#buffer.indexOf("\n");
    while (newline >= 0) {
      let line = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      this.#line(line);
      newline = this.#buffer.indexOf("\n");
    }
  }

  /**
   * Ends the stream and returns the completion. A stream is complete when `[DONE]` came, or,
   * for servers that omit it, when every choice has a finish reason; anything else was cut short
   * and throws {@link MalformedResponseError}.
   */
  finish(): ParsedResponse {
    if (this.#buffer.length > 0) this.#line(this.#buffer.replace(/\r$/, ""));
    this.#buffer = "";
    this.#line("");
    const choices = [...this.#drafts.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, draft]): ParsedChoice => ({ index, ...draft }));
    const complete =
      choices.length > 0 && (this.#done || choices.every((choice) => choice.finishReason !== null));
    if (!complete) {
      throw new MalformedResponseError(
        choices.length === 0
          ? "the event stream ended without any choice"
          : "the event stream ended before `[DONE]` with choices unfinished",
        this.#seen,
      );
    }
    return { choices, usage: this.#usage };
  }

  #line(line: string): void {
    if (line === "") {
      if (this.#data.length > 0) this.#event(this.#data.join("\n"));
      this.#data = [];
      return;
    }
    if (line.startsWith(":")) return;
    if (line.startsWith("data:")) {
      this.#data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
    }
  }

  #event(data: string): void {
    if (data.trim() === "[DONE]") {
      this.#done = true;
      return;
    }
    let chunk: unknown;
    try {
      chunk = JSON.parse(data);
    } catch {
      throw new MalformedResponseError("an event of the stream is not JSON", data);
    }
    if (!isObject(chunk)) throw new MalformedResponseError("an event is not an object", data);
    if (isObject(chunk.error)) {
      throw new StreamErrorEvent(chunk.error, data);
    }
    const usage = readUsage(chunk.usage, chunk.timings);
    if (usage) this.#usage = usage;
    if (!Array.isArray(chunk.choices)) return;
    for (const [position, raw] of chunk.choices.entries()) {
      if (!isObject(raw))
        throw new MalformedResponseError("a streamed choice is not an object", data);
      const index = typeof raw.index === "number" ? raw.index : position;
      let draft = this.#drafts.get(index);
      if (!draft) {
        draft = {
          content: "",
          reasoning: undefined,
          finishReason: null,
          logprobs: undefined,
          tokenIds: undefined,
        };
        this.#drafts.set(index, draft);
      }
      const delta = isObject(raw.delta) ? raw.delta : {};
      const reasoning = optionalString(delta.reasoning_content) ?? optionalString(delta.reasoning);
      if (reasoning !== undefined) {
        draft.reasoning = (draft.reasoning ?? "") + reasoning;
        if (reasoning) this.#onText(index, reasoning);
      }
      const content = optionalString(delta.content);
      if (content !== undefined) {
        draft.content += content;
        if (content) this.#onText(index, content);
      }
      const logprobs = readLogprobs(raw.logprobs);
      if (logprobs) draft.logprobs = [...(draft.logprobs ?? []), ...logprobs];
      const tokenIds = readTokenIds(raw.token_ids);
      if (tokenIds) draft.tokenIds = [...(draft.tokenIds ?? []), ...tokenIds];
      const finish = optionalString(raw.finish_reason);
      if (finish) draft.finishReason = finish;
    }
  }
}

/** An `{"error": …}` event inside a stream (vLLM sends these when generation fails midway). */
export class StreamErrorEvent extends Error {
  /** The error's `code` when it is an HTTP status, else undefined. */
  readonly status?: number;
  readonly excerpt: string;

  constructor(error: Json, data: string) {
    super(`the server sent an error event: ${optionalString(error.message) ?? "(no message)"}`);
    this.name = "StreamErrorEvent";
    const code = error.code;
    this.status = typeof code === "number" && code >= 400 && code < 600 ? code : undefined;
    this.excerpt = excerptOf(data);
  }
}

/** Maps the server's `finish_reason` onto the contract's. */
export function toFinishReason(reason: string | null): FinishReason {
  switch (reason) {
    case "stop":
    case "eos":
      return "stop";
    case "length":
      return "length";
    case "abort":
    case "cancelled":
      return "abort";
    case "error":
      return "error";
    default:
      return "other";
  }
}

/**
 * Turns parsed choices into completions, `usage` split per completion:
 * - `promptTokens` and `cachedTokens` are the request's (each sample saw the whole prompt);
 * - `completionTokens` is exact when the choice carries its tokens (log-probs or token ids) or
 *   when the request had one choice; otherwise the server's total is shared in proportion to an
 *   estimate of each choice's length (largest remainder, so the shares add up to the total);
 * - without any usage from the server, every count is an estimate (`promptTokensEstimate()` for
 *   the prompt, called only then).
 */
export function toCompletions(
  response: ParsedResponse,
  promptTokensEstimate: () => number,
): Completion[] {
  const { choices, usage } = response;
  let completionTokens: number[];
  if (usage && choices.length === 1) {
    completionTokens = [usage.completionTokens];
  } else {
    const exact = choices.map((choice) => choice.tokenIds?.length ?? choice.logprobs?.length);
    const estimates = choices.map((choice) =>
      Math.max(1, estimateTokens((choice.reasoning ?? "") + choice.content)),
    );
    completionTokens = usage
      ? shareTotal(usage.completionTokens, exact, estimates)
      : choices.map((_, i) => exact[i] ?? estimates[i]);
  }
  const promptTokens = usage?.promptTokens ?? promptTokensEstimate();
  return choices.map((choice, i): Completion => {
    const separated = choice.reasoning !== undefined && choice.reasoning !== "";
    const split = separated
      ? { reasoning: choice.reasoning, content: choice.content }
      : splitReasoning(choice.content);
    const completion: {
      -readonly [K in keyof Completion]: Completion[K];
    } = {
      content: split.content,
      finishReason: toFinishReason(choice.finishReason),
      usage: {
        promptTokens,
        completionTokens: completionTokens[i],
        cachedTokens: usage?.cachedTokens ?? 0,
      },
    };
    if (split.reasoning !== undefined) completion.reasoning = split.reasoning;
    if (choice.tokenIds) completion.tokenIds = choice.tokenIds;
    if (choice.logprobs) completion.logprobs = choice.logprobs;
    return completion;
  });
}

/**
 * Splits `total` over choices: exact counts where known, the remainder in proportion to the
 * estimates of the others (largest-remainder rounding).
 */
export function shareTotal(
  total: number,
  exact: readonly (number | undefined)[],
  estimates: readonly number[],
): number[] {
  const known = exact.reduce<number>((sum, value) => sum + (value ?? 0), 0);
  const open = exact.flatMap((value, i) => (value === undefined ? [i] : []));
  const result = exact.map((value) => value ?? 0);
  if (open.length === 0) return result;
  const remaining = Math.max(0, total - known);
  const weight = open.reduce((sum, i) => sum + estimates[i], 0);
  const raw = open.map((i) => (remaining * estimates[i]) / weight);
  const floors = raw.map(Math.floor);
  let left = remaining - floors.reduce((sum, value) => sum + value, 0);
  const order = raw.map((value, k) => [value - floors[k], k] as const).sort((a, b) => b[0] - a[0]);
  for (const [, k] of order) {
    if (left <= 0) break;
    floors[k]++;
    left--;
  }
  open.forEach((i, k) => {
    result[i] = floors[k];
  });
  return result;
}
