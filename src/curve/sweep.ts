/**
 * A scaling-curve sweep: every grid point over the same problems and seeds, one point after
 * another, through one caching backend, so that a trajectory two points share (under one seed,
 * self-consistency@16 is a prefix of @64; round 1 of `pacore:16` is round 1 of `pacore:16,4`) is
 * generated once. Each point reports what it would cost alone (`trajectories`), what it added to
 * the sweep (`calls`: trajectories no earlier point had used) and what this invocation generated.
 */
import { type CacheLookup, cachedBackend, countingBackend } from "../backends/cache/index.js";
import { runBenchmark } from "../bench/run.js";
import type { RunOptionsInput } from "../core/options.js";
import type { ModelBackend } from "../spec/backend.js";
import type { Strategy } from "../spec/strategy.js";
import type { BenchmarkProblem } from "../tasks/problem.js";
import type { GridPoint } from "./grid.js";

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
  /** The benchmark seed: repeat 0 runs under it, repeat r under `repeatSeed(seed, r)`. */
  readonly seed: number;
  /** Mean over problems of the fraction of repeats that were right. */
  readonly accuracy: number;
  /** Standard error of `accuracy` across problems (0 for one problem). */
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
  readonly problems: readonly BenchmarkProblem[];
  /** Names the problems in the rows (`arith`, a file name). */
  readonly task: string;
  /** Engine options of every run; `seed` is the benchmark seed (repeat 0 runs under it). */
  readonly options: RunOptionsInput;
  /** Independent runs per problem and point (the seeds of `runBenchmark`). Default 1. */
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
      const summary = await runBenchmark({
        backend,
        strategy,
        problems: input.problems,
        options: input.options,
        repeats,
        ...(input.problemConcurrency !== undefined && {
          problemConcurrency: input.problemConcurrency,
        }),
        ...(input.signal !== undefined && { signal: input.signal }),
        onProgress: ({ done, total }) => input.onProgress?.({ point, index, done, total }),
      });
      rows.push({
        backend: backend.provider,
        model: backend.model,
        task: input.task,
        point: point.label,
        strategy: point.family,
        plan: strategy.plan,
        problems: summary.n,
        repeats,
        seed: summary.seed,
        accuracy: summary.accuracy,
        standardError: summary.accuracyStandardError ?? 0,
        answered: summary.answeredRate,
        failed: summary.failed,
        effectiveTokens: summary.effectiveTokensPerProblem,
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
