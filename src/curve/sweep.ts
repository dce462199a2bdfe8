/**
 * A scaling-curve sweep: every grid point over the same problems and seeds, one point after
 * another, through one caching backend, so that a trajectory two points share (under one seed,
 * self-consistency@16 is a prefix of @64; round 1 of `pacore:16` is round 1 of `pacore:16,4`) is
 * generated once. Each point reports what it would cost alone (`trajectories`), what it added to
 * the sweep (`calls`: trajectories no earlier point had used) and what this invocation generated.
 */
import { setMaxListeners } from "node:events";
import pLimit from "p-limit";
import { type CacheLookup, cachedBackend, countingBackend } from "../backends/cache/index.js";
import { describeError, type ErrorCode, INPUT_ERROR_CODES } from "../common/errors.js";
import { run } from "../core/engine.js";
import type { RunOptionsInput } from "../core/options.js";
import type { ChatMessage, ModelBackend } from "../spec/backend.js";
import type { Strategy } from "../spec/strategy.js";
import type { GridPoint } from "./grid.js";

/** One problem of the sweep and how its final text is graded. */
export interface CurveProblem {
  readonly id: string;
  /** The problem: one user turn, or a conversation whose last user turn is it. */
  readonly problem: string | readonly ChatMessage[];
  /** True when the run's final text (and its extracted answer) is right. */
  grade(content: string, answer: string | null): boolean | Promise<boolean>;
}

/** One point of the curve. */
export interface CurveRow {
  readonly backend: string;
  readonly model: string;
  /** What the problems are (`arith`, a data file's name). */
  readonly task: string;
  /** The grid point, such as `pacore:16,4`. */
  readonly point: string;
  /** The strategy family: the chart's line. */
  readonly strategy: string;
  /** Trajectories per round, the final round included. */
  readonly plan: readonly number[];
  readonly problems: number;
  readonly repeats: number;
  /** Run seed of the first repeat; repeat r runs with seed + r. */
  readonly seed: number;
  /** Mean over problems of the fraction of repeats that were right. */
  readonly accuracy: number;
  /** Standard error of `accuracy` over problems. */
  readonly standardError: number;
  /** Fraction of runs that stated an answer at all. */
  readonly answered: number;
  /** Runs that failed (they count as wrong). */
  readonly failed: number;
  /** Mean generated tokens per problem and repeat, all rounds (the paper's x-axis). */
  readonly effectiveTokens: number;
  /** Trajectories the point ran: the backend calls it would cost alone (per sample). */
  readonly trajectories: number;
  /** Trajectories no earlier point of the sweep had used: what the point added to the sweep. */
  readonly calls: number;
  /** Trajectories this invocation's backend generated for the point (the rest came from cache). */
  readonly generated: number;
  /** Trajectories served from the cache (an earlier point, or an earlier invocation). */
  readonly cached: number;
  /** Wall time of the point in this invocation. */
  readonly wallSeconds: number;
}

/** What the whole sweep cost. */
export interface SweepTotals {
  /** Distinct trajectories of the sweep: the backend calls of a sweep started afresh. */
  readonly calls: number;
  /** The sum over points of `trajectories`: the calls of every point run alone. */
  readonly callsAlone: number;
  /** Trajectories this invocation's backend generated. */
  readonly generated: number;
  /** Backend `generate` requests of this invocation (one may hold many samples). */
  readonly requests: number;
  /** Trajectories served from the cache. */
  readonly cached: number;
  readonly wallSeconds: number;
}

export interface CurveResult {
  readonly rows: readonly CurveRow[];
  readonly sweep: SweepTotals;
}

export interface CurveInput {
  /** The model backend; the sweep puts a counter and a cache around it. */
  readonly backend: ModelBackend;
  readonly points: readonly GridPoint[];
  /** Builds a point's strategy (the CLI's `createStrategy` with its template and verifier). */
  readonly strategyOf: (point: GridPoint) => Promise<Strategy>;
  readonly problems: readonly CurveProblem[];
  /** Names the problems in the rows (`arith`, a file name). */
  readonly task: string;
  /** Engine options of every run; `seed` is the first repeat's. */
  readonly options: RunOptionsInput;
  /** Independent runs per problem and point (seeds seed, seed + 1, …). Default 1. */
  readonly repeats?: number;
  /** Problems in flight at once. Default 32. */
  readonly problemConcurrency?: number;
  /** The trajectory cache (JSONL): a sweep started again generates only what it lacks. */
  readonly cachePath?: string;
  readonly signal?: AbortSignal;
  /** After each point, with the rows so far (the CLI rewrites its files). */
  readonly onPoint?: (rows: readonly CurveRow[], sweep: SweepTotals) => void | Promise<void>;
  /** Progress within a point. */
  readonly onProgress?: (progress: {
    readonly point: GridPoint;
    readonly index: number;
    readonly done: number;
    readonly total: number;
  }) => void;
}

interface Tally {
  trajectories: number;
  calls: number;
  generated: number;
  cached: number;
}

interface Outcome {
  readonly correct: boolean;
  readonly answered: boolean;
  readonly failed: boolean;
  readonly effectiveTokens: number;
}

/** Mean and standard error (sample standard deviation over √n) of per-problem scores. */
export function meanAndStandardError(values: readonly number[]): {
  mean: number;
  standardError: number;
} {
  const n = values.length;
  if (n === 0) return { mean: 0, standardError: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, standardError: 0 };
  const variance = values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (n - 1);
  return { mean, standardError: Math.sqrt(variance / n) };
}

/**
 * Runs a scaling-curve sweep.
 *
 * @example
 * ```ts
 * const { rows, sweep } = await runCurve({
 *   backend, points: parseGrid("single;self-consistency:4,16;pacore:4"),
 *   strategyOf: (point) => createStrategy({ ...point, template: "default" }),
 *   problems, task: "arith", options: { seed: 1, temperature: 1 }, cachePath: "out/cache.jsonl",
 * });
 * console.log(sweep.calls, "calls against", sweep.callsAlone, "for the points run alone");
 * ```
 */
export async function runCurve(input: CurveInput): Promise<CurveResult> {
  const repeats = input.repeats ?? 1;
  const seed = input.options.seed ?? 0;
  const counter = countingBackend(input.backend);
  const seen = new Set<string>();
  let tally: Tally = { trajectories: 0, calls: 0, generated: 0, cached: 0 };
  const onLookup = (lookups: readonly CacheLookup[]) => {
    for (const { key, hit } of lookups) {
      tally.trajectories++;
      if (hit) tally.cached++;
      else tally.generated++;
      if (!seen.has(key)) {
        seen.add(key);
        tally.calls++;
      }
    }
  };
  const backend = cachedBackend(counter, {
    ...(input.cachePath !== undefined && { path: input.cachePath }),
    onLookup,
  });
  // Built before any call: a bad point (a plan rsa cannot run, best-of-n without a verifier)
  // fails the sweep before it spends anything.
  const strategies = await Promise.all(input.points.map((point) => input.strategyOf(point)));
  const rows: CurveRow[] = [];
  const started = performance.now();
  try {
    for (const [index, point] of input.points.entries()) {
      tally = { trajectories: 0, calls: 0, generated: 0, cached: 0 };
      const pointStarted = performance.now();
      const strategy = strategies[index];
      const scores = input.problems.map(() => 0);
      const outcomes: Outcome[] = [];
      let done = 0;
      const total = input.problems.length * repeats;
      for (let repeat = 0; repeat < repeats; repeat++) {
        const results = await runProblems(
          backend,
          strategy,
          input,
          { ...input.options, seed: seed + repeat },
          () => input.onProgress?.({ point, index, done: ++done, total }),
        );
        results.forEach((outcome, problem) => {
          if (outcome.correct) scores[problem] += 1 / repeats;
          outcomes.push(outcome);
        });
      }
      const { mean, standardError } = meanAndStandardError(scores);
      const runs = Math.max(1, outcomes.length);
      rows.push({
        backend: backend.provider,
        model: backend.model,
        task: input.task,
        point: point.label,
        strategy: point.family,
        plan: strategy.plan,
        problems: input.problems.length,
        repeats,
        seed,
        accuracy: mean,
        standardError,
        answered: outcomes.filter((outcome) => outcome.answered).length / runs,
        failed: outcomes.filter((outcome) => outcome.failed).length,
        effectiveTokens: outcomes.reduce((sum, outcome) => sum + outcome.effectiveTokens, 0) / runs,
        ...tally,
        wallSeconds: (performance.now() - pointStarted) / 1000,
      });
      await input.onPoint?.(rows.slice(), totals(rows, counter.requests, started));
    }
  } finally {
    backend.closeCache();
  }
  return { rows, sweep: totals(rows, counter.requests, started) };
}

function totals(rows: readonly CurveRow[], requests: number, started: number): SweepTotals {
  const sum = (pick: (row: CurveRow) => number) => rows.reduce((t, row) => t + pick(row), 0);
  return {
    calls: sum((row) => row.calls),
    callsAlone: sum((row) => row.trajectories),
    generated: sum((row) => row.generated),
    requests,
    cached: sum((row) => row.cached),
    wallSeconds: (performance.now() - started) / 1000,
  };
}

/**
 * One repeat of one point: every problem through the engine, `problemConcurrency` at a time. Bad
 * input (a plan that cannot fit) and an interrupt end the sweep; any other failure counts the
 * problem as wrong and keeps what it spent.
 */
async function runProblems(
  backend: ModelBackend,
  strategy: Strategy,
  input: CurveInput,
  options: RunOptionsInput,
  onDone: () => void,
): Promise<Outcome[]> {
  const limit = pLimit(input.problemConcurrency ?? 32);
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  const onAbort = () => controller.abort(input.signal?.reason);
  if (input.signal?.aborted) onAbort();
  input.signal?.addEventListener("abort", onAbort, { once: true });
  let fatal: unknown;
  try {
    const settled = await Promise.allSettled(
      input.problems.map((problem) =>
        limit(async (): Promise<Outcome> => {
          if (controller.signal.aborted) throw controller.signal.reason;
          try {
            const result = await run({
              backend,
              strategy,
              problem: problem.problem,
              options,
              signal: controller.signal,
            });
            const correct =
              result.content !== "" && (await problem.grade(result.content, result.answer));
            onDone();
            return {
              correct,
              answered: result.answer !== null,
              failed: false,
              effectiveTokens: result.effectiveTokens,
            };
          } catch (error) {
            const { code } = describeError(error);
            if (INPUT_ERROR_CODES.has(code as ErrorCode) || code === "PACORE_ERR_ABORTED") {
              fatal ??= error;
              controller.abort(error);
              throw error;
            }
            const partial = (error as { partial?: { effectiveTokens: number } }).partial;
            onDone();
            return {
              correct: false,
              answered: false,
              failed: true,
              effectiveTokens: partial?.effectiveTokens ?? 0,
            };
          }
        }),
      ),
    );
    if (fatal !== undefined) throw fatal;
    return settled.map((outcome) => {
      if (outcome.status === "rejected") throw outcome.reason;
      return outcome.value;
    });
  } finally {
    input.signal?.removeEventListener("abort", onAbort);
  }
}
