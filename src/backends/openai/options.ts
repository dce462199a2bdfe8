/**
 * Options of the OpenAI-compatible backend: one zod schema, the type is inferred from it.
 * The CLI maps its flags onto these keys (`--base-url` is repeatable and fills `baseUrls`).
 */
import { z } from "zod";
import { ConfigError } from "../../common/errors.js";

/** Exponential backoff between HTTP attempts: `initialMs × factor^attempt`, capped, jittered. */
export const BackoffSchema = z
  .object({
    /** Delay before the first retry, before jitter. */
    initialMs: z.number().int().nonnegative().default(250),
    /** Largest delay between two attempts (and the longest `Retry-After` honoured in-process). */
    maxMs: z.number().int().nonnegative().default(20_000),
    /** Growth of the delay per attempt. */
    factor: z.number().min(1).default(2),
  })
  .strict();

/**
 * Timeouts of one HTTP attempt, in milliseconds. undici checks the header and body timeouts on
 * a tick of about half a second, so short ones fire up to that much late.
 */
export const TimeoutsSchema = z
  .object({
    /** Establishing the TCP/TLS connection. */
    connectMs: z.number().int().positive().default(10_000),
    /**
     * Waiting for the response headers. A non-streaming server sends them only once the whole
     * generation is done, so the default is long (one hour).
     */
    headersMs: z.number().int().positive().default(3_600_000),
    /** Longest silence between two chunks of the response body. */
    bodyIdleMs: z.number().int().positive().default(300_000),
    /** Whole attempt, headers and body; absent means no limit. */
    totalMs: z.number().int().positive().optional(),
  })
  .strict();

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
     * Name of the environment variable that holds the API key (not the key itself). The key is
     * sent as `Authorization: Bearer …` when the variable is set, and is never logged.
     */
    apiKeyEnv: z.string().min(1).default("OPENAI_API_KEY"),
    /** Context window in tokens; when absent it is read from the server's `/v1/models`. */
    contextWindow: z.number().int().positive().optional(),
    /**
     * Context window assumed (with a warning) when neither `contextWindow` nor the server says.
     */
    defaultContextWindow: z.number().int().positive().default(32_768),
    /** Local `tokenizer.json` used to count tokens when the server has no `/tokenize`. */
    tokenizerPath: z.string().min(1).optional(),
    /** Stream completions over server-sent events (needed for `onDelta`). */
    stream: z.boolean().default(false),
    /**
     * `native`: send `n` in one request; `split`: send `n` single requests in parallel;
     * `auto`: send `n`, and when a server returns fewer choices, ask for the rest as single
     * requests and split for that server from then on.
     */
    nMode: NModeSchema.default("auto"),
    /** HTTP-level retries after the first attempt, across endpoints. */
    retries: z.number().int().nonnegative().default(5),
    backoff: BackoffSchema.default({ initialMs: 250, maxMs: 20_000, factor: 2 }),
    timeouts: TimeoutsSchema.default({
      connectMs: 10_000,
      headersMs: 3_600_000,
      bodyIdleMs: 300_000,
    }),
    /** Requests in flight per endpoint; the backend's `maxConcurrency` is the sum over endpoints. */
    maxConcurrencyPerEndpoint: z.number().int().positive().default(64),
    /** Most samples one `generate` call takes (`n`); the engine splits larger fan-outs. */
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
