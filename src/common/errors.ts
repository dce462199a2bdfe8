import type { RunResult } from "../spec/run.js";

/**
 * Errors. One base class with a stable `code` (like undici's `UND_ERR_*`), `cause` passed on,
 * and `retryable` saying whether trying the same thing again may succeed.
 */

export type ErrorCode =
  | "PACORE_ERR_CONFIG"
  | "PACORE_ERR_BUDGET"
  | "PACORE_ERR_BACKEND"
  | "PACORE_ERR_CONTEXT_LENGTH"
  | "PACORE_ERR_ABORTED"
  | "PACORE_ERR_QUORUM"
  | "PACORE_ERR_LOG";

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

export interface BackendErrorOptions extends PacoreErrorOptions {
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
    super("PACORE_ERR_BACKEND", message, options);
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
const RETRYABLE_STATUS = new Set([408, 409, 425, 429]);

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
 * when it has an HTTP status of 408, 409, 425, 429 or 5xx.
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
  return status !== undefined && (RETRYABLE_STATUS.has(status) || status >= 500);
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
