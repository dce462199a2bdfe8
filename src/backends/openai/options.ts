/**
 * Options of the OpenAI-compatible backend: one zod schema, the type is inferred from it.
 * The CLI maps its flags onto these keys (`--base-url` is repeatable and fills `baseUrls`).
 */
import { z } from "zod";
import { ConfigError } from "../../common/errors.js";

/** Default silence timeout: most milliseconds a call may go without a byte from the server. */
export const DEFAULT_TIMEOUT_MS = 300_000;

/** How `n > 1` samples of one prompt are requested. */
export const NModeSchema = z.enum(["auto", "native", "split"]);

/**
 * Options of {@link openaiBackend}. Parse user input with `OpenAIBackendOptionsSchema.parse`; the
 * backend factory does it for you.
 */
export const OpenAIBackendOptionsSchema = z
  .object({
    /**
     * Base URLs of the server replicas, such as `http://gpu-1:8000/v1` (with or without the
     * trailing `/v1`). Trajectories are spread over all of them.
     */
    baseUrls: z.array(z.string().min(1)).min(1),
    /** Model name sent in every request and reported in results. */
    model: z.string().min(1),
    /**
     * Name of the environment variable that holds the API key (not the key itself), sent as
     * `Authorization: Bearer …` and never logged. When absent, `OPENAI_API_KEY` is used if it is
     * set; a variable named here must be set and non-empty, else creating the backend fails.
     */
    apiKeyEnv: z.string().min(1).optional(),
    /**
     * Context window in tokens; when absent it is read from the servers (`/v1/models`,
     * llama.cpp's `/props`), and is unknown when they do not say.
     */
    contextWindow: z.number().int().positive().optional(),
    /** Local `tokenizer.json` used to count tokens when the server has no `/tokenize`. */
    tokenizerPath: z.string().min(1).optional(),
    /**
     * Stream completions over server-sent events (default), with `stream_options.include_usage`.
     * `false` is for servers that cannot stream: then no `onDelta`, and the timeout bounds the
     * whole call instead of its silences.
     */
    stream: z.boolean().default(true),
    /**
     * `native`: send `n` in one request; `split`: send `n` single requests in parallel;
     * `auto`: send `n`, and when a server returns fewer choices, ask for the rest as single
     * requests and split for that server from then on.
     */
    nMode: NModeSchema.default("auto"),
    /**
     * Silence timeout in milliseconds, when a request sets no `timeoutMs`: most time a streamed
     * call may go without a byte from the server (headers or body), so a long generation that
     * keeps streaming is never cut. With `stream: false` it bounds the whole call. Default 300 s.
     * A call that times out fails with `PACORE_ERR_TIMEOUT` (retryable).
     */
    timeoutMs: z.number().int().positive().default(DEFAULT_TIMEOUT_MS),
    /** Most milliseconds to establish a TCP/TLS connection. */
    connectTimeoutMs: z.number().int().positive().default(10_000),
    /** Requests in flight per endpoint; the backend's `maxConcurrency` is the sum over endpoints. */
    maxConcurrencyPerEndpoint: z.number().int().positive().default(64),
    /**
     * Most samples one `generate` call takes (`n`); the engine splits larger fan-outs. With
     * `nMode: "split"` the backend reports 1: split samples share nothing, and a call fails whole.
     */
    maxSamplesPerCall: z.number().int().positive().default(16),
    /** Consecutive failures after which an endpoint is taken out of the rotation. */
    ejectAfterFailures: z.number().int().positive().default(3),
    /** How long an ejected endpoint stays out before it is tried again. */
    ejectForMs: z.number().int().nonnegative().default(10_000),
    /**
     * Extra fields merged into every chat-completion body, for server-specific parameters such
     * as `min_p`, `repetition_penalty` or `chat_template_kwargs`.
     */
    extraBody: z.record(z.string(), z.unknown()).default({}),
    /** Ask for the log-probability of each sampled token in every request. */
    logprobs: z.boolean().default(false),
    /** Ask vLLM for the generated token ids (`return_token_ids`). */
    returnTokenIds: z.boolean().default(false),
    /** Extra HTTP headers sent with every request. */
    headers: z.record(z.string(), z.string()).default({}),
  })
  .strict();

/** Options as a user writes them (defaults not yet applied). */
export type OpenAIBackendOptionsInput = z.input<typeof OpenAIBackendOptionsSchema>;

/** Options after parsing, every default applied. */
export type OpenAIBackendOptions = z.output<typeof OpenAIBackendOptionsSchema>;

/**
 * Parses backend options, throwing a {@link ConfigError} that names each bad key, what was
 * expected and what came.
 */
export function parseOpenAIBackendOptions(input: unknown): OpenAIBackendOptions {
  const parsed = OpenAIBackendOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `\`${issue.path.join(".") || "(options)"}\`: ${issue.message}`)
      .join("; ");
    throw new ConfigError(`Invalid OpenAI backend options: ${problems}`, { cause: parsed.error });
  }
  for (const baseUrl of parsed.data.baseUrls) normalizeBaseUrl(baseUrl);
  return parsed.data;
}

/** A server address split for the HTTP client. */
export interface EndpointAddress {
  /** `http://host:port`, what the connection pool is keyed by. */
  readonly origin: string;
  /** Path of the OpenAI API, ending in `/v1` (such as `/v1` or `/openai/v1`). */
  readonly apiPath: string;
  /** Path of the server root (where vLLM and SGLang serve `/tokenize`): `apiPath` less `/v1`. */
  readonly rootPath: string;
  /** The normalized base URL, `origin + apiPath`. */
  readonly baseUrl: string;
}

/**
 * Normalizes a base URL: strips trailing slashes, and appends `/v1` unless the path already ends
 * in it. Throws a {@link ConfigError} for anything that is not an http(s) URL.
 */
export function normalizeBaseUrl(baseUrl: string): EndpointAddress {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch (error) {
    throw new ConfigError(
      `Expected a base URL such as \`http://localhost:8000/v1\`, got \`${baseUrl}\` (fix --base-url)`,
      { cause: error },
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(
      `Expected an http:// or https:// base URL, got \`${baseUrl}\` (fix --base-url)`,
    );
  }
  let path = url.pathname.replace(/\/+$/, "");
  if (!path.endsWith("/v1")) path = `${path}/v1`;
  const rootPath = path.slice(0, -"/v1".length);
  return { origin: url.origin, apiPath: path, rootPath, baseUrl: `${url.origin}${path}` };
}
