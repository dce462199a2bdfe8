/**
 * Batched decoding on one decoder session, with continuous batching: the rows of every job
 * submitted join the running batch at the next step boundary (prompt prefilled once per job and
 * its KV cache copied to the job's `n` rows, however many steps apart they are admitted: the
 * prompt's KV cache is held, within a byte cap, until the job's last row has joined), each row
 * stops on its own (end-of-sequence token,
 * stop string, token limit, context window), and a finished row is dropped from the batch at
 * once, so no token is ever generated for it after it is done.
 *
 * Rows are left-padded: every row's real tokens sit at the right end of the shared KV length,
 * its attention mask is `[0 × pad, 1 × (length − pad)]`, and its position ids count its own
 * tokens only. It runs wherever the session runs; the backend runs it inside a worker thread.
 */
import type { FinishReason } from "../../spec/backend.js";
import { CompletionText, type Detokenize } from "./completion-text.js";
import type { DecoderSignature, FloatType, IndexType } from "./decoder-signature.js";
import { type LogitsView, type RowSampling, TokenSampler } from "./sampling.js";

/** The tensor operations the engine needs (onnxruntime's `Tensor` has them). */
export interface EngineTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
  /** `cpu`, or `gpu-buffer` when the session keeps outputs on the device. */
  readonly location?: string;
  /** Downloads data kept on the device. */
  getData?(releaseData?: boolean): Promise<unknown>;
  /** Releases data kept on the device. */
  dispose?(): void;
}

/** Creates a CPU tensor (`new ort.Tensor(type, data, dims)`). */
export type TensorFactory = (
  type: string,
  data: BigInt64Array | Int32Array | Float32Array | Uint16Array | Uint8Array,
  dims: readonly number[],
) => EngineTensor;

/** The session operations the engine needs. */
export interface EngineSession {
  run(feeds: Record<string, EngineTensor>): Promise<Record<string, EngineTensor>>;
}

/** One call's worth of rows: `n` samples of one prompt. */
export interface GenerationJob {
  readonly promptIds: readonly number[];
  readonly n: number;
  /** One seed per sample. */
  readonly seeds: readonly number[];
  readonly sampling: RowSampling;
  /** Most tokens per row (already capped to the context window by the caller). */
  readonly maxTokens: number;
  readonly stop: readonly string[];
  /** Emit text deltas as they arrive. */
  readonly stream: boolean;
  /**
   * Compute the log-probability of each sampled token (a log-sum-exp over the vocabulary per
   * row and step). Default true; the backend asks for them only when the request does.
   */
  readonly logprobs?: boolean;
}

/** The outcome of one row. */
export interface RowOutcome {
  readonly tokenIds: number[];
  readonly logprobs: number[];
  /** Decoded text (special tokens left out), cut before a stop string. */
  readonly text: string;
  readonly finishReason: Extract<FinishReason, "stop" | "length">;
  readonly promptTokens: number;
  /** Prompt tokens whose KV cache was copied from another row of the job (prefix sharing). */
  readonly cachedTokens: number;
}

/** Default of {@link EngineOptions.prefixCacheBytes}: 256 MiB. */
export const DEFAULT_PREFIX_CACHE_BYTES = 256 * 1024 * 1024;

/** What the engine tells the submitter of a job. */
export interface JobListener {
  delta?(sample: number, text: string): void;
  done(outcomes: RowOutcome[]): void;
  fail(error: unknown): void;
}

/** Counters of an engine, for tests and benchmarks. */
export interface EngineStats {
  /** Session runs that prefilled prompts. */
  readonly prefillRuns: number;
  /** Session runs that decoded one token per active row. */
  readonly decodeRuns: number;
  /** Largest number of rows decoded by one run. */
  readonly maxBatchRows: number;
  /** Rows whose prompt KV came from another row of the same job. */
  readonly sharedPrefixRows: number;
  /** Rows admitted after their job's first rows, whose prompt KV came from a held prefix. */
  readonly heldPrefixRows: number;
  /** Prompt KV caches not held because the cap was reached (their later rows are prefilled). */
  readonly prefixesOverCap: number;
  /** Prompt KV caches held now, for jobs whose rows have not all joined the batch. */
  readonly heldPrefixes: number;
  /** Bytes of the prompt KV caches (and first-token logits) held now; at most the cap. */
  readonly heldPrefixBytes: number;
  /** Rows generating or waiting now. */
  readonly activeRows: number;
  readonly waitingRows: number;
}

/** Settings of an engine. */
export interface EngineOptions {
  readonly signature: DecoderSignature;
  readonly eosTokenIds: readonly number[];
  readonly maxBatchSize: number;
  readonly contextWindow: number;
  readonly detokenize: Detokenize;
  /** Token fed at padded positions (masked out, so any valid id works). */
  readonly padTokenId: number;
  /**
   * Most bytes of prompt KV cache held for jobs whose rows join the batch in several waves
   * (when `n` exceeds the free slots): a job's prompt is then prefilled once and its cache kept
   * until its last row has joined. A prompt that would pass the cap is not held and its later
   * rows are prefilled again. Default {@link DEFAULT_PREFIX_CACHE_BYTES}.
   */
  readonly prefixCacheBytes?: number;
}

interface JobState {
  readonly id: number;
  readonly job: GenerationJob;
  readonly listener: JobListener;
  readonly outcomes: (RowOutcome | undefined)[];
  remaining: number;
  /** Rows not yet admitted to the batch. */
  unadmitted: number;
  /** The prompt's KV cache and first-token logits, held while rows wait to join. */
  prefix?: HeldPrefix;
  cancelled: boolean;
  failed: boolean;
}

interface Row {
  readonly state: JobState;
  readonly sample: number;
  readonly sampler: TokenSampler;
  readonly text: CompletionText;
  readonly tokens: number[];
  readonly logprobs: number[];
  /** Leading masked columns of this row in the batch's KV cache. */
  pad: number;
  /** The last sampled token, not yet in the KV cache. */
  pending: number;
  cachedTokens: number;
  finish?: "stop" | "length";
}

/** KV cache of a batch: one tensor per past input, `[rows, heads, length, headDim]`. */
interface CacheBatch {
  readonly length: number;
  readonly tensors: EngineTensor[];
}

/** A prompt's KV cache (one row, no padding) and the logits of its last position. */
interface HeldPrefix {
  readonly cache: CacheBatch;
  readonly logits: LogitsView;
  readonly bytes: number;
}

/** A row of a cache batch to copy: its real (unpadded) tail of `keep` columns. */
interface CachePick {
  readonly source: CacheBatch;
  readonly row: number;
  readonly keep: number;
}

type FloatArray = Float32Array | Uint16Array;

async function hostData(tensor: EngineTensor): Promise<FloatArray> {
  if (tensor.location !== undefined && tensor.location !== "cpu" && tensor.getData) {
    return (await tensor.getData()) as FloatArray;
  }
  return tensor.data as FloatArray;
}

type IndexArray = BigInt64Array | Int32Array;

function indexArray(type: IndexType, values: ArrayLike<number>): IndexArray {
  if (type === "int32") return Int32Array.from(values);
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]);
  return out;
}

function zeros(type: IndexType, size: number): IndexArray {
  return type === "int32" ? new Int32Array(size) : new BigInt64Array(size);
}

/** Sets `out[from..to)` to 1 (`fill` with the element type's one). */
function fillOnes(out: IndexArray, from: number, to: number): void {
  if (out instanceof BigInt64Array) out.fill(1n, from, to);
  else out.fill(1, from, to);
}

function floatArray(type: FloatType, size: number): FloatArray {
  return type === "float16" ? new Uint16Array(size) : new Float32Array(size);
}

/**
 * Continuous-batching generation over one decoder session. Not thread-safe: one engine per
 * session, driven from one thread.
 */
export class GenerationEngine {
  readonly #session: EngineSession;
  readonly #tensor: TensorFactory;
  readonly #options: EngineOptions;
  readonly #eos: ReadonlySet<number>;
  readonly #prefixCap: number;
  readonly #waiting: Row[] = [];
  #rows: Row[] = [];
  #cache: CacheBatch | undefined;
  #jobs = new Map<number, JobState>();
  /** Jobs holding their prompt's KV cache. */
  readonly #held = new Set<JobState>();
  #heldBytes = 0;
  #nextJobId = 1;
  #running = false;
  #closed = false;
  #idle: (() => void)[] = [];
  #stats = {
    prefillRuns: 0,
    decodeRuns: 0,
    maxBatchRows: 0,
    sharedPrefixRows: 0,
    heldPrefixRows: 0,
    prefixesOverCap: 0,
  };

  /** An engine over `session`; `tensor` creates input tensors. */
  constructor(session: EngineSession, tensor: TensorFactory, options: EngineOptions) {
    this.#session = session;
    this.#tensor = tensor;
    this.#options = options;
    this.#eos = new Set(options.eosTokenIds);
    this.#prefixCap = options.prefixCacheBytes ?? DEFAULT_PREFIX_CACHE_BYTES;
  }

  /** Queues a job; its rows join the batch at the next step boundary. Returns the job's id. */
  submit(job: GenerationJob, listener: JobListener): number {
    if (this.#closed) throw new Error("The generation engine is closed");
    if (job.n < 1 || job.seeds.length !== job.n) {
      throw new Error(`Expected ${job.n} seeds for n = ${job.n}, got ${job.seeds.length}`);
    }
    const state: JobState = {
      id: this.#nextJobId++,
      job,
      listener,
      outcomes: new Array(job.n).fill(undefined),
      remaining: job.n,
      unadmitted: job.n,
      cancelled: false,
      failed: false,
    };
    this.#jobs.set(state.id, state);
    for (let sample = 0; sample < job.n; sample++) {
      this.#waiting.push({
        state,
        sample,
        sampler: new TokenSampler(job.sampling, job.seeds[sample]),
        text: new CompletionText(this.#options.detokenize, job.stop, job.stream),
        tokens: [],
        logprobs: [],
        pad: 0,
        pending: -1,
        cachedTokens: 0,
      });
    }
    this.#schedule();
    return state.id;
  }

  /** Drops a job's rows at the next step boundary; its listener hears nothing more. */
  cancel(jobId: number): void {
    const state = this.#jobs.get(jobId);
    if (state === undefined) return;
    state.cancelled = true;
    this.#jobs.delete(jobId);
  }

  /** Counters since the engine started. */
  stats(): EngineStats {
    return {
      ...this.#stats,
      heldPrefixes: this.#held.size,
      heldPrefixBytes: this.#heldBytes,
      activeRows: this.#rows.length,
      waitingRows: this.#waiting.length,
    };
  }

  /** True while rows are generating or waiting. */
  get busy(): boolean {
    return this.#running;
  }

  /**
   * Cancels every job and resolves once no session run is in flight, so that the session can
   * be released. Jobs submitted afterwards are refused.
   */
  close(): Promise<void> {
    this.#closed = true;
    for (const state of this.#jobs.values()) state.cancelled = true;
    this.#jobs.clear();
    if (!this.#running) {
      this.#releaseAll();
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #schedule(): void {
    if (this.#running || this.#closed) return;
    this.#running = true;
    // Start on the next turn so that jobs submitted together are prefilled together.
    setImmediate(() => {
      void this.#loop();
    });
  }

  async #loop(): Promise<void> {
    try {
      while (this.#waiting.length > 0 || this.#rows.length > 0) {
        await this.#dropCancelled();
        await this.#admit();
        if (this.#rows.length > 0) await this.#decode();
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.#running = false;
      if (this.#closed) {
        this.#waiting.length = 0;
        this.#rows = [];
        this.#replaceCache(undefined);
        this.#releaseAll();
        for (const resolve of this.#idle.splice(0)) resolve();
      } else if (this.#waiting.length > 0) this.#schedule();
    }
  }

  async #dropCancelled(): Promise<void> {
    for (let i = this.#waiting.length - 1; i >= 0; i--) {
      if (this.#waiting[i].state.cancelled || this.#waiting[i].state.failed)
        this.#waiting.splice(i, 1);
    }
    for (const state of this.#held) {
      if (state.cancelled || state.failed) this.#release(state);
    }
    if (this.#rows.some((row) => row.state.cancelled || row.state.failed)) {
      await this.#keepRows(this.#rows.filter((row) => !row.state.cancelled && !row.state.failed));
    }
  }

  #fail(states: Iterable<JobState>, error: unknown): void {
    for (const state of states) {
      if (state.failed || state.cancelled) continue;
      state.failed = true;
      this.#jobs.delete(state.id);
      this.#release(state);
      state.listener.fail(error);
    }
  }

  /** Drops a job's held prompt cache. */
  #release(state: JobState): void {
    const prefix = state.prefix;
    if (prefix === undefined) return;
    state.prefix = undefined;
    this.#held.delete(state);
    this.#heldBytes -= prefix.bytes;
    for (const tensor of prefix.cache.tensors) {
      if (tensor.location !== undefined && tensor.location !== "cpu") tensor.dispose?.();
    }
  }

  #releaseAll(): void {
    for (const state of [...this.#held]) this.#release(state);
  }

  /**
   * Keeps the prompt cache of row `row` of a prefill (its real tail of `length` columns) and
   * the logits its later rows sample their first token from, if the cap allows.
   */
  async #hold(
    state: JobState,
    prefill: CacheBatch,
    row: number,
    logits: LogitsView,
  ): Promise<void> {
    const { signature } = this.#options;
    const length = state.job.promptIds.length;
    const heads = signature.numKeyValueHeads;
    const headDim = signature.headDim;
    const elementBytes = signature.cacheType === "float16" ? 2 : 4;
    const bytes =
      signature.layers.length * 2 * heads * length * headDim * elementBytes +
      logits.length * logits.BYTES_PER_ELEMENT;
    if (this.#heldBytes + bytes > this.#prefixCap) {
      this.#stats.prefixesOverCap++;
      return;
    }
    let tensors: EngineTensor[];
    const onHost = prefill.tensors.every(
      (tensor) => tensor.location === undefined || tensor.location === "cpu",
    );
    if (onHost && prefill.tensors[0].dims[0] === 1 && prefill.length === length) {
      // The prefill ran this prompt alone: its cache is exactly the prefix, no copy needed.
      tensors = prefill.tensors;
    } else {
      tensors = [];
      for (const tensor of prefill.tensors) {
        const data = await hostData(tensor);
        const out = floatArray(signature.cacheType, heads * length * headDim);
        for (let h = 0; h < heads; h++) {
          const from = ((row * heads + h) * prefill.length + prefill.length - length) * headDim;
          out.set(data.subarray(from, from + length * headDim), h * length * headDim);
        }
        tensors.push(this.#tensor(signature.cacheType, out, [1, heads, length, headDim]));
      }
    }
    state.prefix = { cache: { length, tensors }, logits: logits.slice(), bytes };
    this.#held.add(state);
    this.#heldBytes += bytes;
  }

  /**
   * Admits waiting rows that fit: prompts without a held cache are prefilled (one row per job),
   * every row samples its first token, and the rows are merged into the batch.
   */
  async #admit(): Promise<void> {
    const free = this.#options.maxBatchSize - this.#rows.length;
    if (free <= 0 || this.#waiting.length === 0) return;
    const admitted = this.#waiting.splice(0, free);
    const groups = new Map<JobState, Row[]>();
    for (const row of admitted) {
      const group = groups.get(row.state);
      if (group) group.push(row);
      else groups.set(row.state, [row]);
    }
    const states = [...groups.keys()];
    const fresh = states.filter((state) => state.prefix === undefined);
    let prefill: { cache: CacheBatch; logits: EngineTensor } | undefined;
    let logitsData: FloatArray | undefined;
    if (fresh.length > 0) {
      try {
        prefill = await this.#prefill(fresh.map((state) => state.job.promptIds));
        logitsData = await hostData(prefill.logits);
      } catch (error) {
        this.#fail(states, error);
        return;
      }
    }
    const joining: { row: Row; pick: CachePick }[] = [];
    try {
      for (const state of states) {
        const group = groups.get(state)!;
        const length = state.job.promptIds.length;
        state.unadmitted -= group.length;
        let view: LogitsView;
        let pick: CachePick;
        const held = state.prefix;
        if (held !== undefined) {
          view = held.logits;
          pick = { source: held.cache, row: 0, keep: length };
        } else {
          // [prompts, positions, vocabulary]; some graphs return the last position only.
          const [, positions, vocabulary] = prefill!.logits.dims;
          const index = fresh.indexOf(state);
          const offset = (index * positions + positions - 1) * vocabulary;
          view = logitsData!.subarray(offset, offset + vocabulary) as LogitsView;
          pick = { source: prefill!.cache, row: index, keep: length };
          if (state.unadmitted > 0) await this.#hold(state, prefill!.cache, index, view);
        }
        group.forEach((row, index) => {
          if (held !== undefined || index > 0) {
            row.cachedTokens = length;
            this.#stats.sharedPrefixRows++;
            if (held !== undefined) this.#stats.heldPrefixRows++;
          }
          this.#accept(row, view);
          if (row.finish === undefined) joining.push({ row, pick });
        });
        if (state.unadmitted === 0) this.#release(state);
      }
    } catch (error) {
      this.#fail(states, error);
      return;
    } finally {
      if (
        prefill !== undefined &&
        prefill.logits.location !== undefined &&
        prefill.logits.location !== "cpu"
      ) {
        prefill.logits.dispose?.();
      }
    }
    const current = this.#cache;
    const picks: CachePick[] = this.#rows.map((row, index) => ({
      source: current!,
      row: index,
      keep: current!.length - row.pad,
    }));
    for (const { pick } of joining) picks.push(pick);
    const sources = [current];
    // A prefill cache held as a job's prefix must outlive this rebuild.
    const prefillCache = prefill?.cache;
    if (
      prefillCache !== undefined &&
      !states.some((state) => state.prefix?.cache.tensors === prefillCache.tensors)
    ) {
      sources.push(prefillCache);
    }
    await this.#rebuild([...this.#rows, ...joining.map((item) => item.row)], picks, sources);
  }

  /** Runs the prompts (one row per distinct prompt, left-padded) with an empty KV cache. */
  async #prefill(
    prompts: readonly (readonly number[])[],
  ): Promise<{ cache: CacheBatch; logits: EngineTensor }> {
    const { signature, padTokenId } = this.#options;
    const rows = prompts.length;
    const length = Math.max(...prompts.map((prompt) => prompt.length));
    const ids = new Array<number>(rows * length).fill(padTokenId);
    const mask = new Array<number>(rows * length).fill(0);
    const positions = new Array<number>(rows * length).fill(1);
    prompts.forEach((prompt, row) => {
      const pad = length - prompt.length;
      prompt.forEach((id, i) => {
        ids[row * length + pad + i] = id;
        mask[row * length + pad + i] = 1;
        positions[row * length + pad + i] = i;
      });
    });
    const empty = this.#emptyCache(rows);
    const outputs = await this.#run(
      rows,
      length,
      indexArray(signature.inputIds.type, ids),
      signature.attentionMask && indexArray(signature.attentionMask.type, mask),
      signature.positionIds && indexArray(signature.positionIds.type, positions),
      empty,
      length,
    );
    this.#stats.prefillRuns++;
    return {
      cache: { length, tensors: this.#presents(outputs) },
      logits: outputs[signature.logits.name],
    };
  }

  #emptyCache(rows: number): CacheBatch {
    const { signature } = this.#options;
    const dims = [rows, signature.numKeyValueHeads, 0, signature.headDim];
    const tensors: EngineTensor[] = [];
    for (let i = 0; i < signature.layers.length * 2; i++) {
      tensors.push(this.#tensor(signature.cacheType, floatArray(signature.cacheType, 0), dims));
    }
    return { length: 0, tensors };
  }

  #presents(outputs: Record<string, EngineTensor>): EngineTensor[] {
    return this.#options.signature.layers.flatMap((layer) => [
      outputs[layer.presentKey],
      outputs[layer.presentValue],
    ]);
  }

  async #run(
    rows: number,
    steps: number,
    ids: IndexArray,
    mask: IndexArray | undefined,
    positions: IndexArray | undefined,
    past: CacheBatch,
    total: number,
  ): Promise<Record<string, EngineTensor>> {
    const { signature } = this.#options;
    const feeds: Record<string, EngineTensor> = {
      [signature.inputIds.name]: this.#tensor(signature.inputIds.type, ids, [rows, steps]),
    };
    if (signature.attentionMask && mask) {
      feeds[signature.attentionMask.name] = this.#tensor(signature.attentionMask.type, mask, [
        rows,
        total,
      ]);
    }
    if (signature.positionIds && positions) {
      feeds[signature.positionIds.name] = this.#tensor(signature.positionIds.type, positions, [
        rows,
        steps,
      ]);
    }
    if (signature.numLogitsToKeep) {
      // Only the last position of each row is ever sampled.
      const { name, type } = signature.numLogitsToKeep;
      feeds[name] = this.#tensor(type, indexArray(type, [1]), []);
    }
    if (signature.useCacheBranch) {
      feeds[signature.useCacheBranch] = this.#tensor(
        "bool",
        Uint8Array.of(past.length > 0 ? 1 : 0),
        [1],
      );
    }
    signature.layers.forEach((layer, i) => {
      feeds[layer.pastKey] = past.tensors[2 * i];
      feeds[layer.pastValue] = past.tensors[2 * i + 1];
    });
    return this.#session.run(feeds);
  }

  /** Feeds every row's pending token, samples the next one, drops rows that finished. */
  async #decode(): Promise<void> {
    const { signature } = this.#options;
    const rows = this.#rows;
    const count = rows.length;
    const cache = this.#cache!;
    const total = cache.length + 1;
    const ids = zeros(signature.inputIds.type, count);
    const mask = signature.attentionMask && zeros(signature.attentionMask.type, count * total);
    const positions = signature.positionIds && zeros(signature.positionIds.type, count);
    for (let i = 0; i < count; i++) {
      const row = rows[i];
      if (ids instanceof BigInt64Array) ids[i] = BigInt(row.pending);
      else ids[i] = row.pending;
      if (mask) fillOnes(mask, i * total + row.pad, (i + 1) * total);
      if (positions instanceof BigInt64Array) positions[i] = BigInt(cache.length - row.pad);
      else if (positions) positions[i] = cache.length - row.pad;
    }
    let outputs: Record<string, EngineTensor>;
    try {
      outputs = await this.#run(count, 1, ids, mask, positions, cache, total);
    } catch (error) {
      this.#fail(new Set(rows.map((row) => row.state)), error);
      this.#rows = [];
      this.#replaceCache(undefined);
      return;
    }
    this.#stats.decodeRuns++;
    this.#stats.maxBatchRows = Math.max(this.#stats.maxBatchRows, count);
    // The presents are the next step's past as they are: no copy while the batch is unchanged.
    this.#replaceCache({ length: total, tensors: this.#presents(outputs) });
    const logits = outputs[signature.logits.name];
    let finished = 0;
    try {
      const data = await hostData(logits);
      const [, positionsKept, vocabulary] = logits.dims;
      for (let i = 0; i < count; i++) {
        const row = rows[i];
        if (row.state.failed || row.state.cancelled) continue;
        const offset = (i * positionsKept + positionsKept - 1) * vocabulary;
        this.#accept(row, data.subarray(offset, offset + vocabulary) as LogitsView);
        if (row.finish !== undefined) finished++;
      }
    } catch (error) {
      this.#fail(new Set(rows.map((row) => row.state)), error);
    } finally {
      if (logits.location !== undefined && logits.location !== "cpu") logits.dispose?.();
    }
    // Compact the cache only when rows leave.
    if (finished === 0 && !rows.some((row) => row.state.failed || row.state.cancelled)) return;
    await this.#keepRows(
      rows.filter((row) => row.finish === undefined && !row.state.failed && !row.state.cancelled),
    );
  }

  /** Samples a row's next token from its logits and settles whether the row is done. */
  #accept(row: Row, logits: LogitsView): void {
    const { job } = row.state;
    const withLogprob = job.logprobs !== false;
    const { tokenId, logprob } = row.sampler.sample(logits, withLogprob);
    row.tokens.push(tokenId);
    if (withLogprob) row.logprobs.push(logprob);
    row.pending = tokenId;
    if (this.#eos.has(tokenId)) row.finish = "stop";
    else if (row.text.push(tokenId)) row.finish = "stop";
    else if (row.tokens.length >= job.maxTokens) row.finish = "length";
    else if (job.promptIds.length + row.tokens.length >= this.#options.contextWindow) {
      row.finish = "length";
    }
    const state = row.state;
    if (job.stream && state.listener.delta && !state.cancelled) {
      const delta = row.text.takeDelta(row.finish !== undefined);
      if (delta.length > 0) state.listener.delta(row.sample, delta);
    }
    if (row.finish === undefined) return;
    const generated =
      row.finish === "stop" && this.#eos.has(tokenId) ? row.tokens.slice(0, -1) : row.tokens;
    state.outcomes[row.sample] = {
      tokenIds: row.tokens,
      logprobs: row.logprobs,
      text: row.text.finalText(generated),
      finishReason: row.finish,
      promptTokens: job.promptIds.length,
      cachedTokens: row.cachedTokens,
    };
    state.remaining--;
    if (state.remaining === 0 && !state.cancelled && !state.failed) {
      this.#jobs.delete(state.id);
      state.listener.done(state.outcomes as RowOutcome[]);
    }
  }

  /** Keeps only `rows` (in order) of the current batch, trimming columns no row needs. */
  async #keepRows(rows: Row[]): Promise<void> {
    const current = this.#cache;
    if (current === undefined) {
      this.#rows = [];
      return;
    }
    const index = new Map(this.#rows.map((row, i) => [row, i]));
    const picks = rows.map((row) => ({
      source: current,
      row: index.get(row)!,
      keep: current.length - row.pad,
    }));
    await this.#rebuild(rows, picks, [current]);
  }

  /**
   * Makes the batch cache from picks of source caches: row i of the result is the real tail of
   * `picks[i]`, right-aligned, with zeros (masked) on its left. The batch length is the longest
   * tail, so columns that every row masks are dropped.
   */
  async #rebuild(
    rows: Row[],
    picks: CachePick[],
    sources: (CacheBatch | undefined)[],
  ): Promise<void> {
    if (rows.length === 0) {
      this.#rows = [];
      this.#replaceCache(undefined, sources);
      return;
    }
    const length = Math.max(...picks.map((pick) => pick.keep));
    const single = picks[0].source;
    const identity =
      picks.every((pick, i) => pick.source === single && pick.row === i) &&
      single.tensors[0].dims[0] === picks.length &&
      single.length === length;
    if (identity) {
      picks.forEach((pick, i) => {
        rows[i].pad = length - pick.keep;
      });
      this.#rows = rows;
      this.#replaceCache(single, sources);
      return;
    }
    const { signature } = this.#options;
    const heads = signature.numKeyValueHeads;
    const headDim = signature.headDim;
    const hostSources = new Map<CacheBatch, FloatArray[]>();
    for (const pick of picks) {
      if (!hostSources.has(pick.source)) {
        hostSources.set(pick.source, await Promise.all(pick.source.tensors.map(hostData)));
      }
    }
    const tensors: EngineTensor[] = [];
    const count = signature.layers.length * 2;
    for (let t = 0; t < count; t++) {
      const out = floatArray(signature.cacheType, picks.length * heads * length * headDim);
      picks.forEach((pick, i) => {
        const data = hostSources.get(pick.source)![t];
        const sourceLength = pick.source.length;
        for (let h = 0; h < heads; h++) {
          const from = ((pick.row * heads + h) * sourceLength + sourceLength - pick.keep) * headDim;
          const to = ((i * heads + h) * length + length - pick.keep) * headDim;
          out.set(data.subarray(from, from + pick.keep * headDim), to);
        }
      });
      tensors.push(this.#tensor(signature.cacheType, out, [picks.length, heads, length, headDim]));
    }
    picks.forEach((pick, i) => {
      rows[i].pad = length - pick.keep;
    });
    this.#rows = rows;
    this.#replaceCache({ length, tensors }, sources);
  }

  /** Sets the batch cache, releasing device memory of caches no longer used. */
  #replaceCache(next: CacheBatch | undefined, others: (CacheBatch | undefined)[] = []): void {
    const old = new Set([this.#cache, ...others]);
    old.delete(next);
    for (const cache of old) {
      for (const tensor of cache?.tensors ?? []) {
        if (tensor.location !== undefined && tensor.location !== "cpu") tensor.dispose?.();
      }
    }
    this.#cache = next;
  }
}
