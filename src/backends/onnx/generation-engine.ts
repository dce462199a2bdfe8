/**
 * Batched decoding on one decoder session, with continuous batching: the rows of every job
 * submitted join the running batch at the next step boundary (prompt prefilled once per job and
 * its KV cache copied to the job's `n` rows), each row stops on its own (end-of-sequence token,
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
}

interface JobState {
  readonly id: number;
  readonly job: GenerationJob;
  readonly listener: JobListener;
  readonly outcomes: (RowOutcome | undefined)[];
  remaining: number;
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

function indexArray(type: IndexType, values: ArrayLike<number>): BigInt64Array | Int32Array {
  if (type === "int32") return Int32Array.from(values);
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]);
  return out;
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
  readonly #waiting: Row[] = [];
  #rows: Row[] = [];
  #cache: CacheBatch | undefined;
  #jobs = new Map<number, JobState>();
  #nextJobId = 1;
  #running = false;
  #closed = false;
  #idle: (() => void)[] = [];
  #stats = { prefillRuns: 0, decodeRuns: 0, maxBatchRows: 0, sharedPrefixRows: 0 };

  /** An engine over `session`; `tensor` creates input tensors. */
  constructor(session: EngineSession, tensor: TensorFactory, options: EngineOptions) {
    this.#session = session;
    this.#tensor = tensor;
    this.#options = options;
    this.#eos = new Set(options.eosTokenIds);
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
      cancelled: false,
      failed: false,
    };
    this.#jobs.set(state.id, state);
    for (let sample = 0; sample < job.n; sample++) {
      this.#waiting.push({
        state,
        sample,
        sampler: new TokenSampler(job.sampling, job.seeds[sample]),
        text: new CompletionText(this.#options.detokenize, job.stop),
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
    if (!this.#running) return Promise.resolve();
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
        for (const resolve of this.#idle.splice(0)) resolve();
      } else if (this.#waiting.length > 0) this.#schedule();
    }
  }

  async #dropCancelled(): Promise<void> {
    for (let i = this.#waiting.length - 1; i >= 0; i--) {
      if (this.#waiting[i].state.cancelled || this.#waiting[i].state.failed)
        this.#waiting.splice(i, 1);
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
      state.listener.fail(error);
    }
  }

  /** Prefills waiting rows that fit, samples their first token, merges them into the batch. */
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
    let prefill: { cache: CacheBatch; logits: EngineTensor };
    try {
      prefill = await this.#prefill(states.map((state) => state.job.promptIds));
    } catch (error) {
      this.#fail(states, error);
      return;
    }
    const logitsData = await hostData(prefill.logits);
    // [groups, positions, vocabulary]; some exports return the last position only.
    const [, positions, vocabulary] = prefill.logits.dims;
    const joining: { row: Row; group: number }[] = [];
    try {
      states.forEach((state, group) => {
        const offset = (group * positions + positions - 1) * vocabulary;
        const view = logitsData.subarray(offset, offset + vocabulary) as LogitsView;
        groups.get(state)!.forEach((row, index) => {
          if (index > 0) {
            row.cachedTokens = state.job.promptIds.length;
            this.#stats.sharedPrefixRows++;
          }
          this.#accept(row, view);
          if (row.finish === undefined) joining.push({ row, group });
        });
      });
    } catch (error) {
      this.#fail(states, error);
      return;
    } finally {
      if (prefill.logits.location !== undefined && prefill.logits.location !== "cpu") {
        prefill.logits.dispose?.();
      }
    }
    const current = this.#cache;
    const picks: CachePick[] = this.#rows.map((row, index) => ({
      source: current!,
      row: index,
      keep: current!.length - row.pad,
    }));
    for (const { group } of joining) {
      picks.push({ source: prefill.cache, row: group, keep: states[group].job.promptIds.length });
    }
    await this.#rebuild([...this.#rows, ...joining.map((item) => item.row)], picks, [
      current,
      prefill.cache,
    ]);
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
    const outputs = await this.#run(rows, length, ids, mask, positions, empty, length);
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
    ids: number[],
    mask: number[],
    positions: number[],
    past: CacheBatch,
    total: number,
  ): Promise<Record<string, EngineTensor>> {
    const { signature } = this.#options;
    const feeds: Record<string, EngineTensor> = {
      [signature.inputIds.name]: this.#tensor(
        signature.inputIds.type,
        indexArray(signature.inputIds.type, ids),
        [rows, steps],
      ),
    };
    if (signature.attentionMask) {
      const { name, type } = signature.attentionMask;
      feeds[name] = this.#tensor(type, indexArray(type, mask), [rows, total]);
    }
    if (signature.positionIds) {
      const { name, type } = signature.positionIds;
      feeds[name] = this.#tensor(type, indexArray(type, positions), [rows, steps]);
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
    const rows = this.#rows;
    const cache = this.#cache!;
    const total = cache.length + 1;
    const mask: number[] = [];
    for (const row of rows) {
      for (let column = 0; column < total; column++) mask.push(column < row.pad ? 0 : 1);
    }
    let outputs: Record<string, EngineTensor>;
    try {
      outputs = await this.#run(
        rows.length,
        1,
        rows.map((row) => row.pending),
        mask,
        rows.map((row) => cache.length - row.pad),
        cache,
        total,
      );
    } catch (error) {
      this.#fail(new Set(rows.map((row) => row.state)), error);
      this.#rows = [];
      this.#replaceCache(undefined);
      return;
    }
    this.#stats.decodeRuns++;
    this.#stats.maxBatchRows = Math.max(this.#stats.maxBatchRows, rows.length);
    this.#replaceCache({ length: total, tensors: this.#presents(outputs) });
    const logits = outputs[this.#options.signature.logits.name];
    try {
      const data = await hostData(logits);
      const vocabulary = logits.dims[2];
      rows.forEach((row, index) => {
        if (row.state.failed || row.state.cancelled) return;
        this.#accept(
          row,
          data.subarray(index * vocabulary, (index + 1) * vocabulary) as LogitsView,
        );
      });
    } catch (error) {
      this.#fail(new Set(rows.map((row) => row.state)), error);
    } finally {
      if (logits.location !== undefined && logits.location !== "cpu") logits.dispose?.();
    }
    const keep = rows.filter(
      (row) => row.finish === undefined && !row.state.failed && !row.state.cancelled,
    );
    if (keep.length !== rows.length) await this.#keepRows(keep);
  }

  /** Samples a row's next token from its logits and settles whether the row is done. */
  #accept(row: Row, logits: LogitsView): void {
    const { tokenId, logprob } = row.sampler.sample(logits);
    const { job } = row.state;
    row.tokens.push(tokenId);
    row.logprobs.push(logprob);
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
