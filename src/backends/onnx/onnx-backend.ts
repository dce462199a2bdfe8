/**
 * The ONNX backend: any decoder LLM in the onnx-community / Optimum layout, run by
 * onnxruntime-node in worker threads (one per device), with continuous batching, per-row stop,
 * prefix sharing for the `n` samples of one prompt, and seeded sampling.
 */
import { randomInt } from "node:crypto";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import {
  AbortError,
  BackendError,
  ConfigError,
  ContextLengthError,
  type PacoreError,
} from "../../common/errors.js";
import { splitReasoning } from "../../common/think.js";
import type {
  ChatMessage,
  Completion,
  GenerateRequest,
  GenerateResult,
  ModelBackend,
} from "../../spec/backend.js";
import { ChatPrompter } from "./chat-prompt.js";
import type { EngineStats, GenerationJob, RowOutcome } from "./generation-engine.js";
import { loadModelDirectory } from "./model-directory.js";
import { type OnnxBackendOptions, parseDevice, parseOnnxBackendOptions } from "./options.js";
import type {
  SerializedError,
  WorkerReady,
  WorkerReply,
  WorkerRequest,
  WorkerSetup,
} from "./worker-protocol.js";

/** Callbacks of {@link onnxBackend} that are not options (functions do not go in the schema). */
export interface OnnxBackendHooks {
  /**
   * Called with device warnings (such as `auto` falling back to the CPU). Default:
   * `process.emitWarning`.
   */
  readonly onWarning?: (message: string) => void;
}

/** Where one session of the backend runs. */
export interface OnnxSessionInfo {
  readonly provider: "cpu" | "cuda" | "webgpu";
  readonly deviceId?: number;
  /** The model variant loaded (`fp32`, `fp16`, `q4`, …). */
  readonly variant: string;
  /** Element type of the KV cache, read from the session's metadata. */
  readonly cacheType: "float32" | "float16";
  /** True when the KV cache stays on the device between steps (WebGPU). */
  readonly outputsOnDevice: boolean;
}

/** The ONNX backend: a {@link ModelBackend} plus where its sessions run and their counters. */
export interface OnnxBackend extends ModelBackend {
  readonly provider: "onnx";
  /** One entry per session (per worker thread). */
  readonly sessions: readonly OnnxSessionInfo[];
  /** Counters of each session's engine (batch sizes, prefix sharing). */
  stats(): Promise<EngineStats[]>;
  contextWindow(): Promise<number>;
  countTokens(input: string | readonly ChatMessage[]): Promise<number>;
  close(): Promise<void>;
}

interface PendingCall {
  readonly rows: number;
  readonly resolve: (outcomes: RowOutcome[]) => void;
  readonly reject: (error: unknown) => void;
  readonly onDelta?: (sample: number, text: string) => void;
}

function reviveError(error: SerializedError, context: string): PacoreError {
  const message = `${context}: ${error.message}`;
  if (error.code === "PACORE_ERR_CONFIG") return new ConfigError(error.message);
  if (error.code === "PACORE_ERR_CONTEXT_LENGTH") return new ContextLengthError(error.message);
  return new BackendError(message, { retryable: error.retryable, cause: error });
}

/**
 * Starts the worker script next to this module: `generation-worker.js` when compiled, or
 * `generation-worker.ts` when pacore runs from source through tsx. Node 20 does not apply the
 * parent's `--import tsx` hooks to a worker's entry file, so a `.ts` entry is loaded by a small
 * bootstrap that registers tsx's ESM hooks inside the worker first.
 */
function startWorker(workerData: WorkerSetup): Worker {
  const compiled = new URL("./generation-worker.js", import.meta.url);
  if (existsSync(fileURLToPath(compiled))) return new Worker(compiled, { workerData });
  const source = new URL("./generation-worker.ts", import.meta.url);
  let tsxApi: string;
  try {
    tsxApi = import.meta.resolve("tsx/esm/api");
  } catch (error) {
    throw new ConfigError(
      `Running pacore from source needs tsx to load ${fileURLToPath(source)} in a worker thread: install the dev dependencies (npm ci) or build pacore (npm run build)`,
      { cause: error },
    );
  }
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(source.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/** One worker thread and its session. */
class SessionWorker {
  readonly #worker: Worker;
  readonly #calls = new Map<number, PendingCall>();
  readonly #statsCalls = new Map<number, (stats: EngineStats) => void>();
  readonly #ready: Promise<WorkerReady>;
  #closed: Promise<void> | undefined;
  #failure: Error | undefined;
  #rows = 0;

  constructor(setup: WorkerSetup, warn: (message: string) => void) {
    this.#worker = startWorker(setup);
    this.#ready = new Promise<WorkerReady>((resolve, reject) => {
      this.#worker.on("message", (reply: WorkerReply) => {
        switch (reply.type) {
          case "ready":
            resolve(reply);
            return;
          case "setup-error":
            reject(
              reply.error.code === "PACORE_ERR_CONFIG"
                ? new ConfigError(reply.error.message)
                : new BackendError(`The ONNX backend could not start: ${reply.error.message}`, {
                    cause: reply.error,
                  }),
            );
            return;
          case "warning":
            warn(reply.message);
            return;
          default:
            this.#onReply(reply);
        }
      });
      this.#worker.on("error", (error) => {
        reject(error);
        this.#failAll(error);
      });
      this.#worker.on("exit", (code) => {
        const error = new BackendError(`The ONNX generation worker exited (code ${code})`, {
          retryable: false,
        });
        reject(error);
        this.#failAll(error);
      });
    });
    // Keep the process alive while the session loads; idle workers are unref'd after.
    this.#ready.then(
      () => {
        if (this.#calls.size === 0) this.#worker.unref();
      },
      () => undefined,
    );
  }

  ready(): Promise<WorkerReady> {
    return this.#ready;
  }

  /** Rows this worker is generating or holding; used to pick the least busy worker. */
  get load(): number {
    return this.#rows;
  }

  #onReply(reply: WorkerReply): void {
    switch (reply.type) {
      case "delta":
        this.#calls.get(reply.id)?.onDelta?.(reply.sample, reply.text);
        return;
      case "done":
      case "failed": {
        const call = this.#calls.get(reply.id);
        if (call === undefined) return;
        this.#finish(reply.id, call);
        if (reply.type === "done") call.resolve(reply.outcomes);
        else call.reject(reviveError(reply.error, "ONNX generation failed"));
        return;
      }
      case "stats":
        this.#statsCalls.get(reply.id)?.(reply.stats);
        this.#statsCalls.delete(reply.id);
        return;
      default:
        return;
    }
  }

  #finish(id: number, call: PendingCall): void {
    this.#calls.delete(id);
    this.#rows -= call.rows;
    if (this.#calls.size === 0 && this.#statsCalls.size === 0) this.#worker.unref();
  }

  #failAll(error: unknown): void {
    this.#failure = error instanceof Error ? error : new Error(String(error));
    for (const [id, call] of this.#calls) {
      this.#finish(id, call);
      call.reject(
        error instanceof BackendError
          ? error
          : new BackendError(`The ONNX generation worker failed: ${this.#failure.message}`, {
              cause: error,
            }),
      );
    }
  }

  #post(message: WorkerRequest): void {
    this.#worker.postMessage(message);
  }

  run(id: number, job: GenerationJob, call: PendingCall): void {
    if (this.#failure !== undefined || this.#closed !== undefined) {
      call.reject(
        new BackendError("The ONNX backend is closed or its worker failed", {
          cause: this.#failure,
        }),
      );
      return;
    }
    this.#calls.set(id, call);
    this.#rows += call.rows;
    this.#worker.ref();
    this.#post({ type: "generate", id, job });
  }

  cancel(id: number): void {
    const call = this.#calls.get(id);
    if (call === undefined) return;
    this.#finish(id, call);
    this.#post({ type: "cancel", id });
  }

  stats(id: number): Promise<EngineStats> {
    return new Promise((resolve) => {
      this.#statsCalls.set(id, resolve);
      this.#worker.ref();
      this.#post({ type: "stats", id });
    });
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      const exited = new Promise<void>((resolve) => this.#worker.once("exit", () => resolve()));
      this.#worker.ref();
      if (this.#failure === undefined) this.#post({ type: "close" });
      else await this.#worker.terminate();
      await exited;
    })();
    return this.#closed;
  }
}

function checkSampling(request: GenerateRequest): void {
  const { temperature, topP, topK, maxTokens } = request.sampling;
  if (!Number.isInteger(request.n) || request.n < 1) {
    throw new ConfigError(`Expected \`n\` to be a positive integer, got \`${request.n}\``);
  }
  if (request.seeds !== undefined && request.seeds.length !== request.n) {
    throw new ConfigError(
      `Expected ${request.n} seeds (one per sample), got ${request.seeds.length}`,
    );
  }
  if (temperature !== undefined && !(temperature >= 0 && Number.isFinite(temperature))) {
    throw new ConfigError(`Expected \`temperature\` ≥ 0, got \`${temperature}\``);
  }
  if (topP !== undefined && !(topP > 0 && topP <= 1)) {
    throw new ConfigError(`Expected \`topP\` in (0, 1], got \`${topP}\``);
  }
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 0)) {
    throw new ConfigError(`Expected \`topK\` to be a non-negative integer, got \`${topK}\``);
  }
  if (maxTokens !== undefined && !(Number.isInteger(maxTokens) && maxTokens >= 1)) {
    throw new ConfigError(`Expected \`maxTokens\` to be a positive integer, got \`${maxTokens}\``);
  }
}

/**
 * Opens a model directory on onnxruntime-node and returns a backend. Sessions run in worker
 * threads, one per device (`cuda:0,1` gives two); the promise settles once every session is
 * loaded, so a bad directory or device fails here, with an error naming the file or the fix.
 *
 * @example
 * const backend = await onnxBackend({ modelDir: "models/Qwen3-0.6B-ONNX", device: "cpu" });
 * const { completions } = await backend.generate({
 *   messages: [{ role: "user", content: "What is 2+2?" }],
 *   sampling: { temperature: 0, maxTokens: 64 },
 *   n: 1,
 * });
 * console.log(completions[0].content);
 * await backend.close();
 */
/**
 * onnxruntime-node is an optional peer dependency of pacore (it is large): say how to get it
 * before a worker fails to import it.
 */
function checkRuntimeInstalled(): void {
  try {
    createRequire(import.meta.url).resolve("onnxruntime-node");
  } catch (error) {
    throw new ConfigError(
      "The onnx backend (and the embedded model) needs onnxruntime-node, an optional peer dependency of pacore: run `npm install onnxruntime-node`, or use `--backend openai` / `--backend simulated`",
      { cause: error },
    );
  }
}

export async function onnxBackend(
  options: OnnxBackendOptions,
  hooks: OnnxBackendHooks = {},
): Promise<OnnxBackend> {
  const resolved = parseOnnxBackendOptions(options);
  checkRuntimeInstalled();
  const targets = parseDevice(resolved.device);
  const directory = await loadModelDirectory(resolved.modelDir, resolved.variant);
  const prompter = new ChatPrompter(directory, {
    ...(resolved.enableThinking !== undefined && { enableThinking: resolved.enableThinking }),
  });
  const modelMax = directory.tokenizerConfig.model_max_length;
  const window =
    resolved.contextWindow ??
    directory.config.maxPositionEmbeddings ??
    (typeof modelMax === "number" && modelMax < 10_000_000 ? modelMax : undefined);
  if (window === undefined) {
    throw new ConfigError(
      `${directory.dir}/config.json has no \`max_position_embeddings\`: pass the context window with \`--context N\` (\`contextWindow\`)`,
    );
  }
  const positions = directory.config.maxPositionEmbeddings;
  if (positions !== undefined && window > positions) {
    // Past its trained positions a model generates garbage, not an error: refuse up front.
    throw new ConfigError(
      `Expected \`--context\` (\`contextWindow\`) at most the model's window of ${positions.toLocaleString("en-US")} tokens (max_position_embeddings in ${directory.dir}/config.json), got ${window.toLocaleString("en-US")}; pass --context ${positions} or less, or leave it out`,
    );
  }
  const warn =
    hooks.onWarning ??
    ((message: string) => process.emitWarning(message, { type: "PacoreWarning" }));
  const workers = targets.map(
    (target) =>
      new SessionWorker(
        {
          modelDir: directory.dir,
          variant: directory.modelFile.variant,
          target,
          threads: resolved.threads,
          maxBatchSize: resolved.maxBatchSize,
          contextWindow: window,
          prefixCacheBytes: resolved.prefixCacheBytes,
        },
        warn,
      ),
  );
  let sessions: WorkerReady[];
  try {
    sessions = await Promise.all(workers.map((worker) => worker.ready()));
  } catch (error) {
    await Promise.allSettled(workers.map((worker) => worker.close()));
    throw error;
  }
  const defaults = directory.generationDefaults;
  let nextId = 1;

  const generate = async (request: GenerateRequest): Promise<GenerateResult> => {
    checkSampling(request);
    if (request.signal?.aborted) throw new AbortError("The ONNX generation was aborted");
    const promptIds = prompter.encodeMessages(request.messages);
    if (promptIds.length >= window) {
      throw new ContextLengthError(
        `The prompt has ${promptIds.length} tokens but the context window of ${directory.name} is ${window}: shorten the prompt (or raise \`--context\` if the model supports more)`,
      );
    }
    const room = window - promptIds.length;
    const sampling = request.sampling;
    const job: GenerationJob = {
      promptIds,
      n: request.n,
      seeds: request.seeds ?? Array.from({ length: request.n }, () => randomInt(2 ** 32)),
      sampling: {
        temperature: sampling.temperature ?? defaults.temperature ?? 1,
        topP: sampling.topP ?? defaults.topP ?? 1,
        topK: sampling.topK ?? defaults.topK ?? 0,
      },
      maxTokens: Math.min(sampling.maxTokens ?? room, room),
      stop: sampling.stop ?? [],
      stream: request.onDelta !== undefined,
      logprobs: request.logprobs === true,
    };
    const worker = workers.reduce((best, item) => (item.load < best.load ? item : best));
    const id = nextId++;
    const outcomes = await new Promise<RowOutcome[]>((resolve, reject) => {
      const onAbort = () => {
        worker.cancel(id);
        reject(new AbortError("The ONNX generation was aborted"));
      };
      request.signal?.addEventListener("abort", onAbort, { once: true });
      const settle =
        <T>(next: (value: T) => void) =>
        (value: T) => {
          request.signal?.removeEventListener("abort", onAbort);
          next(value);
        };
      worker.run(id, job, {
        rows: request.n,
        resolve: settle(resolve),
        reject: settle(reject),
        ...(request.onDelta && {
          onDelta: (sample: number, text: string) => request.onDelta?.({ sample, text }),
        }),
      });
    });
    const completions = outcomes.map((outcome): Completion => {
      const { reasoning, content } = splitReasoning(outcome.text);
      return {
        content,
        ...(reasoning !== undefined && { reasoning }),
        finishReason: outcome.finishReason,
        usage: {
          promptTokens: outcome.promptTokens,
          completionTokens: outcome.tokenIds.length,
          cachedTokens: outcome.cachedTokens,
        },
        tokenIds: outcome.tokenIds,
        ...(request.logprobs && { logprobs: outcome.logprobs }),
      };
    });
    return { completions };
  };

  return {
    specificationVersion: "v1",
    provider: "onnx",
    model: resolved.name ?? directory.name,
    maxConcurrency: resolved.maxBatchSize * workers.length,
    maxSamplesPerCall: resolved.maxBatchSize,
    sessions: sessions.map(({ type: _type, ...info }) => info),
    generate,
    ...(defaults.maxNewTokens !== undefined && { defaultMaxTokens: defaults.maxNewTokens }),
    contextWindow: async () => window,
    countTokens: async (input) =>
      typeof input === "string"
        ? prompter.encode(input).length
        : prompter.encodeMessages(input).length,
    stats: () => Promise.all(workers.map((worker) => worker.stats(nextId++))),
    close: async () => {
      await Promise.all(workers.map((worker) => worker.close()));
    },
  };
}
