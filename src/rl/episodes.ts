/**
 * Episodes: what a trainer needs from each trajectory of a run, built from the engine's events
 * only (`run-start`, `round-start`, `round-end`, `trajectory-end`): the full prompt, the
 * references it read (with their correctness when the ground truth is known), the response,
 * token ids and log-probs where the backend gives them, the reward and its parts, the round, K,
 * backend, model, sampling and seeds.
 *
 * Backpressure: event listeners cannot make the engine wait, so the recorder wraps the backend
 * (same shape, `recorder.backend(inner)`): before each backend call the wrapper waits until
 * fewer than `maxPending` episodes are still being scored or handed to `onEpisode`. A slow hook
 * therefore holds back the next generations, never the ones in flight, and memory stays bounded.
 * `onEpisode` is called one episode at a time, in the order trajectories finished.
 */
import { problemText } from "../../strategies/conversation.js";
import { gradeAnswer } from "../answers/grade.js";
import { ConfigError, PacoreError } from "../common/errors.js";
import { JsonlAppender } from "../common/jsonl.js";
import { normalizeProblem, Run, type RunConfig } from "../core/engine.js";
import { parseRunOptions } from "../core/options.js";
import type { ChatMessage, FinishReason, ModelBackend } from "../spec/backend.js";
import type { RunResult } from "../spec/run.js";
import type { Reward, RewardResult } from "./rewards/types.js";

/** A message a synthesis trajectory read. */
export interface EpisodeReference {
  readonly text: string;
  /** Whether the message's answer is right; absent when the ground truth is unknown. */
  readonly correct?: boolean;
}

/** One trajectory as a training example. */
export interface Episode {
  /** The caller's id of the problem, when given. */
  readonly problemId?: string;
  /** The problem text (the last user turn of the problem). */
  readonly problem: string;
  /** The full prompt the trajectory received (the first of its round where they differ). */
  readonly prompt: readonly ChatMessage[];
  /** The previous round's messages this round read, in the order it saw them; empty in round 1. */
  readonly references: readonly EpisodeReference[];
  /** The trajectory's whole text (content; reasoning is separate where the backend split it). */
  readonly response: string;
  readonly reasoning?: string;
  readonly finishReason: FinishReason;
  /** Generated token ids, where the backend gives them (the ONNX backend does). */
  readonly tokenIds?: readonly number[];
  /** Log-probability of each sampled token, with `logprobs: true` where the backend gives them. */
  readonly logprobs?: readonly number[];
  readonly groundTruth?: string;
  /** The reward and its parts, when the recorder has a reward. */
  readonly reward?: RewardResult;
  /** 1-based round; `rounds` in the plan; `k` trajectories in this round; `index` within it. */
  readonly round: number;
  readonly rounds: number;
  readonly k: number;
  readonly index: number;
  readonly strategy: string;
  readonly backend: string;
  readonly model: string;
  readonly sampling: {
    readonly temperature?: number;
    readonly topP?: number;
    readonly topK?: number;
    readonly maxTokens?: number;
  };
  /** The trajectory's own seed, and the run's. */
  readonly seed: number;
  readonly runSeed: number;
  /** True when the trajectory came from a run log. */
  readonly resumed?: boolean;
}

/** Options of `createEpisodeRecorder`. */
export interface EpisodeRecorderOptions {
  /** Receives each episode; the run waits (see above) while `maxPending` are unfinished. */
  readonly onEpisode?: (episode: Episode) => void | Promise<void>;
  /** Scores each episode (its `reward`); the reward sees response, ground truth, problem. */
  readonly reward?: Reward;
  /** Which rounds give episodes: every round (default) or only synthesis rounds (round ≥ 2). */
  readonly rounds?: "all" | "synthesis";
  /** Most episodes being scored or handled before backend calls wait (default 8). */
  readonly maxPending?: number;
  /**
   * Grades a reference against the ground truth (default `gradeAnswer`, which reads
   * `\boxed{}`, fractions, expressions).
   */
  readonly gradeReference?: (groundTruth: string, message: string) => Promise<boolean>;
}

/** What a run's episodes carry besides what the events say. */
export interface EpisodeContext {
  readonly problemId?: string;
  readonly groundTruth?: string;
  /** Problem metadata passed to the reward (such as `{ ambiguous: true }`). */
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** Records episodes of runs; one recorder may serve many runs on one backend. */
export interface EpisodeRecorder {
  /** The backend wrapped with the backpressure gate (cached per backend). */
  backend(inner: ModelBackend): ModelBackend;
  /** Subscribes to a run's events. `config` is the run's (its backend, options, problem). */
  attach(instance: Run, config: RunConfig, context?: EpisodeContext): void;
  /**
   * Runs one problem with episodes: wraps the backend, subscribes, starts, and resolves once every
   * episode of the run has been handed to `onEpisode`.
   */
  run(config: RunConfig, context?: EpisodeContext): Promise<RunResult>;
  /** Resolves when every episode recorded so far has been handled; rejects with a hook's error. */
  drain(): Promise<void>;
}

/**
 * Creates an episode recorder.
 *
 * @example
 * ```ts
 * const writer = episodeWriter("episodes.jsonl");
 * const recorder = createEpisodeRecorder({ onEpisode: writer.write, reward: mathReward() });
 * await recorder.run({ backend, strategy: pacore({ k: [8] }), problem: "What is 6*7?",
 *   options: { logprobs: true } }, { groundTruth: "42" });
 * writer.close();
 * ```
 */
export function createEpisodeRecorder(options: EpisodeRecorderOptions = {}): EpisodeRecorder {
  const maxPending = options.maxPending ?? 8;
  if (!Number.isInteger(maxPending) || maxPending < 1) {
    throw new ConfigError(
      `Expected \`maxPending\` to be a positive integer, got \`${maxPending}\``,
    );
  }
  const grade = options.gradeReference ?? ((truth, message) => gradeAnswer(truth, message));
  let pending = 0;
  let failure: unknown;
  let chain: Promise<void> = Promise.resolve();
  let waiters: (() => void)[] = [];
  const wrapped = new WeakMap<ModelBackend, ModelBackend>();

  const release = () => {
    pending--;
    const ready = waiters;
    waiters = [];
    for (const wake of ready) wake();
  };
  const room = async (): Promise<void> => {
    while (pending >= maxPending && failure === undefined) {
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
    if (failure !== undefined) throw hookError(failure);
  };

  function enqueue(build: () => Promise<Episode>): void {
    pending++;
    const built = build(); // scoring starts at once, in parallel with other episodes
    built.catch(() => {}); // handled below, in order
    chain = chain.then(async () => {
      try {
        if (failure !== undefined) return;
        const episode = await built;
        await options.onEpisode?.(episode);
      } catch (error) {
        failure ??= error;
      } finally {
        release();
      }
    });
  }

  const recorder: EpisodeRecorder = {
    backend(inner) {
      let backend = wrapped.get(inner);
      if (backend) return backend;
      backend = {
        specificationVersion: "v1",
        provider: inner.provider,
        model: inner.model,
        ...(inner.maxConcurrency !== undefined && { maxConcurrency: inner.maxConcurrency }),
        ...(inner.maxSamplesPerCall !== undefined && {
          maxSamplesPerCall: inner.maxSamplesPerCall,
        }),
        ...(inner.defaultMaxTokens !== undefined && { defaultMaxTokens: inner.defaultMaxTokens }),
        async generate(request) {
          await room();
          return inner.generate(request);
        },
        ...(inner.contextWindow && { contextWindow: () => inner.contextWindow!() }),
        ...(inner.countTokens && { countTokens: (input) => inner.countTokens!(input) }),
        ...(inner.estimatedTokenCounts && {
          estimatedTokenCounts: () => inner.estimatedTokenCounts!(),
        }),
        ...(inner.close && { close: () => inner.close!() }),
      };
      wrapped.set(inner, backend);
      return backend;
    },

    attach(instance, config, context = {}) {
      const runOptions = parseRunOptions(config.options);
      const conversation = normalizeProblem(config.problem);
      const problem = problemText(conversation);
      const sampling = {
        ...(runOptions.temperature !== undefined && { temperature: runOptions.temperature }),
        ...(runOptions.topP !== undefined && { topP: runOptions.topP }),
        ...(runOptions.topK !== undefined && { topK: runOptions.topK }),
        ...(runOptions.maxTokens !== undefined && { maxTokens: runOptions.maxTokens }),
      };
      let strategy = config.strategy.name;
      let plan: readonly number[] = config.strategy.plan;
      let runSeed = runOptions.seed;
      const rounds = new Map<number, { k: number; prompt: readonly ChatMessage[] }>();
      const messages = new Map<number, readonly string[]>();
      const correctness = new Map<number, Promise<(boolean | undefined)[]>>();
      instance.on("run-start", (event) => {
        strategy = event.strategy;
        plan = event.plan;
        runSeed = event.seed;
      });
      instance.on("round-start", ({ round, k, prompt }) => rounds.set(round, { k, prompt }));
      instance.on("round-end", ({ result }) => {
        messages.set(result.round, result.messages);
        const truth = context.groundTruth;
        correctness.set(
          result.round,
          truth === undefined
            ? Promise.resolve(result.messages.map(() => undefined))
            : Promise.all(result.messages.map((message) => grade(truth, message))),
        );
      });
      instance.on("trajectory-end", ({ trajectory }) => {
        if (trajectory.error) return;
        if (options.rounds === "synthesis" && trajectory.round < 2) return;
        const round = rounds.get(trajectory.round);
        const read = messages.get(trajectory.round - 1) ?? [];
        const graded = correctness.get(trajectory.round - 1);
        enqueue(async () => {
          const flags = graded ? await graded : [];
          const episode: Episode = {
            ...(context.problemId !== undefined && { problemId: context.problemId }),
            problem,
            prompt: round?.prompt ?? conversation,
            references: read.map((text, i) =>
              flags[i] === undefined ? { text } : { text, correct: flags[i] },
            ),
            response: trajectory.content,
            ...(trajectory.reasoning !== undefined && { reasoning: trajectory.reasoning }),
            finishReason: trajectory.finishReason,
            ...(trajectory.tokenIds !== undefined && { tokenIds: trajectory.tokenIds }),
            ...(trajectory.logprobs !== undefined && { logprobs: trajectory.logprobs }),
            ...(context.groundTruth !== undefined && { groundTruth: context.groundTruth }),
            round: trajectory.round,
            rounds: plan.length,
            k: round?.k ?? plan[trajectory.round - 1],
            index: trajectory.index,
            strategy,
            backend: config.backend.provider,
            model: config.backend.model,
            sampling,
            seed: trajectory.seed,
            runSeed,
            ...(trajectory.resumed && { resumed: true }),
          };
          if (!options.reward) return episode;
          const reward = await options.reward({
            response: trajectory.content,
            ...(context.groundTruth !== undefined && { groundTruth: context.groundTruth }),
            problem,
            finishReason: trajectory.finishReason,
            ...(context.metadata !== undefined && { metadata: context.metadata }),
          });
          return { ...episode, reward };
        });
      });
    },

    async run(config, context) {
      const wrappedConfig = { ...config, backend: recorder.backend(config.backend) };
      const instance = new Run(wrappedConfig);
      recorder.attach(instance, config, context);
      const result = await instance.start();
      await recorder.drain();
      return result;
    },

    async drain() {
      await chain;
      if (failure !== undefined) throw hookError(failure);
    },
  };
  return recorder;
}

function hookError(error: unknown): PacoreError {
  if (error instanceof PacoreError) return error;
  return new PacoreError(
    "PACORE_ERR_BACKEND",
    `The episode hook failed: ${(error as Error)?.message ?? String(error)}`,
    {
      cause: error,
    },
  );
}

/** A JSONL file of episodes, one line each, written through as each arrives. */
export interface EpisodeWriter {
  readonly path: string;
  /** Appends one episode (one write call: the kernel has the line once it returns). */
  write(episode: Episode): void;
  close(): void;
}

/** Opens (appends to) a JSONL episode file, creating its folder. */
export function episodeWriter(path: string): EpisodeWriter {
  let file: JsonlAppender;
  try {
    file = JsonlAppender.open(path);
  } catch (error) {
    throw new ConfigError(
      `Cannot write episodes to ${path}: ${(error as Error).message}; pass another path`,
      { cause: error },
    );
  }
  return {
    path,
    write: (episode) => file.append(episode),
    close: () => file.close(),
  };
}
