/**
 * `functionBackend`: any async function as a `ModelBackend`, in one call.
 */
import {
  AbortError,
  BackendError,
  ConfigError,
  httpStatus,
  isRetryable,
  PacoreError,
} from "../../common/errors.js";
import { estimateTokens } from "../../common/estimate-tokens.js";
import { hashSeed } from "../../common/random.js";
import { splitReasoning } from "../../common/think.js";
import type {
  ChatMessage,
  Completion,
  GenerateRequest,
  GenerateResult,
  ModelBackend,
  SamplingOptions,
  Usage,
} from "../../spec/backend.js";

/** What the wrapped function receives: one sample of one request. */
export interface FunctionSampleRequest {
  /** The chat to continue. */
  readonly messages: readonly ChatMessage[];
  readonly sampling: SamplingOptions;
  /**
   * This sample's seed: `request.seeds[sample]`, or when the caller gave none, a hash of the
   * messages and the sample index (so it is always a stable number).
   */
  readonly seed: number;
  /** 0-based index of this sample within the request. */
  readonly sample: number;
  /** Whether the caller asked for log-probabilities. */
  readonly logprobs: boolean;
  /**
   * Aborted when the caller aborts, when another sample of the same request failed (its result
   * would be thrown away), and once the request has ended. Pass it on to `fetch` and the like.
   */
  readonly signal: AbortSignal;
  /** Streams generated text of this sample; when never called, the content is sent once. */
  readonly onDelta: (text: string) => void;
}

/**
 * What the wrapped function returns: the raw text (a `<think>…</think>` block is split off into
 * `reasoning`), or a completion-like object with at least `content`. Missing fields are filled:
 * `finishReason` `stop`; `usage` estimated (see `estimateTokens`); `reasoning` split from
 * `content` when the object has none and its content holds a `</think>`.
 */
export type FunctionSampleResult =
  | string
  | (Partial<Omit<Completion, "usage">> & { content: string; usage?: Partial<Usage> });

/** A function that generates one sample. */
export type FunctionSampleGenerator = (
  request: FunctionSampleRequest,
) => Promise<FunctionSampleResult> | FunctionSampleResult;

/** Options of `functionBackend`. */
export interface FunctionBackendOptions {
  /** Model name reported in results; default `function`. */
  readonly model?: string;
  /** Context window in tokens, when known; `contextWindow()` resolves to it. */
  readonly contextWindow?: number;
  /** Output budget per call when a run sets no `maxTokens` (the backend's `defaultMaxTokens`). */
  readonly defaultMaxTokens?: number;
  /**
   * Most calls of the wrapped function at once, across all requests; also reported to the engine
   * as the backend's `maxConcurrency`. Default: no limit.
   */
  readonly maxConcurrency?: number;
  /**
   * Most samples per request (`n`) the engine sends in one call; default 1. The function is
   * called once per sample anyway, and a call fails as a whole, so one sample per call keeps a
   * retry from regenerating samples that had succeeded.
   */
  readonly maxSamplesPerCall?: number;
  /**
   * Counts tokens (for usage the function does not report, and for the budget planner).
   * Default: `estimateTokens`, an approximation (about 4 letters per token, one per digit and
   * per punctuation mark, plus a few tokens per chat message).
   */
  readonly countTokens?: (input: string | readonly ChatMessage[]) => number | Promise<number>;
}

/** Turns whatever the function threw into a `PacoreError` (pacore errors pass through). */
function toBackendError(error: unknown, model: string): PacoreError {
  if (error instanceof PacoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new BackendError(`Function backend \`${model}\` failed: ${message}`, {
    cause: error,
    retryable: isRetryable(error),
    status: httpStatus(error),
  });
}

function abortError(signal: AbortSignal): AbortError {
  return new AbortError("The backend call was aborted", { cause: signal.reason });
}

/** A counting semaphore whose waiters can give up when their signal aborts. */
class Semaphore {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.#free = limit;
  }

  async acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw abortError(signal);
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        const index = this.#waiting.indexOf(grant);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(abortError(signal));
      };
      this.#waiting.push(grant);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return `an object with keys ${Object.keys(value).join(", ")}`;
  return typeof value;
}

function checkPositiveInteger(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
    throw new ConfigError(`Expected \`${name}\` to be a positive integer, got \`${value}\``);
  }
}

/**
 * Wraps an async function as a `ModelBackend`. The function is called once per sample: a request
 * for `n` samples makes `n` calls at once (limited by `maxConcurrency`), each with its own seed.
 *
 * - Return a string (a `<think>…</think>` block is split: `reasoning` is the text inside,
 *   `content` everything after the last `</think>`, verbatim) or a completion-like object.
 * - Usage the function does not report is counted with `countTokens` (by default the estimate
 *   `estimateTokens`): prompt tokens of the messages, completion tokens of reasoning plus content,
 *   cached tokens 0.
 * - Errors: pacore errors (`BackendError`, `ContextLengthError`, …) pass through; anything else
 *   becomes a `BackendError`, retryable when it looks transient (network codes such as
 *   `ECONNRESET`, `TimeoutError`, HTTP 408/429/5xx, or a `retryable: true` field).
 * - Aborting `request.signal` rejects with `AbortError` at once, even if the function ignores
 *   the signal it is given.
 *
 * @example
 * const backend = functionBackend(async ({ messages, seed }) => {
 *   const response = await fetch("http://localhost:8080/generate", {
 *     method: "POST",
 *     body: JSON.stringify({ messages, seed }),
 *   });
 *   return (await response.json()).text; // "<think>…</think>The answer is 4."
 * }, { model: "my-model", contextWindow: 32768, maxConcurrency: 8 });
 */
export function functionBackend(
  generateSample: FunctionSampleGenerator,
  options: FunctionBackendOptions = {},
): ModelBackend {
  if (typeof generateSample !== "function") {
    throw new ConfigError(
      `Expected functionBackend's first argument to be a function, got ${describeValue(generateSample)}`,
    );
  }
  checkPositiveInteger("maxConcurrency", options.maxConcurrency);
  checkPositiveInteger("maxSamplesPerCall", options.maxSamplesPerCall);
  checkPositiveInteger("contextWindow", options.contextWindow);
  checkPositiveInteger("defaultMaxTokens", options.defaultMaxTokens);
  const model = options.model ?? "function";
  const count = options.countTokens ?? estimateTokens;
  const limiter =
    options.maxConcurrency === undefined ? undefined : new Semaphore(options.maxConcurrency);

  async function runSample(
    request: GenerateRequest,
    sample: number,
    seed: number,
    signal: AbortSignal,
    promptTokens: () => Promise<number>,
  ): Promise<Completion> {
    if (limiter) await limiter.acquire(signal);
    let streamed = false;
    let raw: FunctionSampleResult;
    try {
      if (signal.aborted) throw abortError(signal);
      raw = await generateSample({
        messages: request.messages,
        sampling: request.sampling,
        seed,
        sample,
        logprobs: request.logprobs ?? false,
        signal,
        onDelta: (text) => {
          streamed = true;
          request.onDelta?.({ sample, text });
        },
      });
    } finally {
      limiter?.release();
    }
    let content: string;
    let reasoning: string | undefined;
    let extra: Partial<Pick<Completion, "finishReason" | "tokenIds" | "logprobs">> = {};
    let usage: Partial<Usage> = {};
    if (typeof raw === "string") {
      ({ content, reasoning } = splitReasoning(raw));
    } else if (typeof raw === "object" && raw !== null && typeof raw.content === "string") {
      const { finishReason, tokenIds, logprobs } = raw;
      extra = { finishReason, tokenIds, logprobs };
      usage = raw.usage ?? {};
      if (raw.reasoning === undefined) ({ content, reasoning } = splitReasoning(raw.content));
      else ({ content, reasoning } = raw);
    } else {
      throw new BackendError(
        `Expected the function of backend \`${model}\` to return a string or an object with a string \`content\`, got ${describeValue(raw)}`,
      );
    }
    if (!streamed && request.onDelta && content !== "") request.onDelta({ sample, text: content });
    const completionTokens =
      usage.completionTokens ??
      (reasoning === undefined ? 0 : await count(reasoning)) + (await count(content));
    return {
      content,
      ...(reasoning === undefined ? {} : { reasoning }),
      finishReason: extra.finishReason ?? "stop",
      usage: {
        promptTokens: usage.promptTokens ?? (await promptTokens()),
        completionTokens,
        cachedTokens: usage.cachedTokens ?? 0,
      },
      ...(extra.tokenIds === undefined ? {} : { tokenIds: extra.tokenIds }),
      ...(extra.logprobs === undefined ? {} : { logprobs: extra.logprobs }),
    };
  }

  return {
    specificationVersion: "v1",
    provider: "function",
    model,
    maxConcurrency: options.maxConcurrency,
    maxSamplesPerCall: options.maxSamplesPerCall ?? 1,
    ...(options.defaultMaxTokens !== undefined && { defaultMaxTokens: options.defaultMaxTokens }),

    async generate(request: GenerateRequest): Promise<GenerateResult> {
      const { n, seeds, signal } = request;
      if (!Number.isInteger(n) || n < 1) {
        throw new ConfigError(`Expected \`n\` to be a positive integer, got \`${n}\``);
      }
      if (seeds !== undefined && seeds.length !== n) {
        throw new ConfigError(
          `Expected \`seeds\` to have one seed per sample (n = ${n}), got ${seeds.length}`,
        );
      }
      if (signal?.aborted) throw abortError(signal);

      // One controller for the call: aborted by the caller, or when a sample fails.
      const controller = new AbortController();
      const onAbort = () => controller.abort(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      let promptTokens: Promise<number> | undefined;
      const getPromptTokens = () => {
        promptTokens ??= Promise.resolve(count(request.messages));
        return promptTokens;
      };
      const fallbackSeed = seeds === undefined ? hashSeed(JSON.stringify(request.messages)) : 0;
      const aborted = new Promise<never>((_, reject) => {
        controller.signal.addEventListener(
          "abort",
          () => reject(signal?.aborted ? abortError(signal) : controller.signal.reason),
          { once: true },
        );
      });
      aborted.catch(() => {});
      try {
        const samples = Array.from({ length: n }, (_, sample) =>
          runSample(
            request,
            sample,
            seeds?.[sample] ?? hashSeed(fallbackSeed, sample),
            controller.signal,
            getPromptTokens,
          ).catch((error: unknown) => {
            const failure = signal?.aborted ? abortError(signal) : toBackendError(error, model);
            if (!controller.signal.aborted) controller.abort(failure);
            throw failure;
          }),
        );
        const completions = await Promise.race([Promise.all(samples), aborted]);
        return { completions };
      } finally {
        signal?.removeEventListener("abort", onAbort);
        if (!controller.signal.aborted) controller.abort(new AbortError("The call has ended"));
      }
    },

    async contextWindow() {
      return options.contextWindow;
    },

    async countTokens(input) {
      return count(input);
    },
  };
}
