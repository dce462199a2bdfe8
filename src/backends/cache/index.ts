/**
 * `cachedBackend`: an interceptor (same shape as the backend it wraps) that remembers every
 * completion by its exact request: the model, the messages, the sampling settings, the sample's
 * own seed and whether log-probs were asked for. An `n`-sample call is split into the samples the
 * cache holds and the ones it lacks; only the missing ones go to the backend, together in one
 * call (so `n > 1` batching and prefix sharing are kept). A sample that another call is
 * generating at that moment is waited for, not asked for twice (and made here if that call fails).
 *
 * Sound because a seeded backend's sample depends on its own seed and request only, never on the
 * samples that share its call (the engine derives a trajectory's seed from run seed, problem,
 * round and index): under one seed self-consistency@16 is a prefix of @64, and the first round of
 * `pacore:16` is the first round of `pacore:16,4`. A sweep over such points pays once per
 * trajectory. A backend that cannot seed samples (no `seeds`) is cached too, but then a replay is
 * one draw, not a fresh one.
 *
 * With `path`, the cache is an append-only JSONL file, each completion written through before the
 * call that made it returns: a process killed with kill -9 keeps everything it generated, and the
 * same sweep started again asks the backend only for the rest.
 */
import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { AbortError, BackendError, RunLogError } from "../../common/errors.js";
import { JsonlAppender, type JsonlContents, readJsonl } from "../../common/jsonl.js";
import type {
  Completion,
  GenerateRequest,
  GenerateResult,
  ModelBackend,
} from "../../spec/backend.js";

/** What the cache did with one sample of a request. */
export interface CacheLookup {
  /** The sample's key: a hash of its exact request. */
  readonly key: string;
  /** True when the completion came from the cache; false when the backend generated it. */
  readonly hit: boolean;
}

export interface CachedBackendOptions {
  /**
   * JSONL file that keeps the completions across processes (created with its folder). Without
   * it the cache lives in memory only.
   */
  readonly path?: string;
  /**
   * Called once per sample of every successful call, in sample order, after the backend answered:
   * which samples the cache served and which the backend generated (the curve counts both).
   */
  readonly onLookup?: (lookups: readonly CacheLookup[], request: GenerateRequest) => void;
}

/** A cached backend: the wrapped backend's shape, plus what the cache holds and did. */
export interface CachedBackend extends ModelBackend {
  /** The wrapped backend. */
  readonly inner: ModelBackend;
  /** Completions the cache holds. */
  readonly size: number;
  /** Samples served from the cache since it was made. */
  readonly hits: number;
  /** Samples the wrapped backend generated through this cache since it was made. */
  readonly misses: number;
  /** Closes the cache file and leaves the wrapped backend open (`close` closes both). */
  closeCache(): void;
}

interface CacheLine {
  readonly type: "completion";
  readonly key: string;
  readonly completion: Completion;
}

function isCacheLine(value: unknown): value is CacheLine {
  const line = value as Partial<CacheLine> | null | undefined;
  return (
    typeof line === "object" &&
    line !== null &&
    line.type === "completion" &&
    typeof line.key === "string" &&
    typeof line.completion === "object" &&
    line.completion !== null
  );
}

/**
 * The key of one sample: everything that decides what the backend generates for it. Sampling
 * fields are listed by name so that an absent field and an `undefined` one key alike.
 */
export function sampleKey(
  backend: Pick<ModelBackend, "provider" | "model">,
  request: GenerateRequest,
  sample: number,
): string {
  const { sampling } = request;
  const exact = JSON.stringify([
    backend.provider,
    backend.model,
    request.messages,
    [
      sampling.temperature ?? null,
      sampling.topP ?? null,
      sampling.topK ?? null,
      sampling.maxTokens ?? null,
      sampling.stop ?? null,
    ],
    // Without per-sample seeds, samples of one call differ only by their position.
    request.seeds?.[sample] ?? `unseeded:${sample}`,
    request.logprobs === true,
  ]);
  return createHash("sha256").update(exact).digest("base64url");
}

/**
 * Opens a cache file for appending after reading its completions by key. A torn last line (kill
 * -9 mid-write) is cut off; any other line that is not a completion refuses the file untouched.
 */
function openCacheFile(path: string, into: Map<string, Completion>): JsonlAppender {
  const fail = (error: unknown) =>
    error instanceof RunLogError
      ? error
      : new RunLogError(`Cache ${path} cannot be used (${(error as Error).message})`, {
          cause: error,
        });
  let contents: JsonlContents;
  try {
    if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) {
      throw new RunLogError(`Cache ${path} is a folder; pass a file path for the cache`);
    }
    contents = readJsonl(path, isCacheLine);
  } catch (error) {
    throw fail(error);
  }
  for (const { number, value } of contents.lines) {
    if (!isCacheLine(value)) {
      throw new RunLogError(
        `Cache ${path} has a corrupt line ${number} (not a pacore completion); move the file away to start afresh`,
      );
    }
    into.set(value.key, value.completion);
  }
  try {
    contents.repair();
    return JsonlAppender.open(path);
  } catch (error) {
    throw fail(error);
  }
}

/**
 * Wraps a backend with a completion cache keyed by the exact request of each sample.
 *
 * @example
 * ```ts
 * const backend = cachedBackend(onnxBackend({ modelDir }), { path: "out/cache.jsonl" });
 * await run({ backend, strategy: selfConsistency({ n: 16 }), problem, options: { seed: 1 } });
 * // The same seed asks the model only for samples 16..63:
 * await run({ backend, strategy: selfConsistency({ n: 64 }), problem, options: { seed: 1 } });
 * ```
 */
export function cachedBackend(
  backend: ModelBackend,
  options: CachedBackendOptions = {},
): CachedBackend {
  const entries = new Map<string, Completion>();
  let file: JsonlAppender | undefined;
  if (options.path !== undefined) file = openCacheFile(options.path, entries);
  let hits = 0;
  let misses = 0;

  const remember = (key: string, completion: Completion) => {
    entries.set(key, completion);
    if (file === undefined) return;
    const line: CacheLine = { type: "completion", key, completion };
    file.append(line); // written through: kill -9 keeps it
  };

  /** Samples being generated right now, by key: a second call for one waits instead of paying. */
  const pending = new Map<string, Promise<Completion>>();

  /** One backend call for `samples` of `request`; the completions in the same order. */
  const call = async (request: GenerateRequest, samples: readonly number[]) => {
    const onDelta = request.onDelta;
    const { completions } = await backend.generate({
      ...request,
      n: samples.length,
      ...(request.seeds !== undefined && {
        seeds: samples.map((sample) => request.seeds![sample]),
      }),
      ...(onDelta !== undefined && {
        onDelta: ({ sample, text }) => onDelta({ sample: samples[sample], text }),
      }),
    });
    return completions;
  };

  const generate = async (request: GenerateRequest): Promise<GenerateResult> => {
    const keys = Array.from({ length: request.n }, (_, sample) =>
      sampleKey(backend, request, sample),
    );
    const completions: (Completion | undefined)[] = keys.map((key) => entries.get(key));
    const waits: { sample: number; promise: Promise<Completion> }[] = [];
    const owned = new Map<number, { resolve(c: Completion): void; reject(e: unknown): void }>();
    keys.forEach((key, sample) => {
      if (completions[sample] !== undefined) return;
      const promise = pending.get(key);
      if (promise !== undefined) {
        waits.push({ sample, promise });
        return;
      }
      let settle!: { resolve(c: Completion): void; reject(e: unknown): void };
      const made = new Promise<Completion>((resolve, reject) => {
        settle = { resolve, reject };
      });
      made.catch(() => {}); // a failure nobody waits for is the caller's, thrown below
      pending.set(key, made);
      owned.set(sample, settle);
    });
    const missing = [...owned.keys()];
    let generated = 0;
    try {
      if (missing.length > 0) {
        const made = await call(request, missing);
        missing.forEach((sample, position) => {
          const completion = made[position];
          if (completion === undefined) return;
          completions[sample] = completion;
          remember(keys[sample], completion);
          owned.get(sample)!.resolve(completion);
          generated++;
        });
        // A short answer is the engine's to judge (it retries); keep what came, in order.
        if (made.length !== missing.length) {
          const short = new BackendError(`Backend ${backend.provider} returned too few samples`, {
            retryable: true,
          });
          for (const settle of owned.values()) settle.reject(short);
          return { completions: completions.filter((c): c is Completion => c !== undefined) };
        }
      }
    } catch (error) {
      for (const settle of owned.values()) settle.reject(error);
      throw error;
    } finally {
      for (const sample of missing) pending.delete(keys[sample]);
    }
    // Samples another call was generating: take its completion, or make them here if it failed.
    const retry: number[] = [];
    for (const { sample, promise } of waits) {
      try {
        completions[sample] = await abortable(promise, request.signal);
      } catch (error) {
        if (request.signal?.aborted) throw error;
        retry.push(sample);
      }
    }
    if (retry.length > 0) {
      const made = await call(request, retry);
      retry.forEach((sample, position) => {
        const completion = made[position];
        if (completion === undefined) return;
        completions[sample] = completion;
        remember(keys[sample], completion);
        generated++;
      });
      if (made.length !== retry.length) {
        return { completions: completions.filter((c): c is Completion => c !== undefined) };
      }
    }
    const generatedSamples = new Set([...missing, ...retry]);
    hits += request.n - generated;
    misses += generated;
    options.onLookup?.(
      keys.map((key, sample) => ({ key, hit: !generatedSamples.has(sample) })),
      request,
    );
    return { completions: completions as Completion[] };
  };

  const closeCache = () => {
    file?.close();
    file = undefined;
  };
  const inner = spreadBackend(backend);
  return {
    ...inner,
    inner: backend,
    get size() {
      return entries.size;
    },
    get hits() {
      return hits;
    },
    get misses() {
      return misses;
    },
    generate,
    closeCache,
    close: async () => {
      closeCache();
      await backend.close?.();
    },
  };
}

/** Waits for `promise`, or rejects with an `AbortError` when `signal` aborts first. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(new AbortError("The call was aborted"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortError("The call was aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** A backend that counts the samples it is asked for: put it under a cache to see what ran. */
export interface CountingBackend extends ModelBackend {
  /** `generate` calls that returned. */
  readonly requests: number;
  /** Samples those calls returned. */
  readonly samples: number;
}

/** Wraps a backend and counts its calls and samples (successful ones). */
export function countingBackend(backend: ModelBackend): CountingBackend {
  let requests = 0;
  let samples = 0;
  return {
    ...spreadBackend(backend),
    get requests() {
      return requests;
    },
    get samples() {
      return samples;
    },
    async generate(request) {
      const result = await backend.generate(request);
      requests++;
      samples += result.completions.length;
      return result;
    },
  };
}

/** The fields of a backend, methods bound to it, for a wrapper to override. */
function spreadBackend(backend: ModelBackend): ModelBackend {
  return {
    specificationVersion: "v1",
    provider: backend.provider,
    model: backend.model,
    ...(backend.maxConcurrency !== undefined && { maxConcurrency: backend.maxConcurrency }),
    ...(backend.maxSamplesPerCall !== undefined && {
      maxSamplesPerCall: backend.maxSamplesPerCall,
    }),
    ...(backend.defaultMaxTokens !== undefined && { defaultMaxTokens: backend.defaultMaxTokens }),
    generate: (request) => backend.generate(request),
    ...(backend.contextWindow && { contextWindow: () => backend.contextWindow!() }),
    ...(backend.countTokens && { countTokens: (input) => backend.countTokens!(input) }),
    ...(backend.estimatedTokenCounts && {
      estimatedTokenCounts: () => backend.estimatedTokenCounts!(),
    }),
    ...(backend.close && { close: () => backend.close!() }),
  };
}
