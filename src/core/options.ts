/**
 * Run options: one zod schema, the TypeScript type is inferred from it. The CLI maps its flags
 * onto these keys.
 */
import { z } from "zod";
import { ConfigError } from "../common/errors.js";
import { formatZodError } from "../common/validate.js";

/** Context window assumed when neither the user nor the backend says; a warning is raised. */
export const DEFAULT_CONTEXT_WINDOW = 32_768;
/**
 * Output budget per trajectory when `maxTokens` is not given: this, or half the context window,
 * or the most that lets every round of the plan fit, whichever is smallest.
 */
export const DEFAULT_MAX_TOKENS = 8_192;

/** A default output budget below this is refused: the plan needs a larger window or fewer K. */
export const MIN_DEFAULT_MAX_TOKENS = 64;

/**
 * The most a round may generate when no `maxTokens` is given, before its prompt is counted:
 * `DEFAULT_MAX_TOKENS`, half the window, and the backend's own default, whichever is least.
 */
export function defaultOutputCap(window: number, backendDefault: number | undefined): number {
  return Math.min(
    DEFAULT_MAX_TOKENS,
    Math.floor(window / 2),
    backendDefault ?? Number.POSITIVE_INFINITY,
  );
}

export const TrimPolicySchema = z.enum(["keep-tail", "keep-head-tail", "drop-longest"]);
/**
 * How the budget planner cuts messages that do not fit:
 * - `keep-tail`: each message keeps its last tokens (the conclusion sits at the end);
 * - `keep-head-tail`: each keeps its start and its end, with an ellipsis between;
 * - `drop-longest`: whole messages are dropped, longest first, until the rest fit.
 */
export type TrimPolicy = z.infer<typeof TrimPolicySchema>;

export const RunOptionsSchema = z
  .object({
    /** Run seed: every trajectory's seed is derived from it, the problem, the round and index. */
    seed: z.number().int().nonnegative().default(0),
    temperature: z.number().min(0).max(5).optional(),
    topP: z.number().gt(0).max(1).optional(),
    topK: z.number().int().nonnegative().optional(),
    /**
     * Most tokens each trajectory may generate. Default: 8,192, half the window, the backend's
     * `defaultMaxTokens`, or the most that lets every round fit, whichever is smallest (at least
     * `MIN_DEFAULT_MAX_TOKENS`).
     */
    maxTokens: z.number().int().positive().optional(),
    stop: z.array(z.string().min(1)).optional(),
    /** Context window override in tokens; else the backend's report; else 32,768 with a warning. */
    context: z.number().int().positive().optional(),
    /** Most backend calls this run has in flight at once. */
    concurrency: z.number().int().positive().default(64),
    /**
     * Most milliseconds a backend call may go without progress before it fails as a timeout
     * (retryable); see `GenerateRequest.timeoutMs`. Default: the backend's own.
     */
    timeoutMs: z.number().int().positive().optional(),
    /** Extra attempts per trajectory after a retryable failure. */
    retries: z.number().int().nonnegative().default(4),
    /** Exponential backoff with full jitter between attempts. */
    backoff: z
      .object({
        initialMs: z.number().nonnegative().default(250),
        maxMs: z.number().nonnegative().default(10_000),
        factor: z.number().min(1).default(2),
      })
      .default({ initialMs: 250, maxMs: 10_000, factor: 2 }),
    /**
     * Fraction of a round's trajectories that must succeed (after retries) for the run to go on.
     * Default 1: every trajectory.
     */
    quorum: z.number().gt(0).max(1).default(1),
    /** How the budget planner cuts messages that do not fit. */
    trim: TrimPolicySchema.default("keep-tail"),
    /** Smallest share a message may be cut to; a plan that cannot give it fails up front. */
    minMessageTokens: z.number().int().positive().default(32),
    /** Ask backends for sampled-token log-probs. */
    logprobs: z.boolean().default(false),
  })
  .strict();

/** Options of one run, as given by a caller (defaults not yet applied). */
export type RunOptionsInput = z.input<typeof RunOptionsSchema>;
/** Options of one run with defaults applied. */
export type RunOptions = z.output<typeof RunOptionsSchema>;

/**
 * Validates options; a bad one throws a `ConfigError` that names the key, what was expected and
 * what came.
 */
export function parseRunOptions(input: unknown): RunOptions {
  const parsed = RunOptionsSchema.safeParse(input ?? {}, { reportInput: true });
  if (parsed.success) return parsed.data;
  throw new ConfigError(formatZodError(parsed.error, "run option"), { cause: parsed.error });
}
