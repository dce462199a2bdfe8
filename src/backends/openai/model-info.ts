/**
 * What the budget planner asks of a server: its context window and token counts. Every source
 * is optional: a server without `/v1/models` leaves the window unknown, one without `/tokenize`
 * makes counts estimates (the backend says so), never a failed run.
 */
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Pool } from "undici";
import { ConfigError } from "../../common/errors.js";
import {
  estimateTokens,
  MESSAGE_OVERHEAD_TOKENS,
  REPLY_PRIMING_TOKENS,
} from "../../common/estimate-tokens.js";
import type { ChatMessage } from "../../spec/backend.js";
import type { EndpointAddress } from "./options.js";
import type { WireMessage } from "./request-body.js";

/** One endpoint as the info requests see it. */
export interface InfoEndpoint {
  readonly address: EndpointAddress;
  readonly pool: Pool;
}

/** Tokens a chat template adds to a message list, when its turns are counted one by one. */
function templateOverhead(messages: number): number {
  return MESSAGE_OVERHEAD_TOKENS * messages + REPLY_PRIMING_TOKENS;
}

/** Timeout of the small info requests (`/v1/models`, `/props`, `/tokenize`). */
const INFO_TIMEOUT_MS = 10_000;

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Result of a small JSON request: the status and the parsed body (undefined when not JSON). */
async function requestJson(
  endpoint: InfoEndpoint,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const response = await endpoint.pool.request({
    path,
    method: body === undefined ? "GET" : "POST",
    headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    headersTimeout: INFO_TIMEOUT_MS,
    bodyTimeout: INFO_TIMEOUT_MS,
    signal: AbortSignal.timeout(INFO_TIMEOUT_MS),
  });
  const text = await response.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.statusCode, json };
}

/** Context-window fields in a `/v1/models` entry, in order of trust. */
const WINDOW_FIELDS = ["max_model_len", "context_length", "context_window", "max_context_length"];

/**
 * Reads the context window from the servers: the `/v1/models` entry of `model` (vLLM's
 * `max_model_len`, or `context_length` as other servers name it), else llama.cpp's `/props`
 * (`default_generation_settings.n_ctx`). Tries each endpoint in turn; undefined when none says.
 */
export async function fetchContextWindow(
  endpoints: readonly InfoEndpoint[],
  model: string,
  headers: Record<string, string>,
): Promise<number | undefined> {
  for (const endpoint of endpoints) {
    try {
      const { status, json } = await requestJson(
        endpoint,
        `${endpoint.address.apiPath}/models`,
        headers,
      );
      if (status === 200 && isObject(json) && Array.isArray(json.data)) {
        const entries = json.data.filter(isObject);
        const entry =
          entries.find((item) => item.id === model) ??
          (entries.length === 1 ? entries[0] : undefined);
        for (const field of WINDOW_FIELDS) {
          const value = entry?.[field];
          if (typeof value === "number" && value > 0) return value;
        }
      }
    } catch {
      // An unreachable endpoint: try the next one.
    }
    try {
      const { status, json } = await requestJson(
        endpoint,
        `${endpoint.address.rootPath}/props`,
        headers,
      );
      const settings = isObject(json) ? json.default_generation_settings : undefined;
      const window = isObject(settings) ? settings.n_ctx : undefined;
      if (status === 200 && typeof window === "number" && window > 0) return window;
    } catch {
      // No `/props` either.
    }
  }
  return undefined;
}

/** How a count was made. */
export type TokenCountSource = "server" | "tokenizer" | "estimate";

/** Counts tokens with a local `tokenizer.json`. */
export interface LocalTokenizer {
  count(text: string): number;
}

/**
 * Loads a local `tokenizer.json` (and the `tokenizer_config.json` beside it, when there is one)
 * with `@huggingface/tokenizers`, imported only now.
 */
export async function loadLocalTokenizer(path: string): Promise<LocalTokenizer> {
  let tokenizerJson: unknown;
  try {
    tokenizerJson = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new ConfigError(
      `Cannot read the tokenizer file \`${path}\` (fix the tokenizerPath option): ${(error as Error).message}`,
      { cause: error },
    );
  }
  let config: unknown = {};
  try {
    config = JSON.parse(await readFile(join(dirname(path), "tokenizer_config.json"), "utf8"));
  } catch {
    // The config is optional.
  }
  const { Tokenizer } = await import("@huggingface/tokenizers");
  const tokenizer = new Tokenizer(tokenizerJson as object, config as object);
  return {
    count: (text) => tokenizer.encode(text, { add_special_tokens: false }).ids.length,
  };
}

/** The text of a message: its string content, or its text parts joined. */
export function messageText(message: ChatMessage): string {
  if (typeof message.content === "string") return message.content;
  return message.content.map((part) => (part.type === "text" ? part.text : "")).join("");
}

/** Settings of a {@link TokenCounter}. */
export interface TokenCounterOptions {
  readonly endpoints: readonly InfoEndpoint[];
  readonly model: string;
  readonly headers: Record<string, string>;
  readonly tokenizerPath?: string;
  /** Turns messages into their wire form (image files into data URLs). */
  readonly wireMessages: (messages: readonly ChatMessage[]) => Promise<WireMessage[]>;
  /** Index of an endpoint to ask first (a healthy, idle one). */
  readonly pickEndpoint: () => number;
}

/**
 * Counts tokens: the server's `/tokenize` where it has one (vLLM, SGLang: message lists are
 * counted with the chat template), else a local tokenizer, else an estimate. A route the server
 * lacks (404, 405, 501) is not asked again; `estimateReason` says why a count was estimated.
 */
export class TokenCounter {
  readonly #options: TokenCounterOptions;
  #serverPrompt: "unknown" | "yes" | "no" = "unknown";
  #serverMessages: "unknown" | "yes" | "no" = "unknown";
  #local: Promise<LocalTokenizer> | undefined;
  /** Why the server gave no count last time. */
  #miss = "";
  /** Where the last count came from. */
  lastSource: TokenCountSource = "estimate";

  /** Why the last count was an estimate; undefined when it was exact. */
  get estimateReason(): string | undefined {
    return this.lastSource === "estimate" && this.#miss !== ""
      ? `${this.#miss}, and no tokenizerPath was given`
      : undefined;
  }

  constructor(options: TokenCounterOptions) {
    this.#options = options;
  }

  /** Counts a text, or a message list as the model sees it. */
  async count(input: string | readonly ChatMessage[]): Promise<number> {
    const fromServer = await this.#server(input);
    if (fromServer !== undefined) {
      this.lastSource = "server";
      return fromServer;
    }
    if (this.#options.tokenizerPath !== undefined) {
      this.#local ??= loadLocalTokenizer(this.#options.tokenizerPath);
      const tokenizer = await this.#local;
      this.lastSource = "tokenizer";
      if (typeof input === "string") return tokenizer.count(input);
      // No chat template here: the text of each turn plus the estimated template overhead.
      return input.reduce(
        (sum, message) => sum + tokenizer.count(messageText(message)),
        templateOverhead(input.length),
      );
    }
    this.lastSource = "estimate";
    return estimateTokens(input);
  }

  async #server(input: string | readonly ChatMessage[]): Promise<number | undefined> {
    if (typeof input === "string") {
      if (this.#serverPrompt === "no") return undefined;
      const answer = await this.#tokenize({ prompt: input, add_special_tokens: false });
      if (answer === "missing") this.#serverPrompt = "no";
      if (typeof answer !== "number") return undefined;
      this.#serverPrompt = "yes";
      return answer;
    }
    if (this.#serverMessages !== "no") {
      const messages = await this.#options.wireMessages(input);
      const answer = await this.#tokenize({ messages, add_generation_prompt: true });
      if (typeof answer === "number") {
        this.#serverMessages = "yes";
        return answer;
      }
      if (answer === "unreachable") return undefined;
      this.#serverMessages = "no";
      if (answer === "missing") this.#serverPrompt = "no";
    }
    // The server counts text but not message lists: count each turn, add the template overhead.
    let total = templateOverhead(input.length);
    for (const message of input) {
      const part = await this.#server(messageText(message));
      if (part === undefined) return undefined;
      total += part;
    }
    return total;
  }

  /**
   * Asks `/tokenize`: the count; `missing` when the server has no such route; `rejected` when it
   * refused this form of request (400, 422); `unreachable` otherwise.
   */
  async #tokenize(
    fields: Record<string, unknown>,
  ): Promise<number | "missing" | "rejected" | "unreachable"> {
    const { endpoints, model, headers } = this.#options;
    const endpoint = endpoints[this.#options.pickEndpoint()];
    const route = `${endpoint.address.origin}${endpoint.address.rootPath}/tokenize`;
    try {
      const { status, json } = await requestJson(
        endpoint,
        `${endpoint.address.rootPath}/tokenize`,
        headers,
        { model, ...fields },
      );
      if (status === 200 && isObject(json)) {
        if (typeof json.count === "number") return json.count;
        if (Array.isArray(json.tokens)) return json.tokens.length;
      }
      if (status === 400 || status === 422) {
        this.#miss = `${route} rejected the request (HTTP ${status})`;
        return "rejected";
      }
      if (status === 404 || status === 405 || status === 501 || status === 200) {
        this.#miss = `the server has no ${route} (llama.cpp and Ollama have none)`;
        return "missing";
      }
      this.#miss = `${route} answered HTTP ${status}`;
      return "unreachable";
    } catch (error) {
      this.#miss = `${route} did not answer (${error instanceof Error ? error.message : String(error)})`;
      return "unreachable";
    }
  }
}
