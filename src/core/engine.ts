/**
 * The round engine. Rounds run in order; the trajectories of a round run concurrently under one
 * limiter for the run and one per backend (two different limiters, never the same one nested:
 * p-limit deadlocks that way). Retryable failures are retried with backoff and jitter; a round
 * goes on when its quorum succeeded; a run that dies keeps everything it finished.
 */
import { setMaxListeners } from "node:events";
import { EventEmitter } from "eventemitter3";
import pLimit, { type LimitFunction } from "p-limit";
import { extractAnswer as defaultExtractAnswer } from "../answers/index.js";
import {
  AbortError,
  BackendError,
  ConfigError,
  describeError,
  PacoreError,
  QuorumError,
} from "../common/errors.js";
import { createRandom, hashSeed } from "../common/random.js";
import { sleep } from "../common/sleep.js";
import { checkPositiveIntegers } from "../common/validate.js";
import type { ChatMessage, Completion, ModelBackend } from "../spec/backend.js";
import type {
  RoundResult,
  RunEvents,
  RunResult,
  Trajectory,
  TrajectoryFailure,
  UsageTotals,
} from "../spec/run.js";
import type { Selection, Strategy } from "../spec/strategy.js";
import { budgetError, type FitResult, fitMessages, measurePlan } from "./budget.js";
import {
  DEFAULT_CONTEXT_WINDOW,
  defaultOutputCap,
  MIN_DEFAULT_MAX_TOKENS,
  parseRunOptions,
  type RunOptions,
  type RunOptionsInput,
} from "./options.js";
import { RunLog } from "./run-log.js";
import { type TokenCounter, tokenCounterFor } from "./tokens.js";

/** What to run. */
export interface RunConfig {
  readonly backend: ModelBackend;
  readonly strategy: Strategy;
  /** The problem: a string (sent as one user turn) or a conversation whose last user turn is it. */
  readonly problem: string | readonly ChatMessage[];
  readonly options?: RunOptionsInput;
  /** Aborting stops in-flight calls; the run rejects with an `AbortError` carrying `partial`. */
  readonly signal?: AbortSignal;
  /** Answer extraction for the final text (default: `extractAnswer` from `pacore/answers`). */
  readonly extractAnswer?: (text: string) => string | null;
  /**
   * Path of a JSONL run log. Every finished trajectory is appended before the next round uses
   * it; a run started again with the same log generates only what the log lacks.
   */
  readonly log?: string;
}

/** Calls in flight per backend, shared by every run on that backend. */
const backendLimits = new WeakMap<ModelBackend, LimitFunction>();

function backendLimit(backend: ModelBackend): LimitFunction {
  let limit = backendLimits.get(backend);
  if (!limit) {
    limit = pLimit(backend.maxConcurrency ?? Number.POSITIVE_INFINITY);
    backendLimits.set(backend, limit);
  }
  return limit;
}

const ZERO_USAGE: UsageTotals = {
  promptTokens: 0,
  completionTokens: 0,
  cachedTokens: 0,
  totalTokens: 0,
};

/** Sums the usage of trajectories. */
export function sumUsage(trajectories: Iterable<Trajectory>): UsageTotals {
  let promptTokens = 0;
  let completionTokens = 0;
  let cachedTokens = 0;
  for (const { usage } of trajectories) {
    promptTokens += usage.promptTokens;
    completionTokens += usage.completionTokens;
    cachedTokens += usage.cachedTokens;
  }
  return {
    promptTokens,
    completionTokens,
    cachedTokens,
    totalTokens: promptTokens + completionTokens,
  };
}

/** Turns a problem given as text into a one-turn conversation, and checks a given one. */
export function normalizeProblem(problem: string | readonly ChatMessage[]): readonly ChatMessage[] {
  if (typeof problem === "string") {
    if (problem.trim() === "") {
      throw new ConfigError("Expected a non-empty problem, got an empty string");
    }
    return [{ role: "user", content: problem }];
  }
  if (!Array.isArray(problem) || !problem.some((message) => message?.role === "user")) {
    throw new ConfigError(
      "Expected the problem as a string or a list of chat messages with at least one user turn",
    );
  }
  const last = problem.findLast((message) => message.role === "user");
  const content = last?.content;
  const blank =
    typeof content === "string"
      ? content.trim() === ""
      : !Array.isArray(content) ||
        !content.some((part) => part.type === "image" || part.text.trim() !== "");
  if (blank) {
    throw new ConfigError(
      "Expected the problem's last user turn to hold text or an image, got an empty one",
    );
  }
  return problem;
}

function validatePlan(strategy: Strategy): void {
  checkPositiveIntegers(`plan of strategy ${strategy.name}`, strategy.plan);
}

/**
 * One run of a strategy on a problem. Subscribe to its typed events, then `start()`.
 *
 * @example
 * ```ts
 * const run = new Run({ backend, strategy: pacore({ k: [16, 4] }), problem: "What is 17*23+5?" });
 * run.on("round-end", ({ result }) => console.log(result.round, result.messages.length));
 * const result = await run.start();
 * console.log(result.answer, result.effectiveTokens);
 * ```
 */
export class Run extends EventEmitter<RunEvents> {
  readonly #config: RunConfig;
  #promise: Promise<RunResult> | undefined;

  constructor(config: RunConfig) {
    super();
    this.#config = config;
  }

  /** Starts the run (once; later calls return the same promise). */
  start(): Promise<RunResult> {
    // Bad options reject the promise like any other failure, never throw synchronously.
    this.#promise ??= Promise.resolve().then(() => new RunExecution(this.#config, this).execute());
    return this.#promise;
  }
}

/**
 * Runs a strategy and resolves with its result.
 *
 * @example
 * ```ts
 * const result = await run({ backend, strategy: pacore({ k: [4] }), problem: "What is 2+2?" });
 * ```
 */
export function run(config: RunConfig, listeners: Partial<RunEvents> = {}): Promise<RunResult> {
  const instance = new Run(config);
  for (const [name, listener] of Object.entries(listeners)) {
    // biome-ignore lint/suspicious/noExplicitAny: listener types are checked by Partial<RunEvents>.
    instance.on(name as keyof RunEvents, listener as any);
  }
  return instance.start();
}

/** The state of one execution; private to the engine. */
class RunExecution {
  readonly #config: RunConfig;
  readonly #events: EventEmitter<RunEvents>;
  readonly #options: RunOptions;
  readonly #problem: readonly ChatMessage[];
  readonly #problemKey: number;
  readonly #controller = new AbortController();
  readonly #runLimit: LimitFunction;
  readonly #backendLimit: LimitFunction;
  readonly #rounds: RoundResult[] = [];
  /** The round under way: what it has finished so far, reported if the run dies in it. */
  #current:
    | {
        round: number;
        k: number;
        prompt: readonly ChatMessage[];
        startedAt: number;
        finished: Trajectory[];
      }
    | undefined;
  readonly #warnings: string[] = [];
  readonly #startedAt = performance.now();
  #calls = 0;
  #resumed = 0;
  #log: RunLog | undefined;
  /** Output budget per trajectory of each round (index round − 1), resolved once the window is known. */
  #maxTokens: number[] = [];

  constructor(config: RunConfig, events: EventEmitter<RunEvents>) {
    this.#config = config;
    this.#events = events;
    this.#options = parseRunOptions(config.options);
    validatePlan(config.strategy);
    this.#problem = normalizeProblem(config.problem);
    this.#problemKey = hashSeed(JSON.stringify(this.#problem));
    this.#runLimit = pLimit(this.#options.concurrency);
    // Every call of the run listens on this signal: a fan-out of hundreds is the design, not a
    // leak, so Node's limit of ten listeners (and its warning) does not apply.
    setMaxListeners(0, this.#controller.signal);
    this.#backendLimit = backendLimit(config.backend);
  }

  async execute(): Promise<RunResult> {
    const { signal } = this.#config;
    const onAbort = () => this.#controller.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await this.#execute();
    } catch (error) {
      const failure =
        error instanceof PacoreError
          ? error
          : new PacoreError("PACORE_ERR_BACKEND", describeError(error).message, { cause: error });
      if (this.#current !== undefined) {
        // The round that was under way keeps what it finished (the run log has the same).
        const { round, k, prompt, startedAt, finished } = this.#current;
        this.#current = undefined;
        const sorted = finished.slice().sort((a, b) => a.index - b.index);
        this.#rounds.push(this.#roundResult(round, k, prompt, sorted, startedAt));
      }
      failure.partial ??= this.#result({ content: "", answer: null });
      throw failure;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.#log?.close();
    }
  }

  /**
   * What a run log must match to be resumed. The output budgets are the resolved ones, one per
   * round: a default depends on the backend's window and its own default, so it is known only
   * after planning.
   */
  #identity() {
    const { strategy, backend } = this.#config;
    const { temperature, topP, topK, stop } = this.#options;
    const maxTokens = this.#maxTokens;
    const probe =
      strategy.plan.length > 1
        ? JSON.stringify(
            strategy.prompt({ problem: this.#problem, round: 2, messages: ["\u0000"] }),
          )
        : "";
    return {
      strategy: strategy.name,
      plan: strategy.plan,
      seed: this.#options.seed,
      provider: backend.provider,
      model: backend.model,
      problem: this.#problemKey,
      template: hashSeed(probe),
      sampling: { temperature, topP, topK, maxTokens, stop },
    };
  }

  async #execute(): Promise<RunResult> {
    const { strategy, backend } = this.#config;
    const counter = tokenCounterFor(backend);
    const window = await this.#contextWindow();
    const planInput = {
      strategy,
      problem: this.#problem,
      window,
      minMessageTokens: this.#options.minMessageTokens,
      count: counter.count,
    };
    const needs = await measurePlan(planInput);
    const tightest = needs.reduce((a, b) => (b.largestOutput < a.largestOutput ? b : a));
    const explicit = this.#options.maxTokens;
    if (explicit !== undefined) {
      if (tightest.largestOutput < explicit) throw budgetError(planInput, tightest, explicit);
      this.#maxTokens = needs.map(() => explicit);
    } else {
      // No budget given: each round gets as much as fits its own prompt, up to the defaults.
      // Round 1 holds no references, so the room later rounds keep for their messages does not
      // cut its trajectories short.
      const cap = defaultOutputCap(window, backend.defaultMaxTokens);
      this.#maxTokens = needs.map((round) => Math.min(cap, round.largestOutput));
      if (Math.min(...this.#maxTokens) < MIN_DEFAULT_MAX_TOKENS) {
        throw budgetError(planInput, tightest, MIN_DEFAULT_MAX_TOKENS);
      }
    }
    if (this.#config.log !== undefined) {
      this.#log = RunLog.open(this.#config.log, this.#identity());
    }
    const estimated = counter.estimated
      ? "it cannot count tokens"
      : backend.estimatedTokenCounts?.();
    if (estimated !== undefined && strategy.plan.length > 1) {
      this.#warn(
        `Token counts for the context budget are estimated (within about 30%): backend ${backend.provider}: ${estimated}. If the model rejects prompts as too long, set --context a little below its window.`,
      );
    }
    this.#events.emit("run-start", {
      strategy: strategy.name,
      plan: strategy.plan,
      seed: this.#options.seed,
    });

    let messages: readonly string[] = [];
    for (let round = 1; round <= strategy.plan.length; round++) {
      this.#throwIfAborted();
      const limits = { window, maxOutput: this.#maxTokens[round - 1] };
      const result = await this.#runRound(round, messages, counter.count, limits);
      this.#rounds.push(result);
      this.#events.emit("round-end", { result });
      messages = result.messages;
    }

    const selection = await this.#select();
    const result = this.#result(selection);
    this.#events.emit("run-end", { result });
    return result;
  }

  async #contextWindow(): Promise<number> {
    if (this.#options.context !== undefined) return this.#options.context;
    const reported = await this.#config.backend.contextWindow?.();
    if (reported !== undefined) return reported;
    this.#warn(
      `Backend ${this.#config.backend.provider} does not report its context window; assuming ${DEFAULT_CONTEXT_WINDOW.toLocaleString("en-US")} tokens. Set --context (or options.context) to the model's window.`,
    );
    return DEFAULT_CONTEXT_WINDOW;
  }

  #warn(message: string): void {
    this.#warnings.push(message);
    this.#events.emit("run-warning", { message });
  }

  async #runRound(
    round: number,
    previous: readonly string[],
    count: TokenCounter,
    limits: { window: number; maxOutput: number },
  ): Promise<RoundResult> {
    const { strategy } = this.#config;
    const k = strategy.plan[round - 1];
    const startedAt = performance.now();

    // One prompt per distinct reference set: PaCoRe's trajectories all read every message.
    const prompts: FitResult[] = [];
    const promptOf: number[] = [];
    if (round === 1 || !strategy.references) {
      prompts.push(await this.#fit(round, previous, count, limits));
      promptOf.push(...new Array<number>(k).fill(0));
    } else {
      const byKey = new Map<string, number>();
      for (let index = 0; index < k; index++) {
        const random = createRandom(
          hashSeed(this.#options.seed, this.#problemKey, round, index, "references"),
        );
        const chosen = strategy.references(round, index, previous.length, random);
        const key = chosen.join(",");
        let slot = byKey.get(key);
        if (slot === undefined) {
          slot = prompts.length;
          byKey.set(key, slot);
          prompts.push(
            await this.#fit(
              round,
              chosen.map((i) => previous[i]),
              count,
              limits,
            ),
          );
        }
        promptOf.push(slot);
      }
    }
    this.#events.emit("round-start", { round, k, prompt: prompts[0].prompt });

    // Trajectories that share a prompt go out together, up to the backend's samples per call.
    const perCall = Math.max(1, this.#config.backend.maxSamplesPerCall ?? 1);
    const calls: Promise<Trajectory[]>[] = [];
    const resumed: Trajectory[] = [];
    for (let index = 0; index < k; index++) {
      const logged = this.#log?.finished(round, index);
      if (!logged) continue;
      const trajectory = { ...logged, resumed: true };
      resumed.push(trajectory);
      this.#events.emit("trajectory-end", { trajectory });
    }
    this.#resumed += resumed.length;
    this.#current = { round, k, prompt: prompts[0].prompt, startedAt, finished: resumed.slice() };
    const isResumed = new Set(resumed.map((trajectory) => trajectory.index));
    for (let slot = 0; slot < prompts.length; slot++) {
      const indices = promptOf.flatMap((s, index) =>
        s === slot && !isResumed.has(index) ? [index] : [],
      );
      for (let start = 0; start < indices.length; start += perCall) {
        calls.push(
          this.#runCall(
            round,
            indices.slice(start, start + perCall),
            prompts[slot].prompt,
            limits.maxOutput,
          ),
        );
      }
    }
    // Every call settles before the round ends or fails, so a run that dies reports exactly the
    // trajectories its log holds.
    const settled = await Promise.allSettled(calls);
    const rejected = settled.find((outcome) => outcome.status === "rejected");
    if (rejected) throw rejected.reason;
    const trajectories = this.#current.finished.sort((a, b) => a.index - b.index);
    this.#current = undefined;

    const result = this.#roundResult(round, k, prompts[0].prompt, trajectories, startedAt);
    this.#checkQuorum(result);
    return result;
  }

  async #fit(
    round: number,
    messages: readonly string[],
    count: TokenCounter,
    limits: { window: number; maxOutput: number },
  ): Promise<FitResult> {
    const { strategy } = this.#config;
    if (round === 1) {
      return {
        prompt: strategy.prompt({ problem: this.#problem, round, messages: [] }),
        messages: [],
        cuts: [],
        promptTokens: 0,
      };
    }
    const fitted = await fitMessages({
      strategy,
      problem: this.#problem,
      round,
      messages,
      policy: this.#options.trim,
      count,
      ...limits,
    });
    for (const cut of fitted.cuts) {
      this.#events.emit("message-trim", {
        round,
        index: cut.index,
        originalTokens: cut.originalTokens,
        keptTokens: cut.keptTokens,
        policy: this.#options.trim,
      });
    }
    return fitted;
  }

  #seed(round: number, index: number): number {
    return hashSeed(this.#options.seed, this.#problemKey, round, index);
  }

  /** One backend call for `indices` (trajectories sharing a prompt), with retries. */
  async #runCall(
    round: number,
    indices: readonly number[],
    prompt: readonly ChatMessage[],
    maxTokens: number,
  ): Promise<Trajectory[]> {
    const { backend } = this.#config;
    const options = this.#options;
    const seeds = indices.map((index) => this.#seed(round, index));
    const startedAt = performance.now();
    const wantsDeltas = this.#events.listenerCount("trajectory-delta") > 0;
    const signal = this.#controller.signal;
    for (let attempt = 1; ; attempt++) {
      try {
        const completions = await this.#runLimit(() =>
          this.#backendLimit(async () => {
            this.#throwIfAborted();
            for (const index of indices) {
              this.#events.emit("trajectory-start", { round, index, attempt });
            }
            const { completions } = await backend.generate({
              messages: prompt,
              sampling: {
                temperature: options.temperature,
                topP: options.topP,
                topK: options.topK,
                maxTokens,
                stop: options.stop,
              },
              n: indices.length,
              seeds,
              logprobs: options.logprobs,
              signal,
              ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
              onDelta: wantsDeltas
                ? ({ sample, text }) =>
                    this.#events.emit("trajectory-delta", { round, index: indices[sample], text })
                : undefined,
            });
            return completions;
          }),
        );
        if (!Array.isArray(completions) || completions.length !== indices.length) {
          throw new BackendError(
            `Backend ${backend.provider} returned ${Array.isArray(completions) ? completions.length : "no"} completions for a call that asked for ${indices.length}`,
            { retryable: true },
          );
        }
        const elapsedMs = performance.now() - startedAt;
        return completions.map((completion, sample) => {
          const trajectory = toTrajectory(round, indices[sample], seeds[sample], completion, {
            attempts: attempt,
            elapsedMs,
          });
          this.#log?.append(trajectory);
          this.#finish(trajectory);
          return trajectory;
        });
      } catch (error) {
        if (signal.aborted) throw this.#abortError(signal.reason);
        const failure: TrajectoryFailure = describeError(error);
        const willRetry = failure.retryable && attempt <= options.retries;
        for (const index of indices) {
          this.#events.emit("trajectory-error", {
            round,
            index,
            attempt,
            error: failure,
            willRetry,
          });
        }
        if (!willRetry) {
          const elapsedMs = performance.now() - startedAt;
          return indices.map((index, sample) => {
            const trajectory = failedTrajectory(
              round,
              index,
              seeds[sample],
              failure,
              attempt,
              elapsedMs,
            );
            this.#finish(trajectory);
            return trajectory;
          });
        }
        await this.#backoff(attempt, error);
      }
    }
  }

  /** A generated trajectory (finished or finally failed) joins its round and is counted. */
  #finish(trajectory: Trajectory): void {
    this.#calls++;
    this.#current?.finished.push(trajectory);
    this.#events.emit("trajectory-end", { trajectory });
  }

  /**
   * Full-jitter exponential backoff. A server's Retry-After is a floor, capped at the backoff
   * ceiling (`backoff.maxMs`) so that one server cannot park a run for an hour.
   */
  async #backoff(attempt: number, error: unknown): Promise<void> {
    const { initialMs, maxMs, factor } = this.#options.backoff;
    const ceiling = Math.min(maxMs, initialMs * factor ** (attempt - 1));
    const retryAfter = error instanceof BackendError ? (error.retryAfterMs ?? 0) : 0;
    const delay = Math.max(Math.min(retryAfter, maxMs), Math.random() * ceiling);
    if (delay <= 0) return;
    await sleep(delay, this.#controller.signal, (reason) => this.#abortError(reason));
  }

  #throwIfAborted(): void {
    if (this.#controller.signal.aborted) throw this.#abortError(this.#controller.signal.reason);
  }

  #abortError(cause: unknown): AbortError {
    return cause instanceof AbortError ? cause : new AbortError("The run was aborted", { cause });
  }

  #roundResult(
    round: number,
    k: number,
    prompt: readonly ChatMessage[],
    trajectories: Trajectory[],
    startedAt: number,
  ): RoundResult {
    const { strategy } = this.#config;
    const compacted: string[] = [];
    for (const trajectory of trajectories) {
      if (trajectory.error) continue;
      const message = strategy.compact(trajectory);
      if (message !== null && message.trim() !== "") compacted.push(message);
    }
    const random = createRandom(hashSeed(this.#options.seed, this.#problemKey, round, "order"));
    const messages = strategy.order ? strategy.order(compacted, random) : compacted;
    return {
      round,
      k,
      prompt,
      trajectories,
      messages,
      usage: sumUsage(trajectories),
      elapsedMs: performance.now() - startedAt,
    };
  }

  #checkQuorum(result: RoundResult): void {
    const failed = result.trajectories.filter((trajectory) => trajectory.error);
    const needed = Math.ceil(this.#options.quorum * result.k);
    const succeeded = result.k - failed.length;
    if (succeeded >= needed) return;
    this.#rounds.push(result);
    const first = failed[0];
    const cause = first.error!;
    const attempts = `${first.attempts} attempt${first.attempts === 1 ? "" : "s"}`;
    throw new QuorumError(
      `Round ${result.round}: ${failed.length} of ${result.k} trajectories failed, the first after ${attempts} (${cause.code}: ${cause.message}); the quorum needs ${needed} of ${result.k}. Finished trajectories are kept in the result. Fix: ${fixFor(cause.code)}`,
    );
  }

  async #select(): Promise<Selection> {
    const { strategy } = this.#config;
    if (strategy.select) return strategy.select({ problem: this.#problem, rounds: this.#rounds });
    const last = this.#rounds[this.#rounds.length - 1];
    const chosen = last.trajectories.find((trajectory) => !trajectory.error);
    return { content: chosen?.content ?? "" };
  }

  #result(selection: Selection): RunResult {
    const { backend, strategy } = this.#config;
    const trajectories = this.#rounds.flatMap((round) => round.trajectories);
    const usage = this.#rounds.length === 0 ? ZERO_USAGE : sumUsage(trajectories);
    const extract = this.#config.extractAnswer ?? defaultExtractAnswer;
    const answer =
      selection.answer !== undefined
        ? selection.answer
        : selection.content === ""
          ? null
          : extract(selection.content);
    return {
      strategy: strategy.name,
      provider: backend.provider,
      model: backend.model,
      seed: this.#options.seed,
      plan: strategy.plan,
      rounds: this.#rounds.slice(),
      content: selection.content,
      answer,
      usage,
      effectiveTokens: usage.completionTokens,
      calls: this.#calls,
      resumed: this.#resumed,
      elapsedMs: performance.now() - this.#startedAt,
      warnings: this.#warnings.slice(),
    };
  }
}

/** The fix a quorum failure names, by the code of its first failure. */
function fixFor(code: string): string {
  switch (code) {
    case "PACORE_ERR_TIMEOUT":
      return "check that the server is generating, or raise --timeout.";
    case "PACORE_ERR_UNREACHABLE":
      return "check that the server is up and --base-url is right.";
    case "PACORE_ERR_CONTEXT_LENGTH":
      return "lower --max-tokens or --k, or set --context to the model's real window.";
    default:
      return "check the backend, raise --retries, or lower --quorum.";
  }
}

function toTrajectory(
  round: number,
  index: number,
  seed: number,
  completion: Completion,
  extra: { attempts: number; elapsedMs: number },
): Trajectory {
  return {
    round,
    index,
    seed,
    content: completion.content,
    ...(completion.reasoning !== undefined && { reasoning: completion.reasoning }),
    finishReason: completion.finishReason,
    usage: completion.usage,
    ...(completion.tokenIds !== undefined && { tokenIds: completion.tokenIds }),
    ...(completion.logprobs !== undefined && { logprobs: completion.logprobs }),
    attempts: extra.attempts,
    elapsedMs: extra.elapsedMs,
  };
}

function failedTrajectory(
  round: number,
  index: number,
  seed: number,
  error: TrajectoryFailure,
  attempts: number,
  elapsedMs: number,
): Trajectory {
  return {
    round,
    index,
    seed,
    content: "",
    finishReason: "error",
    usage: { promptTokens: 0, completionTokens: 0, cachedTokens: 0 },
    attempts,
    elapsedMs,
    error,
  };
}
