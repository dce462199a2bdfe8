import type { RunResult } from "../spec/run.js";

/**
 * Errors. One base class with a stable `code` (like undici's `UND_ERR_*`), `cause` passed on,
 * and `retryable` saying whether trying the same thing again may succeed.
 */

/**
 * The closed set of error codes. Each names one kind of failure, so callers (and the CLI's exit
 * codes) can act on it without reading messages:
 * - `CONFIG`: bad arguments, options, files or prompts, found before any call (exit 2).
 * - `BUDGET`: a plan that cannot fit its context window, found before any call (exit 2).
 * - `LOG`: a run log that cannot be used: not a run log, another config, not writable (exit 2).
 * - `UNREACHABLE`: no connection to a server (refused, reset, DNS, TLS).
 * - `TIMEOUT`: a call that went silent for longer than its timeout.
 * - `HTTP_STATUS`: a server answered with an error status (`status` holds it).
 * - `MALFORMED_RESPONSE`: an answer that does not parse or breaks the protocol.
 * - `CONTEXT_LENGTH`: the prompt is longer than the model's window.
 * - `WORKER_CRASHED`: a local inference worker died.
 * - `BACKEND`: any other failure of a backend (a wrapped function that threw).
 * - `QUORUM`: too few trajectories of a round succeeded for the run to go on.
 * - `ABORTED`: the run or call was aborted through its AbortSignal (exit 130 on the CLI).
 */
export const ERROR_CODES = [
  "PACORE_ERR_CONFIG",
  "PACORE_ERR_BUDGET",
  "PACORE_ERR_LOG",
  "PACORE_ERR_UNREACHABLE",
  "PACORE_ERR_TIMEOUT",
  "PACORE_ERR_HTTP_STATUS",
  "PACORE_ERR_MALFORMED_RESPONSE",
  "PACORE_ERR_CONTEXT_LENGTH",
  "PACORE_ERR_WORKER_CRASHED",
  "PACORE_ERR_BACKEND",
  "PACORE_ERR_QUORUM",
  "PACORE_ERR_ABORTED",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Codes that mean the input was wrong: nothing was generated, and the fix is the user's. */
export const INPUT_ERROR_CODES: ReadonlySet<ErrorCode> = new Set([
  "PACORE_ERR_CONFIG",
  "PACORE_ERR_BUDGET",
  "PACORE_ERR_LOG",
]);

export interface PacoreErrorOptions {
  readonly cause?: unknown;
  readonly retryable?: boolean;
}

export class PacoreError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /**
   * Set when a run dies: everything it finished (rounds, trajectories, usage), so nothing is
   * lost.
   */
  partial?: RunResult;

  constructor(code: ErrorCode, message: string, options: PacoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** Bad arguments or configuration: says what was expected, what came, and the fix. */
export class ConfigError extends PacoreError {
  constructor(message: string, options: PacoreErrorOptions = {}) {
    super("PACORE_ERR_CONFIG", message, options);
  }
}

/** A synthesis round cannot fit its context window: raised before any call. */
export class BudgetError extends PacoreError {
  constructor(message: string, options: PacoreErrorOptions = {}) {
    super("PACORE_ERR_BUDGET", message, options);
  }
}

/** The codes a backend call may fail with. */
export type BackendErrorCode =
  | "PACORE_ERR_UNREACHABLE"
  | "PACORE_ERR_TIMEOUT"
  | "PACORE_ERR_HTTP_STATUS"
  | "PACORE_ERR_MALFORMED_RESPONSE"
  | "PACORE_ERR_WORKER_CRASHED"
  | "PACORE_ERR_BACKEND";

export interface BackendErrorOptions extends PacoreErrorOptions {
  /** What kind of failure (default `PACORE_ERR_BACKEND`; `PACORE_ERR_HTTP_STATUS` with a status). */
  readonly code?: BackendErrorCode;
  /** HTTP status, when the failure came from a server. */
  readonly status?: number;
  /** Milliseconds the server asked us to wait (Retry-After), when it said. */
  readonly retryAfterMs?: number;
}

/** A backend call failed. `retryable` tells the engine whether to try again. */
export class BackendError extends PacoreError {
  readonly status?: number;
  readonly retryAfterMs?: number;

  constructor(message: string, options: BackendErrorOptions = {}) {
    super(
      options.code ??
        (options.status !== undefined ? "PACORE_ERR_HTTP_STATUS" : "PACORE_ERR_BACKEND"),
      message,
      options,
    );
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** The prompt is longer than the model's context window: not retryable as is. */
export class ContextLengthError extends PacoreError {
  readonly status?: number;

  constructor(message: string, options: BackendErrorOptions = {}) {
    super("PACORE_ERR_CONTEXT_LENGTH", message, { ...options, retryable: false });
    this.status = options.status;
  }
}

/** The run or call was aborted through its AbortSignal. */
export class AbortError extends PacoreError {
  constructor(message = "The run was aborted", options: PacoreErrorOptions = {}) {
    super("PACORE_ERR_ABORTED", message, options);
  }
}

/** Too few trajectories of a round succeeded for the run to go on. */
export class QuorumError extends PacoreError {
  constructor(message: string, options: PacoreErrorOptions = {}) {
    super("PACORE_ERR_QUORUM", message, options);
  }
}

/** A run log that cannot be used (another config, corrupt lines). */
export class RunLogError extends PacoreError {
  constructor(message: string, options: PacoreErrorOptions = {}) {
    super("PACORE_ERR_LOG", message, options);
  }
}

const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);
/**
 * The network error code of a thrown value (`ECONNREFUSED`, `UND_ERR_SOCKET`, …) when it is one
 * that `isRetryable` counts as transient, looking through `cause` chains and the `errors` of an
 * `AggregateError` (Node reports a refused dual-stack connect that way); else undefined.
 */
export function networkErrorCode(error: unknown): string | undefined {
  return networkCodeWithin(error, 0);
}

function networkCodeWithin(error: unknown, depth: number): string | undefined {
  let current: unknown = error;
  for (let level = depth; level < 5 && current !== undefined && current !== null; level++) {
    const code = field(current, "code");
    if (typeof code === "string" && NETWORK_CODES.has(code)) return code;
    const errors = field(current, "errors");
    if (Array.isArray(errors)) {
      for (const inner of errors) {
        const innerCode = networkCodeWithin(inner, level + 1);
        if (innerCode !== undefined) return innerCode;
      }
    }
    current = field(current, "cause");
  }
  return undefined;
}

/**
 * HTTP statuses worth another attempt, the one set every layer uses: request timeout, too early,
 * rate limited, and the transient server faults (500, 502, 503, 504). Other statuses (400, 401,
 * 404, 501, …) fail the same way every time.
 */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 425, 429, 500, 502, 503, 504]);

function field(value: unknown, name: string): unknown {
  return typeof value === "object" && value !== null
    ? (value as Record<string, unknown>)[name]
    : undefined;
}

/** The HTTP status a thrown value carries (`status` or `statusCode`), if any. */
export function httpStatus(error: unknown): number | undefined {
  const status = field(error, "status") ?? field(error, "statusCode");
  return typeof status === "number" && Number.isInteger(status) ? status : undefined;
}

/**
 * True for errors worth another attempt: a `PacoreError` says so itself; any other error when it
 * says `retryable`/`isRetryable: true`, when it or a `cause` up to 5 levels down has a network
 * error code (`ECONNRESET`, … — Node's fetch wraps them in `cause`) or is a `TimeoutError`, or
 * when it has an HTTP status in `RETRYABLE_STATUSES`.
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof PacoreError) return error.retryable;
  for (const name of ["retryable", "isRetryable"]) {
    const flag = field(error, name);
    if (typeof flag === "boolean") return flag;
  }
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    if (current instanceof PacoreError) return current.retryable;
    const code = field(current, "code");
    if (typeof code === "string" && NETWORK_CODES.has(code)) return true;
    if (field(current, "name") === "TimeoutError") return true;
    current = field(current, "cause");
  }
  const status = httpStatus(error);
  return status !== undefined && RETRYABLE_STATUSES.has(status);
}

/** Error code and message of any thrown value, for results and events. */
export function describeError(error: unknown): {
  code: string;
  message: string;
  retryable: boolean;
} {
  if (error instanceof PacoreError) {
    return { code: error.code, message: error.message, retryable: error.retryable };
  }
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  return {
    code: typeof code === "string" ? code : "PACORE_ERR_BACKEND",
    message,
    retryable: isRetryable(error),
  };
}
