/**
 * The OpenAI-compatible backend: chat completions on one server or many replicas (vLLM, SGLang,
 * llama.cpp, Ollama), over keep-alive undici pools, with routing, failover and retries.
 */
import { setMaxListeners } from "node:events";
import { Pool } from "undici";
import { AbortError, BackendError, ConfigError } from "../../common/errors.js";
import { estimateTokens } from "../../common/estimate-tokens.js";
import type {
  ChatMessage,
  Completion,
  GenerateRequest,
  GenerateResult,
  ModelBackend,
} from "../../spec/backend.js";
import { EndpointRouter, type EndpointStats } from "./endpoint-router.js";
import { AttemptError, attemptChatCompletion } from "./http-attempt.js";
import { fetchContextWindow, TokenCounter } from "./model-info.js";
import {
  type EndpointAddress,
  normalizeBaseUrl,
  type OpenAIBackendOptions,
  type OpenAIBackendOptionsInput,
  parseOpenAIBackendOptions,
} from "./options.js";
import { chatCompletionBody, type WireMessage, wireMessages } from "./request-body.js";
import { type ParsedResponse, toCompletions } from "./response.js";
import { backoffDelayMs, sleep } from "./retry-policy.js";

/** A failed HTTP attempt, as reported to {@link OpenAIBackendHooks.onAttemptError}. */
export interface AttemptFailureReport {
  /** Base URL of the endpoint that failed. */
  readonly endpoint: string;
  /** 1-based attempt number within the HTTP request. */
  readonly attempt: number;
  readonly status?: number;
  readonly message: string;
  /** Whether another attempt follows. */
  readonly willRetry: boolean;
  /** Milliseconds waited before the next attempt (0 for an immediate failover). */
  readonly delayMs: number;
}

/** Callbacks of the backend; none is required. */
export interface OpenAIBackendHooks {
  /**
   * Warnings (an assumed context window, estimated token counts). Default: `process.emitWarning`.
   */
  readonly onWarning?: (message: string) => void;
  /** Every failed HTTP attempt, retried or not. */
  readonly onAttemptError?: (report: AttemptFailureReport) => void;
}

/** Counters of one endpoint, with its address. */
export interface OpenAIEndpointStats extends EndpointStats {
  readonly baseUrl: string;
  /** True once the endpoint returned fewer choices than `n` (llama.cpp, Ollama). */
  readonly ignoresN: boolean;
}

/** Counters of the backend, for reports, tests and benchmarks. */
export interface OpenAIBackendStats {
  readonly endpoints: readonly OpenAIEndpointStats[];
  /** HTTP attempts made (first attempts and retries). */
  readonly attempts: number;
  /** Attempts that were retries. */
  readonly retries: number;
  /** Retries sent at once to another endpoint instead of after a backoff. */
  readonly failovers: number;
}

/** The OpenAI-compatible backend: a {@link ModelBackend} with counters. */
export interface OpenAIBackend extends ModelBackend {
  readonly provider: "openai";
  /** The options after parsing, defaults applied. */
  readonly options: OpenAIBackendOptions;
  /** Counters per endpoint and of retries. */
  stats(): OpenAIBackendStats;
  /** The `contextWindow` option, else the servers' report, else the default (with a warning). */
  contextWindow(): Promise<number>;
  /** The servers' `/tokenize`, else the local tokenizer, else an estimate (with a warning). */
  countTokens(input: string | readonly ChatMessage[]): Promise<number>;
  /** Rejects waiting calls and closes the connection pools (waiting for calls in flight). */
  close(): Promise<void>;
}

interface Endpoint {
  readonly address: EndpointAddress;
  readonly pool: Pool;
  ignoresN: boolean;
}

/**
 * Creates a backend over one or many OpenAI-compatible servers.
 *
 * - `n` samples go in one request where the server honours `n`; when it returns fewer choices
 *   (llama.cpp, Ollama), the rest are asked as parallel single requests, each with its own seed,
 *   and (`nMode: "auto"`) once every endpoint is known to ignore `n`, calls are split at once.
 * - Reasoning comes from `reasoning_content` / `reasoning` when the server separates it, else
 *   from the text before the last `</think>` of `content`; text is kept verbatim.
 * - Each HTTP request is retried up to `retries` times on connect errors, resets, timeouts,
 *   408/429/5xx and malformed 200 bodies: at once on another healthy endpoint when there is one,
 *   else after exponential backoff with jitter, never before a `Retry-After` has passed. Other
 *   4xx fail at once; a prompt that does not fit becomes a `ContextLengthError`.
 *
 * @example
 * ```ts
 * const backend = openaiBackend({
 *   baseUrls: ["http://gpu-1:8000/v1", "http://gpu-2:8000/v1"],
 *   model: "PaCoRe-8B",
 * });
 * const { completions } = await backend.generate({
 *   messages: [{ role: "user", content: "What is 2+2?" }],
 *   sampling: { temperature: 1, maxTokens: 4096 },
 *   n: 4,
 *   seeds: [1, 2, 3, 4],
 * });
 * await backend.close();
 * ```
 */
export function openaiBackend(
  input: OpenAIBackendOptionsInput,
  hooks: OpenAIBackendHooks = {},
): OpenAIBackend {
  const options = parseOpenAIBackendOptions(input);
  const warn =
    hooks.onWarning ?? ((message: string) => process.emitWarning(message, "PacoreWarning"));
  const { timeouts } = options;
  const endpoints: Endpoint[] = options.baseUrls.map((baseUrl) => {
    const address = normalizeBaseUrl(baseUrl);
    return {
      address,
      ignoresN: false,
      pool: new Pool(address.origin, {
        // Room for the info requests (`/tokenize`) beside a full load of completions.
        connections: options.maxConcurrencyPerEndpoint + 4,
        pipelining: 1,
        connect: { timeout: timeouts.connectMs },
        headersTimeout: timeouts.headersMs,
        bodyTimeout: timeouts.bodyIdleMs,
        keepAliveTimeout: 30_000,
      }),
    };
  });
  const duplicate = endpoints.find(
    (endpoint, i) =>
      endpoints.findIndex((other) => other.address.baseUrl === endpoint.address.baseUrl) !== i,
  );
  if (duplicate) {
    throw new ConfigError(
      `Expected distinct base URLs, got \`${duplicate.address.baseUrl}\` twice (remove the repeated --base-url)`,
    );
  }
  const router = new EndpointRouter({
    endpoints: endpoints.length,
    maxConcurrencyPerEndpoint: options.maxConcurrencyPerEndpoint,
    ejectAfterFailures: options.ejectAfterFailures,
    ejectForMs: options.ejectForMs,
  });

  const apiKey = process.env[options.apiKeyEnv];
  const secrets = apiKey ? [apiKey] : [];
  const baseHeaders: Record<string, string> = { ...options.headers };
  if (apiKey) baseHeaders.authorization = `Bearer ${apiKey}`;
  const chatHeaders = { ...baseHeaders, "content-type": "application/json" };
  const bodySettings = {
    model: options.model,
    stream: options.stream,
    logprobs: options.logprobs,
    returnTokenIds: options.returnTokenIds,
    extraBody: options.extraBody,
  };

  let attempts = 0;
  let retries = 0;
  let failovers = 0;
  let closed = false;

  /** Index of a healthy endpoint with the least load, for the info requests. */
  const pickInfoEndpoint = (): number => {
    const stats = router.stats();
    let best = 0;
    for (let i = 1; i < stats.length; i++) {
      const better =
        (stats[best].ejected && !stats[i].ejected) ||
        (stats[best].ejected === stats[i].ejected && stats[i].inFlight < stats[best].inFlight);
      if (better) best = i;
    }
    return best;
  };
  const tokenCounter = new TokenCounter({
    endpoints,
    model: options.model,
    headers: baseHeaders,
    tokenizerPath: options.tokenizerPath,
    wireMessages,
    pickEndpoint: pickInfoEndpoint,
    warn,
  });

  /** One HTTP request (a body) with retries and failover; resolves to the parsed response. */
  async function send(
    body: Record<string, unknown>,
    signal: AbortSignal | undefined,
    onText: ((index: number, text: string) => void) | undefined,
  ): Promise<{ parsed: ParsedResponse; endpoint: Endpoint }> {
    const text = JSON.stringify(body);
    const avoid = new Set<number>();
    let backoffStep = 0;
    let lastError: AttemptError | undefined;
    const total = options.retries + 1;
    for (let attempt = 1; attempt <= total; attempt++) {
      if (closed) throw new BackendError("The OpenAI backend was closed");
      const lease = await router.acquire({ avoid, signal }).catch((error: unknown) => {
        throw signal?.aborted ? new AbortError("The request was aborted", { cause: error }) : error;
      });
      const endpoint = endpoints[lease.endpoint];
      attempts++;
      if (attempt > 1) retries++;
      try {
        const parsed = await attemptChatCompletion({
          pool: endpoint.pool,
          endpoint: endpoint.address.baseUrl,
          path: `${endpoint.address.apiPath}/chat/completions`,
          headers: chatHeaders,
          body: text,
          stream: options.stream,
          headersTimeoutMs: timeouts.headersMs,
          bodyIdleTimeoutMs: timeouts.bodyIdleMs,
          totalTimeoutMs: timeouts.totalMs,
          signal,
          onText,
          secrets,
        });
        router.release(lease, "success");
        return { parsed, endpoint };
      } catch (error) {
        if (!(error instanceof AttemptError)) {
          // Aborted, or a prompt that does not fit: the endpoint did nothing wrong.
          router.release(lease, error instanceof AbortError ? "neutral" : "success");
          throw error;
        }
        router.release(lease, error.outcome, error.retryAfterMs);
        lastError = error;
        avoid.add(lease.endpoint);
        const tooLong =
          error.retryAfterMs !== undefined && error.retryAfterMs > options.backoff.maxMs;
        const willRetry = error.retryable && attempt < total && !tooLong;
        let delayMs = 0;
        if (willRetry) {
          if (router.hasFailoverFor(avoid)) failovers++;
          else delayMs = backoffDelayMs(backoffStep++, options.backoff);
        }
        hooks.onAttemptError?.({
          endpoint: error.endpoint,
          attempt,
          status: error.status,
          message: error.message,
          willRetry,
          delayMs,
        });
        if (!error.retryable) throw error;
        if (!willRetry) break;
        await sleep(delayMs, signal).catch((reason: unknown) => {
          throw new AbortError("The request was aborted", { cause: reason });
        });
      }
    }
    const last = lastError as AttemptError;
    const tried = [...avoid].map((i) => endpoints[i].address.baseUrl).join(", ");
    throw new BackendError(
      `Chat completion failed after ${Math.min(total, attempts)} attempt(s) on ${tried}; last error: ${last.message}. The server kept failing: check it, or raise retries.`,
      { retryable: true, status: last.status, retryAfterMs: last.retryAfterMs, cause: last },
    );
  }

  /** Samples `indices` of the request as single requests in parallel, each with its own seed. */
  async function sampleSingly(
    request: GenerateRequest,
    messages: readonly WireMessage[],
    indices: readonly number[],
    promptEstimate: () => number,
  ): Promise<Completion[]> {
    return Promise.all(
      indices.map(async (sample) => {
        const body = chatCompletionBody(
          bodySettings,
          messages,
          request,
          1,
          request.seeds?.[sample],
        );
        const onDelta = request.onDelta;
        const { parsed } = await send(
          body,
          request.signal,
          onDelta ? (_index, text) => onDelta({ sample, text }) : undefined,
        );
        // A server that ignores `n` may still send one choice only; more would be a server bug.
        return toCompletions(
          { choices: parsed.choices.slice(0, 1), usage: parsed.usage },
          promptEstimate,
        )[0];
      }),
    );
  }

  async function generate(request: GenerateRequest): Promise<GenerateResult> {
    const { n } = request;
    if (!Number.isInteger(n) || n < 1) {
      throw new ConfigError(`Expected \`n\` to be a positive integer, got \`${n}\``);
    }
    if (request.seeds !== undefined && request.seeds.length < n) {
      throw new ConfigError(
        `Expected one seed per sample (${n}), got ${request.seeds.length} in \`seeds\``,
      );
    }
    if (request.signal?.aborted) {
      throw new AbortError("The request was aborted", { cause: request.signal.reason });
    }
    // One child signal per call: the HTTP requests, waits and retries of this call listen to it,
    // and the caller's signal (often shared by a whole run) gets a single listener per call.
    const parent = request.signal;
    const controller = parent ? new AbortController() : undefined;
    const onAbort = () => controller?.abort(parent?.reason);
    if (controller) {
      setMaxListeners(0, controller.signal);
      parent?.addEventListener("abort", onAbort, { once: true });
    }
    try {
      return await generateWith(controller ? { ...request, signal: controller.signal } : request);
    } finally {
      parent?.removeEventListener("abort", onAbort);
    }
  }

  async function generateWith(request: GenerateRequest): Promise<GenerateResult> {
    const { n } = request;
    const messages = await wireMessages(request.messages);
    // Used only when a server reports no usage at all.
    const promptEstimate = () => estimateTokens(request.messages);
    const split =
      options.nMode === "split" ||
      (options.nMode === "auto" && endpoints.every((endpoint) => endpoint.ignoresN));
    if (n === 1 || split) {
      const all = Array.from({ length: n }, (_, i) => i);
      return { completions: await sampleSingly(request, messages, all, promptEstimate) };
    }
    const body = chatCompletionBody(bodySettings, messages, request, n, request.seeds?.[0]);
    const onDelta = request.onDelta;
    const { parsed, endpoint } = await send(
      body,
      request.signal,
      onDelta ? (sample, text) => onDelta({ sample, text }) : undefined,
    );
    const completions = toCompletions(
      { choices: parsed.choices.slice(0, n), usage: parsed.usage },
      promptEstimate,
    );
    if (completions.length < n) {
      endpoint.ignoresN = true;
      const missing = Array.from(
        { length: n - completions.length },
        (_, i) => completions.length + i,
      );
      completions.push(...(await sampleSingly(request, messages, missing, promptEstimate)));
    }
    return { completions };
  }

  let contextWindowPromise: Promise<number> | undefined;

  return {
    specificationVersion: "v1",
    provider: "openai",
    model: options.model,
    options,
    maxConcurrency: options.maxConcurrencyPerEndpoint * endpoints.length,
    maxSamplesPerCall: options.maxSamplesPerCall,
    generate,
    contextWindow() {
      if (options.contextWindow !== undefined) return Promise.resolve(options.contextWindow);
      contextWindowPromise ??= fetchContextWindow(endpoints, options.model, baseHeaders).then(
        (window) => {
          if (window !== undefined) return window;
          warn(
            `The servers do not report a context window for ${options.model} (no max_model_len in /v1/models); assuming ${options.defaultContextWindow} tokens. Set contextWindow (--context) to the real one.`,
          );
          return options.defaultContextWindow;
        },
      );
      return contextWindowPromise;
    },
    countTokens(input: string | readonly ChatMessage[]) {
      return tokenCounter.count(input);
    },
    stats() {
      return {
        endpoints: router.stats().map((stats, i) => ({
          ...stats,
          baseUrl: endpoints[i].address.baseUrl,
          ignoresN: endpoints[i].ignoresN,
        })),
        attempts,
        retries,
        failovers,
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      router.close(new BackendError("The OpenAI backend was closed"));
      await Promise.all(endpoints.map((endpoint) => endpoint.pool.close()));
    },
  };
}
