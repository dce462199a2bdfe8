/**
 * Choosing the next token of a row from its logits: greedy (temperature 0), temperature, top-k,
 * top-p, seeded. Each row owns its random stream and draws exactly one number per sampled token,
 * so what a row generates depends only on its seed and its logits, never on which rows share
 * its batch.
 */
import { createRandom } from "../../common/random.js";

/** Sampling settings of a row, resolved (no defaults left). */
export interface RowSampling {
  /** 0 means greedy. */
  readonly temperature: number;
  /** Nucleus mass in (0, 1]; 1 keeps everything. */
  readonly topP: number;
  /** Keep the k most likely tokens; 0 keeps everything. */
  readonly topK: number;
}

/** One sampled token with its log-probability under the model (log-softmax of the raw logits). */
export interface SampledToken {
  readonly tokenId: number;
  readonly logprob: number;
}

/** Logits of one position: a float32 view, or raw float16 bits. */
export type LogitsView = Float32Array | Uint16Array;

const HALF_TABLE = (() => {
  const table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    if (exponent === 0) table[bits] = sign * 2 ** -14 * (fraction / 1024);
    else if (exponent === 31) table[bits] = fraction === 0 ? sign * Infinity : Number.NaN;
    else table[bits] = sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return table;
})();

/** IEEE 754 half-precision bits to a number. */
export function halfToFloat(bits: number): number {
  return HALF_TABLE[bits & 0xffff];
}

/**
 * Scratch buffers reused by every sampler of the thread (sampling is synchronous, so one call
 * never overlaps another): decoding allocates nothing per row and step.
 */
let halfScratch = new Float32Array(0);
let poolScratch = new Int32Array(0);
let weightScratch = new Float64Array(0);

/** float16 bits as float32, in a scratch buffer valid until the next call. */
function halfsToScratch(bits: Uint16Array): Float32Array {
  if (halfScratch.length < bits.length) halfScratch = new Float32Array(bits.length);
  const out = halfScratch;
  for (let i = 0; i < bits.length; i++) out[i] = HALF_TABLE[bits[i]];
  return out.length === bits.length ? out : out.subarray(0, bits.length);
}

/** Index of the largest logit (first on ties); throws when a logit is NaN or +∞, or all are −∞. */
function checkedArgmax(logits: Float32Array): number {
  let best = 0;
  let bestValue = logits[0];
  let finite = bestValue < Number.POSITIVE_INFINITY;
  for (let i = 1; i < logits.length; i++) {
    const value = logits[i];
    if (!(value < Number.POSITIVE_INFINITY)) finite = false;
    if (value > bestValue) {
      bestValue = value;
      best = i;
    }
  }
  if (!finite || bestValue === Number.NEGATIVE_INFINITY) throw nonFinite();
  return best;
}

function nonFinite(): Error {
  return new Error("The model returned logits that are not finite numbers (NaN or infinity)");
}

/** Float32 copy of float16 bits. */
export function halfsToFloats(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = HALF_TABLE[bits[i]];
  return out;
}

/** Index of the largest logit, the first one on ties (as `torch.argmax`). */
export function argmax(logits: Float32Array): number {
  let best = 0;
  let bestValue = logits[0];
  for (let i = 1; i < logits.length; i++) {
    if (logits[i] > bestValue) {
      bestValue = logits[i];
      best = i;
    }
  }
  return best;
}

/** log Σ exp(logits), computed stably in double precision. */
function logSumExp(logits: Float32Array): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return max + Math.log(sum);
}

/** Indices of the k largest values, largest first, lower index first on ties. */
export function topKIndices(values: Float32Array, k: number): number[] {
  // A min-heap of size k over (value, -index).
  const heap: number[] = [];
  const worse = (a: number, b: number) =>
    values[a] < values[b] || (values[a] === values[b] && a > b);
  const siftUp = (start: number) => {
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!worse(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  };
  const siftDown = () => {
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && worse(heap[left], heap[smallest])) smallest = left;
      if (right < heap.length && worse(heap[right], heap[smallest])) smallest = right;
      if (smallest === i) break;
      [heap[i], heap[smallest]] = [heap[smallest], heap[i]];
      i = smallest;
    }
  };
  for (let index = 0; index < values.length; index++) {
    if (heap.length < k) {
      heap.push(index);
      siftUp(heap.length - 1);
    } else if (worse(heap[0], index)) {
      heap[0] = index;
      siftDown();
    }
  }
  return heap.sort((a, b) => values[b] - values[a] || a - b);
}

/**
 * A row's sampler: its own random stream (mulberry32 from the row's seed) and its settings.
 */
export class TokenSampler {
  readonly #random: () => number;
  readonly #sampling: RowSampling;

  /** A sampler whose stream depends only on `seed`. */
  constructor(sampling: RowSampling, seed: number) {
    this.#sampling = sampling;
    this.#random = createRandom(seed);
  }

  /**
   * Picks the next token. Greedy rows take the argmax and draw nothing; sampling rows draw
   * exactly one number. The log-probability is that of the model's distribution (temperature 1,
   * no filtering), as vLLM reports by default; with `withLogprob` false it is not computed
   * (NaN), which spares a pass of `exp` over the vocabulary.
   */
  sample(view: LogitsView, withLogprob = true): SampledToken {
    const logits = view instanceof Uint16Array ? halfsToScratch(view) : view;
    const { temperature, topK, topP } = this.#sampling;
    if (!withLogprob) {
      if (temperature <= 0) return { tokenId: checkedArgmax(logits), logprob: Number.NaN };
      checkedArgmax(logits);
      return { tokenId: this.#draw(logits, temperature, topK, topP), logprob: Number.NaN };
    }
    const normalizer = logSumExp(logits);
    if (!Number.isFinite(normalizer)) throw nonFinite();
    let tokenId: number;
    if (temperature <= 0) {
      tokenId = argmax(logits);
    } else {
      tokenId = this.#draw(logits, temperature, topK, topP);
    }
    return { tokenId, logprob: logits[tokenId] - normalizer };
  }

  #draw(logits: Float32Array, temperature: number, topK: number, topP: number): number {
    const vocabulary = logits.length;
    let candidates: number[] | undefined;
    if (topK > 0 && topK < vocabulary) candidates = topKIndices(logits, topK);
    let max = Number.NEGATIVE_INFINITY;
    if (candidates) max = logits[candidates[0]];
    else for (let i = 0; i < vocabulary; i++) if (logits[i] > max) max = logits[i];

    const weight = (index: number) => Math.exp((logits[index] - max) / temperature);
    const u = this.#random();
    if (topP >= 1) {
      let total = 0;
      if (candidates) for (const index of candidates) total += weight(index);
      else for (let i = 0; i < vocabulary; i++) total += weight(i);
      let threshold = u * total;
      const order = candidates ?? undefined;
      const count = order ? order.length : vocabulary;
      let last = 0;
      for (let position = 0; position < count; position++) {
        const index = order ? order[position] : position;
        const w = weight(index);
        if (w > 0) last = index;
        threshold -= w;
        if (threshold < 0) return index;
      }
      return last;
    }

    // Nucleus: tokens below (1 - p) / |candidates| of the mass can never be in the nucleus
    // (together they hold less than 1 - p), so only the others are sorted.
    const size = candidates ? candidates.length : vocabulary;
    if (poolScratch.length < size) {
      poolScratch = new Int32Array(size);
      weightScratch = new Float64Array(size);
    }
    const pool = poolScratch;
    const weights = weightScratch;
    if (candidates) pool.set(candidates);
    else for (let i = 0; i < size; i++) pool[i] = i;
    let total = 0;
    for (let i = 0; i < size; i++) {
      weights[i] = weight(pool[i]);
      total += weights[i];
    }
    const floor = ((1 - topP) / size) * total;
    const kept: { index: number; weight: number }[] = [];
    for (let i = 0; i < size; i++) {
      if (weights[i] >= floor) kept.push({ index: pool[i], weight: weights[i] });
    }
    kept.sort((a, b) => b.weight - a.weight || a.index - b.index);
    let mass = 0;
    let cut = kept.length;
    for (let i = 0; i < kept.length; i++) {
      mass += kept[i].weight;
      if (mass >= topP * total) {
        cut = i + 1;
        break;
      }
    }
    let nucleus = 0;
    for (let i = 0; i < cut; i++) nucleus += kept[i].weight;
    let threshold = u * nucleus;
    for (let i = 0; i < cut; i++) {
      threshold -= kept[i].weight;
      if (threshold < 0) return kept[i].index;
    }
    return kept[cut - 1].index;
  }
}
