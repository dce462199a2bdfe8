/**
 * OpenAI-shaped errors: `{ error: { message, type, param, code } }` with the status that says
 * what went wrong, and the mapping from pacore's error codes onto them.
 */
import { type ErrorCode, PacoreError } from "../common/errors.js";
import { UnknownModelError } from "./models.js";

/** The `type` field of an OpenAI error object. */
export type OpenAIErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "not_found_error"
  | "rate_limit_error"
  | "server_error";

/** An error the server answers with: status, type, message, and the field or code it concerns. */
export class HttpError extends Error {
  readonly status: number;
  readonly type: OpenAIErrorType;
  readonly param: string | null;
  readonly code: string | null;
  /** Extra response headers (`Retry-After`, `Allow`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    type: OpenAIErrorType,
    message: string,
    options: {
      param?: string | null;
      code?: string | null;
      headers?: Record<string, string>;
      cause?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HttpError";
    this.status = status;
    this.type = type;
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.headers = options.headers ?? {};
  }

  /** The response body. */
  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return {
      error: { message: this.message, type: this.type, param: this.param, code: this.code },
    };
  }
}

/** The HTTP status of each pacore error code, when a run fails with it. */
const STATUS_OF_CODE: Record<ErrorCode, number> = {
  PACORE_ERR_CONFIG: 400,
  PACORE_ERR_BUDGET: 400,
  PACORE_ERR_LOG: 500,
  PACORE_ERR_CONTEXT_LENGTH: 400,
  PACORE_ERR_UNREACHABLE: 502,
  PACORE_ERR_TIMEOUT: 504,
  PACORE_ERR_HTTP_STATUS: 502,
  PACORE_ERR_MALFORMED_RESPONSE: 502,
  PACORE_ERR_WORKER_CRASHED: 502,
  PACORE_ERR_BACKEND: 502,
  PACORE_ERR_QUORUM: 502,
  PACORE_ERR_ABORTED: 503,
};

/**
 * The `HttpError` for anything a request's handling threw: pacore errors by their code (bad
 * input 400, a backend that failed 502, one that went silent 504); anything else is a 500 whose
 * message hides the internals.
 */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof UnknownModelError) {
    return new HttpError(404, "not_found_error", error.message, {
      param: "model",
      code: "model_not_found",
    });
  }
  if (error instanceof PacoreError) {
    const status = STATUS_OF_CODE[error.code] ?? 500;
    const type = status < 500 ? "invalid_request_error" : "server_error";
    const code =
      error.code === "PACORE_ERR_CONTEXT_LENGTH" ? "context_length_exceeded" : error.code;
    return new HttpError(status, type, error.message, { code, cause: error });
  }
  return new HttpError(500, "server_error", "The server failed to handle the request", {
    cause: error,
  });
}
