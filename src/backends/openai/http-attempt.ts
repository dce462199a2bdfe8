/**
 * One HTTP request of a chat completion on one endpoint, and the classification of what went
 * wrong: the error code, whether another attempt may succeed, and what it says about the
 * endpoint's health. Retrying is the engine's job, never this module's.
 */
import type { Dispatcher, Pool } from "undici";
import {
  AbortError,
  BackendError,
  type BackendErrorCode,
  ContextLengthError,
  networkErrorCode,
  RETRYABLE_STATUSES,
} from "../../common/errors.js";
import type { RequestOutcome } from "./endpoint-router.js";
import {
  excerptOf,
  MalformedResponseError,
  type ParsedResponse,
  parseChatCompletion,
  StreamAccumulator,
  StreamErrorEvent,
} from "./response.js";

/** A failed request: a {@link BackendError} that also says what it means for the endpoint. */
export class AttemptError extends BackendError {
  /** Base URL of the endpoint the request went to. */
  readonly endpoint: string;
  /** What the failure says about the endpoint's health. */
  readonly outcome: RequestOutcome;

  constructor(
    message: string,
    options: {
      code: BackendErrorCode;
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

  /** The same failure without its Retry-After (the wait it asks for is the endpoint's only). */
  withoutRetryAfter(): AttemptError {
    return new AttemptError(this.message, {
      code: this.code as BackendErrorCode,
      endpoint: this.endpoint,
      outcome: this.outcome,
      retryable: this.retryable,
      status: this.status,
      cause: this.cause,
    });
  }
}

/**
 * Parses a `Retry-After` header (delta-seconds or an HTTP date) into milliseconds from `nowMs`.
 * Returns undefined when the header is absent or unreadable.
 */
export function parseRetryAfterMs(
  header: string | readonly string[] | undefined,
  nowMs: number = Date.now(),
): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value !== "string" || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

const NETWORK_DESCRIPTIONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  UND_ERR_SOCKET: "connection closed by the server",
  UND_ERR_CONNECT_TIMEOUT: "connect timeout",
};

/** undici's codes for a server that went silent past the timeout. */
const SILENCE_CODES: ReadonlySet<string> = new Set([
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/** Phrases servers use when a prompt does not fit (vLLM, SGLang, llama.cpp, OpenAI). */
const CONTEXT_LENGTH_PATTERN =
  /context length|context window|maximum context|context_length_exceeded|exceed_context_size|exceeds the available context|prompt is too long|input is too long|too many tokens|longer than the model/i;

/** What one request needs. */
export interface AttemptRequest {
  readonly pool: Pool;
  /** Base URL of the endpoint, for messages. */
  readonly endpoint: string;
  /** Path of the chat-completions route on this endpoint. */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly stream: boolean;
  /**
   * Streaming: most milliseconds without a byte (headers or body). Not streaming: most
   * milliseconds for the whole request, since the server sends nothing until it is done.
   */
  readonly timeoutMs: number;
  /** The call's signal: aborting it ends the request with an {@link AbortError}. */
  readonly signal?: AbortSignal;
  /** Streamed text per choice index. */
  readonly onText?: (index: number, text: string) => void;
  /** Strings to blank out of body excerpts (the API key). */
  readonly secrets: readonly string[];
}

/** Why a non-streaming request was aborted by its own deadline. */
class DeadlineReached extends Error {}

/**
 * Sends one chat-completion request and reads the whole response. Throws an
 * {@link AttemptError} (retryable or not), a {@link ContextLengthError}, or an
 * {@link AbortError} when the caller's signal aborted.
 */
export async function attemptChatCompletion(request: AttemptRequest): Promise<ParsedResponse> {
  // undici's header and body timeouts measure silence; a non-streaming request is silent until
  // the server is done, so it gets a deadline for the whole request as well.
  const deadline = request.stream ? undefined : new AbortController();
  const caller = request.signal;
  const forward = () => deadline?.abort(caller?.reason);
  let timer: NodeJS.Timeout | undefined;
  if (deadline) {
    timer = setTimeout(() => deadline.abort(new DeadlineReached()), request.timeoutMs);
    caller?.addEventListener("abort", forward, { once: true });
  }
  try {
    const response = await request.pool.request({
      path: request.path,
      method: "POST",
      headers: request.headers,
      body: request.body,
      signal: deadline?.signal ?? caller,
      headersTimeout: request.timeoutMs,
      bodyTimeout: request.timeoutMs,
    });
    if (response.statusCode !== 200) {
      throw await statusError(request, response);
    }
    if (request.stream && isEventStream(response.headers)) {
      return await readStream(request, response.body);
    }
    return parseChatCompletion(await response.body.text());
  } catch (error) {
    throw classify(error, request, deadline?.signal.reason instanceof DeadlineReached);
  } finally {
    clearTimeout(timer);
    caller?.removeEventListener("abort", forward);
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
  const retryable = RETRYABLE_STATUSES.has(status);
  return new AttemptError(
    `HTTP ${status} from ${request.endpoint}/chat/completions: ${excerpt || "(empty body)"}${hintFor(status)}`,
    {
      code: "PACORE_ERR_HTTP_STATUS",
      endpoint: request.endpoint,
      // Rate limiting says nothing about health; a 4xx is the request's fault, not the server's.
      outcome: status === 429 ? "neutral" : retryable || status >= 500 ? "failure" : "success",
      retryable,
      status,
      retryAfterMs: parseRetryAfterMs(response.headers["retry-after"]),
    },
  );
}

function hintFor(status: number): string {
  if (status === 401 || status === 403) {
    return " (check the API key in the environment variable named by --api-key-env / apiKeyEnv)";
  }
  if (status === 404)
    return " (check --base-url and --model: the server has no such route or model)";
  return "";
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** Turns whatever a request threw into an error with a code, `retryable` and a fix. */
export function classify(error: unknown, request: AttemptRequest, pastDeadline: boolean): Error {
  if (error instanceof AttemptError || error instanceof ContextLengthError) return error;
  if (request.signal?.aborted) {
    return new AbortError("The request was aborted", { cause: request.signal.reason });
  }
  const { endpoint } = request;
  const code = networkErrorCode(error);
  if (pastDeadline || (code !== undefined && SILENCE_CODES.has(code))) {
    const what = request.stream
      ? `No byte from ${endpoint} for ${seconds(request.timeoutMs)}: the server went silent`
      : `No complete response from ${endpoint} within ${seconds(request.timeoutMs)} (without streaming, the timeout bounds the whole call)`;
    return new AttemptError(`${what}. If it is only slow, raise --timeout SECONDS (timeoutMs).`, {
      code: "PACORE_ERR_TIMEOUT",
      endpoint,
      outcome: "failure",
      retryable: true,
      cause: error,
    });
  }
  const rawCode = (error as { code?: unknown } | null)?.code;
  if (
    error instanceof MalformedResponseError ||
    rawCode === "UND_ERR_RES_CONTENT_LENGTH_MISMATCH" ||
    (typeof rawCode === "string" && rawCode.startsWith("HPE_"))
  ) {
    const excerpt =
      error instanceof MalformedResponseError
        ? `; body starts: ${redact(error.excerpt, request.secrets)}`
        : "";
    return new AttemptError(
      `Malformed 200 response from ${endpoint}: ${(error as Error).message}${excerpt}`,
      {
        code: "PACORE_ERR_MALFORMED_RESPONSE",
        endpoint,
        outcome: "failure",
        // A body cut short or garbled in transit: the next answer is usually whole.
        retryable: true,
        status: 200,
        cause: error,
      },
    );
  }
  if (error instanceof StreamErrorEvent) {
    const retryable = error.status === undefined || RETRYABLE_STATUSES.has(error.status);
    return new AttemptError(
      `Error in the event stream from ${endpoint}: ${redact(error.excerpt, request.secrets)}`,
      {
        code: error.status === undefined ? "PACORE_ERR_BACKEND" : "PACORE_ERR_HTTP_STATUS",
        endpoint,
        outcome: retryable ? "failure" : "success",
        retryable,
        status: error.status,
        cause: error,
      },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  if (code !== undefined) {
    return new AttemptError(
      `Cannot reach ${endpoint}: ${NETWORK_DESCRIPTIONS[code] ?? code} (${code}): ${message}`,
      {
        code: "PACORE_ERR_UNREACHABLE",
        endpoint,
        outcome: "failure",
        retryable: true,
        cause: error,
      },
    );
  }
  if (rawCode === "ENOTFOUND") {
    return new AttemptError(
      `Cannot reach ${endpoint}: no such host (ENOTFOUND). Check --base-url.`,
      {
        code: "PACORE_ERR_UNREACHABLE",
        endpoint,
        outcome: "failure",
        retryable: false,
        cause: error,
      },
    );
  }
  return new AttemptError(`Request to ${endpoint} failed: ${message}`, {
    code: "PACORE_ERR_BACKEND",
    endpoint,
    outcome: "neutral",
    retryable: false,
    cause: error,
  });
}

/** Blanks every secret out of a text. */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length >= 4) result = result.split(secret).join("[redacted]");
  }
  return result;
}
