/**
 * One HTTP attempt of a chat completion on one endpoint, and the classification of what went
 * wrong: retryable or not, and whether it says something about the endpoint's health.
 */
import type { Dispatcher, Pool } from "undici";
import { AbortError, BackendError, ContextLengthError } from "../../common/errors.js";
import type { RequestOutcome } from "./endpoint-router.js";
import {
  excerptOf,
  MalformedResponseError,
  type ParsedResponse,
  parseChatCompletion,
  StreamAccumulator,
  StreamErrorEvent,
} from "./response.js";
import { parseRetryAfterMs, RETRYABLE_STATUSES } from "./retry-policy.js";

/** A failed attempt: a {@link BackendError} that also says what it means for the endpoint. */
export class AttemptError extends BackendError {
  /** Base URL of the endpoint the attempt went to. */
  readonly endpoint: string;
  /** What the failure says about the endpoint's health. */
  readonly outcome: RequestOutcome;

  constructor(
    message: string,
    options: {
      endpoint: string;
      outcome: RequestOutcome;
      retryable: boolean;
      status?: number;
      retryAfterMs?: number;
      cause?: unknown;
    },
  ) {
    super(message, options);
    this.endpoint = options.endpoint;
    this.outcome = options.outcome;
  }
}

/** Network error codes that mean "the connection failed; another attempt may work". */
const TRANSIENT_NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
  "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH",
  "HPE_INVALID_CONSTANT",
  "HPE_UNEXPECTED_CONTENT_LENGTH",
]);

const NETWORK_DESCRIPTIONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  UND_ERR_SOCKET: "connection closed by the server",
  UND_ERR_CONNECT_TIMEOUT: "connect timeout",
  UND_ERR_HEADERS_TIMEOUT: "no response headers within the headers timeout",
  UND_ERR_BODY_TIMEOUT: "response body idle past the body timeout",
};

/** The error code of a network error, looking through `cause` chains and aggregate errors. */
export function networkCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && TRANSIENT_NETWORK_CODES.has(code)) return code;
    const errors = (current as { errors?: unknown }).errors;
    if (Array.isArray(errors)) {
      for (const inner of errors) {
        const innerCode = networkCode(inner);
        if (innerCode) return innerCode;
      }
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Phrases servers use when a prompt does not fit (vLLM, SGLang, llama.cpp, OpenAI). */
const CONTEXT_LENGTH_PATTERN =
  /context length|context window|maximum context|context_length_exceeded|exceed_context_size|exceeds the available context|prompt is too long|input is too long|too many tokens|longer than the model/i;

/** What one attempt needs. */
export interface AttemptRequest {
  readonly pool: Pool;
  /** Base URL of the endpoint, for messages. */
  readonly endpoint: string;
  /** Path of the chat-completions route on this endpoint. */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly stream: boolean;
  readonly headersTimeoutMs: number;
  readonly bodyIdleTimeoutMs: number;
  readonly totalTimeoutMs?: number;
  /** The caller's signal: aborting it ends the attempt with an {@link AbortError}. */
  readonly signal?: AbortSignal;
  /** Streamed text per choice index. */
  readonly onText?: (index: number, text: string) => void;
  /** Strings to blank out of body excerpts (the API key). */
  readonly secrets: readonly string[];
}

/**
 * Sends one chat-completion request and reads the whole response. Throws an
 * {@link AttemptError} (retryable or not), a {@link ContextLengthError}, or an
 * {@link AbortError} when the caller's signal aborted.
 */
export async function attemptChatCompletion(request: AttemptRequest): Promise<ParsedResponse> {
  // A controller and a timer only when there is a total timeout: they cost per request.
  const total = request.totalTimeoutMs === undefined ? undefined : new AbortController();
  const timer =
    total === undefined
      ? undefined
      : setTimeout(() => total.abort(new Error("total timeout")), request.totalTimeoutMs);
  const signal =
    total === undefined
      ? request.signal
      : request.signal
        ? AbortSignal.any([request.signal, total.signal])
        : total.signal;
  try {
    const response = await request.pool.request({
      path: request.path,
      method: "POST",
      headers: request.headers,
      body: request.body,
      signal,
      headersTimeout: request.headersTimeoutMs,
      bodyTimeout: request.bodyIdleTimeoutMs,
    });
    if (response.statusCode !== 200) {
      throw await statusError(request, response);
    }
    if (request.stream && isEventStream(response.headers)) {
      return await readStream(request, response.body);
    }
    return parseChatCompletion(await response.body.text());
  } catch (error) {
    throw classify(error, request, total?.signal);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

function isEventStream(headers: Dispatcher.ResponseData["headers"]): boolean {
  const type = headers["content-type"];
  return String(type ?? "").includes("text/event-stream");
}

async function readStream(
  request: AttemptRequest,
  body: Dispatcher.ResponseData["body"],
): Promise<ParsedResponse> {
  const accumulator = new StreamAccumulator(request.onText);
  const decoder = new TextDecoder();
  for await (const chunk of body) {
    accumulator.push(decoder.decode(chunk as Buffer, { stream: true }));
  }
  accumulator.push(decoder.decode());
  return accumulator.finish();
}

async function statusError(
  request: AttemptRequest,
  response: Dispatcher.ResponseData,
): Promise<Error> {
  const status = response.statusCode;
  let text = "";
  try {
    text = await response.body.text();
  } catch {
    // The body of an error response is only used for the message.
  }
  const excerpt = redact(excerptOf(text), request.secrets);
  if ((status === 400 || status === 413 || status === 422) && CONTEXT_LENGTH_PATTERN.test(text)) {
    return new ContextLengthError(
      `The prompt does not fit the model's context window (HTTP ${status} from ${request.endpoint}): ${excerpt}. Lower max tokens or the round's fan-out, or set --context to the server's real window.`,
      { status },
    );
  }
  const retryAfterMs = parseRetryAfterMs(response.headers["retry-after"]);
  const retryable = RETRYABLE_STATUSES.has(status);
  return new AttemptError(
    `HTTP ${status} from ${request.endpoint}/chat/completions: ${excerpt || "(empty body)"}${hintFor(status)}`,
    {
      endpoint: request.endpoint,
      outcome: status === 429 ? "neutral" : retryable ? "failure" : "success",
      retryable,
      status,
      retryAfterMs,
    },
  );
}

function hintFor(status: number): string {
  if (status === 401 || status === 403) {
    return " (check the API key in the environment variable named by apiKeyEnv)";
  }
  if (status === 404)
    return " (check --base-url and --model: the server has no such route or model)";
  return "";
}

function classify(error: unknown, request: AttemptRequest, total: AbortSignal | undefined): Error {
  if (error instanceof AttemptError || error instanceof ContextLengthError) return error;
  if (request.signal?.aborted) {
    return new AbortError("The request was aborted", { cause: request.signal.reason });
  }
  const { endpoint } = request;
  if (total?.aborted) {
    return new AttemptError(
      `No complete response from ${endpoint} within the total timeout of ${request.totalTimeoutMs} ms`,
      { endpoint, outcome: "failure", retryable: true, cause: error },
    );
  }
  if (error instanceof MalformedResponseError) {
    return new AttemptError(
      `Malformed 200 response from ${endpoint}: ${error.message}; body starts: ${redact(error.excerpt, request.secrets)}`,
      { endpoint, outcome: "failure", retryable: true, status: 200, cause: error },
    );
  }
  if (error instanceof StreamErrorEvent) {
    const retryable = error.status === undefined || error.status >= 500 || error.status === 429;
    return new AttemptError(
      `Error in the event stream from ${endpoint}: ${redact(error.excerpt, request.secrets)}`,
      {
        endpoint,
        outcome: retryable ? "failure" : "success",
        retryable,
        status: error.status,
        cause: error,
      },
    );
  }
  const code = networkCode(error);
  if (code) {
    const description = NETWORK_DESCRIPTIONS[code] ?? code;
    return new AttemptError(
      `Request to ${endpoint} failed: ${description} (${code}): ${(error as Error).message}`,
      { endpoint, outcome: "failure", retryable: true, cause: error },
    );
  }
  return new AttemptError(
    `Request to ${endpoint} failed: ${error instanceof Error ? error.message : String(error)}`,
    { endpoint, outcome: "neutral", retryable: false, cause: error },
  );
}

/** Blanks every secret out of a text. */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length >= 4) result = result.split(secret).join("[redacted]");
  }
  return result;
}
