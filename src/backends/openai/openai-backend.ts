/**
 * The OpenAI-compatible backend: chat completions on one server or many replicas (vLLM, SGLang,
 * llama.cpp, Ollama), over keep-alive undici pools, with routing and health tracking. It makes
 * one HTTP attempt per call and classifies failures; the engine decides whether to try again.
 */
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
import { callSignal } from "./call-signal.js";
import { EndpointRouter, type EndpointStats } from "./endpoint-router.js";
import { AttemptError, attemptChatCompletion } from "./http-attempt.js";
import { fetchContextWindow, TokenCounter, type TokenCountSource } from "./model-info.js";
import {
  type EndpointAddress,
  normalizeBaseUrl,
  type OpenAIBackendOptions,
  type OpenAIBackendOptionsInput,
  parseOpenAIBackendOptions,
} from "./options.js";
import { chatCompletionBody, type WireMessage, wireMessages } from "./request-body.js";
import { type ParsedResponse, toCompletions } from "./response.js";

/** Counters of one endpoint, with its address. */
export interface OpenAIEndpointStats extends EndpointStats {
  readonly baseUrl: string;
  /** True once the endpoint returned fewer choices than `n` (llama.cpp, Ollama). */
  readonly ignoresN: boolean;
}

/** Counters of the backend, for reports, tests and benchmarks. */
export interface OpenAIBackendStats {
  readonly endpoints: readonly OpenAIEndpointStats[];
}

/** The OpenAI-compatible backend: a {@link ModelBackend} with counters. */
export interface OpenAIBackend extends ModelBackend {
  readonly provider: "openai";
  /** The options after parsing, defaults applied. */
  readonly options: OpenAIBackendOptions;
  /** Counters per endpoint. */
  stats(): OpenAIBackendStats;
  /** The `contextWindow` option, else the servers' report, else undefined (unknown). */
  contextWindow(): Promise<number | undefined>;
  /**
   * The servers' `/tokenize`, else the local tokenizer, else an estimate;
   * {@link OpenAIBackend.tokenCountSource} says which the last count was.
   */
  countTokens(input: string | readonly ChatMessage[]): Promise<number>;
  /** Where the last token count came from: `server`, `tokenizer` or `estimate`. */
  tokenCountSource(): TokenCountSource;
  /** Why the last token count was an estimate (the route missing, the server down); else undefined. */
  estimatedTokenCounts(): string | undefined;
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
 * - One call is one HTTP request on one endpoint (or `n` single requests when samples are split),
 *   never retried here: every failure is a `BackendError` with a code (`PACORE_ERR_UNREACHABLE`,
 *   `PACORE_ERR_TIMEOUT`, `PACORE_ERR_HTTP_STATUS` with `status` and `retryAfterMs`,
 *   `PACORE_ERR_MALFORMED_RESPONSE`), `retryable` for the engine's one retry loop; a prompt that
 *   does not fit is a `ContextLengthError`. The next attempt goes to the least-loaded healthy
 *   endpoint: one that just failed is ranked behind the others, and ejected after
 *   `ejectAfterFailures` failures in a row. A server's Retry-After cools its own endpoint; the
 *   error carries it (`retryAfterMs`, for the engine to wait) only when no other endpoint could
 *   take the next attempt now.
 * - Streams by default. The timeout (`request.timeoutMs`, else `timeoutMs`, 300 s) is silence:
 *   the most time without a byte from the server, so a long generation that keeps streaming is
 *   never cut. With `stream: false` it bounds the whole call.
 * - `apiKeyEnv` names the variable holding the API key; it must be set when given (else a
 *   `ConfigError` at creation). Without it, `OPENAI_API_KEY` is sent when set.
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
export function openaiBackend(input: OpenAIBackendOptionsInput): OpenAIBackend {
  const options = parseOpenAIBackendOptions(input);
  const apiKey = readApiKey(options.apiKeyEnv);
  const endpoints: Endpoint[] = options.baseUrls.map((baseUrl) => {
    const address = normalizeBaseUrl(baseUrl);
    return {
      address,
      ignoresN: false,
      pool: new Pool(address.origin, {
        // Room for the info requests (`/tokenize`) beside a full load of completions.
        connections: options.maxConcurrencyPerEndpoint + 4,
        pipelining: 1,
        connect: { timeout: options.connectTimeoutMs },
        // Each request sets its own; these cover the info requests' defaults.
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
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
  });

  /** One HTTP request (a body) on the endpoint the router picks; resolves to the response. */
  async function send(
    body: Record<string, unknown>,
    request: GenerateRequest,
    onText: ((index: number, text: string) => void) | undefined,
  ): Promise<{ parsed: ParsedResponse; endpoint: Endpoint }> {
    if (closed) throw new BackendError("The OpenAI backend was closed");
    const { signal } = request;
    const lease = await router.acquire({ signal }).catch((error: unknown) => {
      throw signal?.aborted ? new AbortError("The request was aborted", { cause: error }) : error;
    });
    const endpoint = endpoints[lease.endpoint];
    try {
      const parsed = await attemptChatCompletion({
        pool: endpoint.pool,
        endpoint: endpoint.address.baseUrl,
        path: `${endpoint.address.apiPath}/chat/completions`,
        headers: chatHeaders,
        body: JSON.stringify(body),
        stream: options.stream,
        timeoutMs: request.timeoutMs ?? options.timeoutMs,
        signal,
        onText,
        secrets,
      });
      router.release(lease, "success");
      return { parsed, endpoint };
    } catch (error) {
      if (error instanceof AttemptError) {
        router.release(lease, error.outcome, error.retryAfterMs);
        // A Retry-After speaks for its endpoint, which the router now keeps cool. Where another
        // endpoint can take the next attempt at once, the engine need not wait it out.
        if (error.retryAfterMs !== undefined && router.anyAvailable()) {
          throw error.withoutRetryAfter();
        }
      } else {
        // Aborted, or a prompt that does not fit: the endpoint did nothing wrong.
        router.release(lease, error instanceof AbortError ? "neutral" : "success");
      }
      throw error;
    }
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
          request,
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
    if (request.signal === undefined) return generateWith(request);
    const call = callSignal(request.signal);
    try {
      return await generateWith({ ...request, signal: call.signal });
    } finally {
      call.release();
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
      request,
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

  let contextWindowPromise: Promise<number | undefined> | undefined;

  return {
    specificationVersion: "v1",
    provider: "openai",
    model: options.model,
    options,
    maxConcurrency: options.maxConcurrencyPerEndpoint * endpoints.length,
    // Split samples share nothing, and a call fails whole: one per call keeps a failed sample
    // from costing its siblings another attempt.
    maxSamplesPerCall: options.nMode === "split" ? 1 : options.maxSamplesPerCall,
    generate,
    contextWindow() {
      if (options.contextWindow !== undefined) return Promise.resolve(options.contextWindow);
      // Unknown stays unknown: the engine states what it assumes instead.
      contextWindowPromise ??= fetchContextWindow(endpoints, options.model, baseHeaders);
      return contextWindowPromise;
    },
    countTokens(input: string | readonly ChatMessage[]) {
      return tokenCounter.count(input);
    },
    tokenCountSource() {
      return tokenCounter.lastSource;
    },
    estimatedTokenCounts() {
      return tokenCounter.estimateReason;
    },
    stats() {
      return {
        endpoints: router.stats().map((stats, i) => ({
          ...stats,
          baseUrl: endpoints[i].address.baseUrl,
          ignoresN: endpoints[i].ignoresN,
        })),
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

/**
 * The API key: from the variable `apiKeyEnv` names, which must then be set and non-empty (a key
 * that silently goes missing shows up only as 401s later); else from `OPENAI_API_KEY` when set.
 */
function readApiKey(apiKeyEnv: string | undefined): string | undefined {
  if (apiKeyEnv === undefined) return process.env.OPENAI_API_KEY || undefined;
  const key = process.env[apiKeyEnv];
  if (key === undefined || key === "") {
    throw new ConfigError(
      `\`--api-key-env ${apiKeyEnv}\` names an environment variable that is ${key === undefined ? "not set" : "empty"}: set ${apiKeyEnv} to the API key, or leave out --api-key-env (apiKeyEnv) for a server without one`,
    );
  }
  return key;
}
