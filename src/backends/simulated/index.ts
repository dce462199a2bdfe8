/**
 * `simulatedBackend`: a seeded stochastic stand-in for a reasoning model, for engine tests and
 * cost/latency simulations at scale. It solves arithmetic problems ("What is 17*23+5?") right
 * with a set probability, errs plausibly otherwise, and in a synthesis round is helped by the
 * reference responses it is shown.
 */
import { z } from "zod";
import { answersEqual, normalizeAnswer, parseNumericAnswer } from "../../answers/equivalence.js";
import { extractAnswer } from "../../answers/extract.js";
import {
  addRational,
  formatRational,
  type Rational,
  rational,
  rationalsEqual,
  subtractRational,
} from "../../answers/rational.js";
import { AbortError, BackendError, ConfigError, ContextLengthError } from "../../common/errors.js";
import { estimateTextTokens, estimateTokens } from "../../common/estimate-tokens.js";
import { createRandom, fmix32, hashSeed } from "../../common/random.js";
import { sleep } from "../../common/sleep.js";
import { splitReasoning } from "../../common/think.js";
import { formatZodError } from "../../common/validate.js";
import type {
  ChatMessage,
  Completion,
  FinishReason,
  GenerateRequest,
  GenerateResult,
  ModelBackend,
} from "../../spec/backend.js";
import { additiveTerms, findArithmeticExpression } from "./arithmetic.js";
import { readSimulatedPrompt } from "./prompt.js";

export {
  type ArithmeticNode,
  type ArithmeticOperator,
  additiveTerms,
  evaluateArithmetic,
  type FoundExpression,
  findArithmeticExpression,
  parseArithmetic,
} from "./arithmetic.js";
export { readSimulatedPrompt, type SimulatedPrompt } from "./prompt.js";

const probability = z.number().min(0).max(1);

/** Options of `simulatedBackend`: the single source of truth, with defaults. */
export const SimulatedOptionsSchema = z
  .object({
    /** Probability that a fresh trajectory (no references) reaches the right answer. */
    accuracy: probability.default(0.55),
    /**
     * How much seeing references helps, 0–1. When `c` of `K` references hold the right answer,
     * a synthesis trajectory adopts it with probability `1 - (1 - c/K)^(1 + 9 * synthesisSkill)`
     * (skill 0: as likely as picking a random reference; 0.8: a right answer held by a quarter of
     * the references is adopted 9 times in 10). Otherwise it copies a wrong reference answer half
     * the time (weighted by support) and solves afresh the other half.
     */
    synthesisSkill: probability.default(0.8),
    /** Median latency of a sample in milliseconds; 0 adds no timer at all. */
    latencyMs: z.number().min(0).default(0),
    /** Log-normal sigma of the latency around its median (0: always `latencyMs`). */
    latencyJitter: z.number().min(0).default(0),
    /** When set, generation time `completionTokens / tokensPerSecond` is added to the latency. */
    tokensPerSecond: z.number().positive().optional(),
    /** Mean reasoning length in (estimated) tokens. */
    reasoningTokens: z.number().int().positive().default(200),
    /** Log-normal sigma of the reasoning length around its mean. */
    reasoningTokensSpread: z.number().min(0).default(0.3),
    /** Probability that a call fails with a retryable `BackendError` ("simulated transient failure"). */
    failureRate: probability.default(0),
    /** Context window in tokens; longer prompts fail with a `ContextLengthError`. */
    contextWindow: z.number().int().positive().default(32768),
    /** Most calls at once, reported to the engine (which enforces it). */
    maxConcurrency: z.number().int().positive().optional(),
    /** Most samples per call (`n`). */
    maxSamplesPerCall: z.number().int().positive().default(16),
    /** Model name reported in results. */
    model: z.string().min(1).default("simulated-reasoner"),
  })
  .strict();

/** Options as a caller writes them (every field optional). */
export type SimulatedOptions = z.input<typeof SimulatedOptionsSchema>;
/** Options with defaults filled in. */
export type ResolvedSimulatedOptions = z.infer<typeof SimulatedOptionsSchema>;

/** Probability that a synthesis trajectory that did not adopt the right answer copies a wrong one. */
const COPY_WRONG_REFERENCE = 0.5;
/** Probability that a wrong fresh answer is an unpatterned error rather than a common mistake. */
const FRESH_ERROR = 0.25;
/** Weights of the problem's common mistakes (see `commonMistakes`). */
const MISTAKE_WEIGHTS = [0.35, 0.25, 0.2, 0.12, 0.08];

const FILLER = [
  "(simulated) Let me work through this step by step.",
  "(simulated) First the products and quotients, then the sums.",
  "(simulated) Checking the arithmetic once more.",
  "(simulated) Wait, let me re-verify that intermediate value.",
  "(simulated) This sentence stands in for real model reasoning.",
  "(simulated) Carrying the digits carefully.",
  "(simulated) Hmm, another approach could confirm it.",
  "(simulated) The intermediate results look consistent so far.",
];
const FILLER_TOKENS = FILLER.map(estimateTextTokens);
const OPEN_TAG_TOKENS = estimateTextTokens("<think>");

/** What the simulator knows about one distinct last user turn (cached). */
interface Analysis {
  readonly hash: number;
  readonly expression: string | null;
  readonly answer: Rational | null;
  readonly mistakes: readonly Rational[];
  readonly synthesis?: {
    readonly total: number;
    readonly correct: number;
    /** Wrong reference answers by normalized key, with their support. */
    readonly wrong: readonly { readonly answer: string; readonly count: number }[];
  };
}

/** A murmur3-style mix of two 32-bit values. */
function mix(a: number, b: number): number {
  return fmix32((a ^ Math.imul(b, 0x9e3779b1)) >>> 0);
}

function normal(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function offset(value: Rational, delta: number): Rational {
  return addRational(value, rational(BigInt(delta)));
}

/** A digit slip: two adjacent differing digits of the numerator swapped, or one digit off by 1. */
function digitSlip(value: Rational, random: () => number): Rational {
  const negative = value.numerator < 0n;
  const digits = (negative ? -value.numerator : value.numerator).toString().split("");
  const swaps = digits.flatMap((digit, i) => (i > 0 && digits[i - 1] !== digit ? [i] : []));
  if (swaps.length > 0) {
    const i = swaps[Math.floor(random() * swaps.length)];
    [digits[i - 1], digits[i]] = [digits[i], digits[i - 1]];
  } else {
    const i = Math.floor(random() * digits.length);
    digits[i] = String((Number(digits[i]) + 1) % 10);
  }
  const numerator = BigInt(digits.join(""));
  return rational(negative ? -numerator : numerator, value.denominator);
}

/**
 * A problem's common mistakes, most likely first (weights `MISTAKE_WEIGHTS`): a dropped term of
 * the top-level sum (or an off-by-one to three), a digit slip, ±1, ±2…9, ±10…20. All differ from
 * the right answer and from each other, and depend only on the problem.
 */
function commonMistakes(
  answer: Rational,
  terms: readonly Rational[],
  random: () => number,
): Rational[] {
  const sign = () => (random() < 0.5 ? -1 : 1);
  const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  const candidates = [
    terms.length >= 2
      ? subtractRational(answer, terms[Math.floor(random() * terms.length)])
      : offset(answer, sign() * between(1, 3)),
    digitSlip(answer, random),
    offset(answer, sign()),
    offset(answer, sign() * between(2, 9)),
    offset(answer, sign() * between(10, 20)),
  ];
  const mistakes: Rational[] = [];
  for (const candidate of candidates) {
    let mistake = candidate;
    while (rationalsEqual(mistake, answer) || mistakes.some((m) => rationalsEqual(m, mistake))) {
      mistake = offset(answer, sign() * between(1, 30));
    }
    mistakes.push(mistake);
  }
  return mistakes;
}

function lastUserText(messages: readonly ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message.role !== "user") continue;
    if (typeof message.content === "string") return message.content;
    return message.content.flatMap((part) => (part.type === "text" ? [part.text] : [])).join("\n");
  }
  return "";
}

function analyze(text: string): Analysis {
  const hash = hashSeed("simulated-prompt", text);
  const prompt = readSimulatedPrompt(text);
  const found = findArithmeticExpression(prompt.problem) ?? findArithmeticExpression(text);
  const answer = found?.value ?? null;
  const mistakes =
    found && answer
      ? commonMistakes(answer, additiveTerms(found.node), createRandom(hashSeed(found.expression)))
      : [];
  if (!prompt.references) return { hash, expression: found?.expression ?? null, answer, mistakes };
  const truth = answer === null ? "unknown" : formatRational(answer);
  let correct = 0;
  const wrong = new Map<string, { answer: string; count: number }>();
  for (const reference of prompt.references) {
    const extracted = extractAnswer(reference);
    if (extracted === null || extracted.trim() === "") continue;
    if (answersEqual(extracted, truth)) {
      correct++;
      continue;
    }
    const key = normalizeAnswer(extracted);
    const numeric = parseNumericAnswer(extracted);
    const entry = wrong.get(key) ?? {
      answer: numeric ? formatRational(numeric, "latex") : extracted.trim(),
      count: 0,
    };
    entry.count++;
    wrong.set(key, entry);
  }
  return {
    hash,
    expression: found?.expression ?? null,
    answer,
    mistakes,
    synthesis: { total: prompt.references.length, correct, wrong: [...wrong.values()] },
  };
}

/** A fresh trajectory's answer: right with probability `accuracy`, else a plausible mistake. */
function freshAnswer(analysis: Analysis, accuracy: number, random: () => number): string {
  if (analysis.answer === null) return "unknown";
  if (random() < accuracy) return formatRational(analysis.answer, "latex");
  if (random() < FRESH_ERROR) {
    const magnitude = 1 + Math.floor(random() * 20);
    return formatRational(
      offset(analysis.answer, random() < 0.5 ? -magnitude : magnitude),
      "latex",
    );
  }
  let pick = random();
  for (let i = 0; i < analysis.mistakes.length; i++) {
    pick -= MISTAKE_WEIGHTS[i];
    if (pick < 0 || i === analysis.mistakes.length - 1) {
      return formatRational(analysis.mistakes[i], "latex");
    }
  }
  return "unknown";
}

/** A synthesis trajectory's answer (see `synthesisSkill`). */
function synthesisAnswer(
  analysis: Analysis,
  options: ResolvedSimulatedOptions,
  random: () => number,
): string {
  const synthesis = analysis.synthesis!;
  if (analysis.answer === null) return "unknown";
  const share = synthesis.total === 0 ? 0 : synthesis.correct / synthesis.total;
  const adopt = share === 0 ? 0 : 1 - (1 - share) ** (1 + 9 * options.synthesisSkill);
  if (random() < adopt) return formatRational(analysis.answer, "latex");
  const wrongVotes = synthesis.wrong.reduce((sum, entry) => sum + entry.count, 0);
  if (wrongVotes > 0 && random() < COPY_WRONG_REFERENCE) {
    let pick = random() * wrongVotes;
    for (const entry of synthesis.wrong) {
      pick -= entry.count;
      if (pick < 0) return entry.answer;
    }
  }
  return freshAnswer(analysis, options.accuracy, random);
}

interface SimulatedSample {
  readonly completion: Completion;
  readonly latencyMs: number;
}

/**
 * A seeded stochastic stand-in for a reasoning model.
 *
 * - Problems: the last user turn holds an arithmetic expression (`What is 17*23+5?`); it is
 *   evaluated exactly (non-integer quotients stay fractions). Other prompts get a generic
 *   simulated reply with the answer `unknown`.
 * - A fresh trajectory is right with probability `accuracy`; a wrong one is a plausible mistake
 *   (a dropped term, a digit slip, an error of ±1…±20), mostly one of a few per problem, so wrong
 *   answers coincide and voting can be fooled.
 * - A synthesis prompt (`Reference N:` blocks as in the PaCoRe paper, or `<reference>` tags; the
 *   problem from its "Original Problem:" section) is answered by the synthesis model described at
 *   `synthesisSkill`, from the answers extracted from the references.
 * - Output: `<think>…</think>` reasoning of about the sampled length (filler sentences marked
 *   `(simulated)`), then `[simulated] … The answer is \boxed{N}.`; split by `splitReasoning`.
 *   When `sampling.maxTokens` (or the context window) cuts a trajectory, it ends inside its
 *   reasoning with `finishReason: "length"` and no answer.
 * - Usage (estimated with `estimateTokens`): prompt tokens of the messages; completion tokens of
 *   reasoning plus content; cached tokens equal to the prompt for every sample of a call after
 *   the first (prefix sharing), else 0.
 * - Deterministic: a sample depends only on its seed (`request.seeds[i]`, or a hash of the prompt
 *   and `i`) and the last user turn, never on what else shares its call. At `temperature: 0`
 *   the seed is ignored and every sample of a prompt is the same.
 * - Failures (`failureRate`) are drawn per call from the backend's own stream, so a retry of the
 *   same seed can succeed.
 *
 * @example
 * const backend = simulatedBackend({ accuracy: 0.4, latencyMs: 50, latencyJitter: 0.3 });
 * const { completions } = await backend.generate({
 *   messages: [{ role: "user", content: "What is 17*23+5?" }],
 *   sampling: { temperature: 1 },
 *   n: 4,
 *   seeds: [1, 2, 3, 4],
 * });
 * completions[0].content; // "[simulated] Working through 17*23+5 step by step. The answer is \\boxed{396}."
 */
export function simulatedBackend(options: SimulatedOptions = {}): ModelBackend {
  const parsed = SimulatedOptionsSchema.safeParse(options, { reportInput: true });
  if (!parsed.success) {
    throw new ConfigError(formatZodError(parsed.error, "simulated backend option"));
  }
  const resolved = parsed.data;
  const cache = new Map<string, Analysis>();
  const failureRandom = createRandom(hashSeed("simulated-failures", resolved.model));

  function analysisOf(text: string): Analysis {
    let analysis = cache.get(text);
    if (analysis === undefined) {
      analysis = analyze(text);
      if (cache.size >= 1024) cache.clear();
      cache.set(text, analysis);
    }
    return analysis;
  }

  function sample(
    analysis: Analysis,
    seed: number,
    request: GenerateRequest,
    promptTokens: number,
    first: boolean,
  ): SimulatedSample {
    const greedy = request.sampling.temperature === 0;
    const random = createRandom(greedy ? analysis.hash : mix(seed, analysis.hash));
    const answer = analysis.synthesis
      ? synthesisAnswer(analysis, resolved, random)
      : freshAnswer(analysis, resolved.accuracy, random);
    const { reasoningTokens, reasoningTokensSpread: spread } = resolved;
    const targetTokens = Math.max(
      1,
      Math.round(reasoningTokens * Math.exp(spread * normal(random) - (spread * spread) / 2)),
    );
    const lead = analysis.synthesis
      ? `(simulated) Comparing the ${analysis.synthesis.total} reference responses with my own check.`
      : analysis.expression === null
        ? "(simulated) I look for an arithmetic problem in the prompt."
        : `(simulated) The problem asks for ${analysis.expression}.`;
    const content =
      analysis.expression === null
        ? "[simulated] I found no arithmetic problem to solve, so I cannot give a real answer. The answer is \\boxed{unknown}."
        : analysis.synthesis
          ? `[simulated] Having weighed the references against my own working of ${analysis.expression}, the answer is \\boxed{${answer}}.`
          : `[simulated] Working through ${analysis.expression} step by step. The answer is \\boxed{${answer}}.`;
    const contentTokens = estimateTextTokens(content);
    const limit = Math.min(
      request.sampling.maxTokens ?? Number.POSITIVE_INFINITY,
      resolved.contextWindow - promptTokens,
    );

    const leadTokens = estimateTextTokens(lead);
    let finishReason: FinishReason = "stop";
    let text: string;
    let completionTokens: number;
    if (Math.max(targetTokens, leadTokens) + contentTokens > limit) {
      // The trajectory wanted more tokens than it may have: cut off while thinking, no answer.
      finishReason = "length";
      const room = limit - OPEN_TAG_TOKENS;
      const kept: string[] = [];
      let used = 0;
      for (let i = 0; ; i++) {
        const tokens = i === 0 ? leadTokens : FILLER_TOKENS[(i - 1) % FILLER.length];
        if (used + tokens > room) break;
        kept.push(i === 0 ? lead : FILLER[(i - 1) % FILLER.length]);
        used += tokens;
      }
      text = room < 0 ? "" : `<think>\n${kept.join("\n")}`;
      completionTokens = room < 0 ? 0 : OPEN_TAG_TOKENS + used;
    } else {
      const sentences = [lead];
      let thinkingTokens = leadTokens;
      let cursor = Math.floor(random() * FILLER.length);
      while (thinkingTokens < targetTokens) {
        const tokens = FILLER_TOKENS[cursor];
        if (thinkingTokens + tokens + contentTokens > limit) break;
        sentences.push(FILLER[cursor]);
        thinkingTokens += tokens;
        cursor = (cursor + 1) % FILLER.length;
      }
      text = `<think>\n${sentences.join("\n")}\n</think>${content}`;
      completionTokens = thinkingTokens + contentTokens;
    }

    const split = splitReasoning(text);
    let latencyMs = 0;
    if (resolved.latencyMs > 0) {
      latencyMs =
        resolved.latencyJitter > 0
          ? resolved.latencyMs *
            Math.exp(resolved.latencyJitter * normal(createRandom(mix(seed, 0x1a7e))))
          : resolved.latencyMs;
    }
    if (resolved.tokensPerSecond !== undefined) {
      latencyMs += (completionTokens / resolved.tokensPerSecond) * 1000;
    }
    const completion: Completion = {
      content: split.content,
      ...(split.reasoning === undefined ? {} : { reasoning: split.reasoning }),
      finishReason,
      usage: { promptTokens, completionTokens, cachedTokens: first ? 0 : promptTokens },
    };
    return { completion, latencyMs };
  }

  return {
    specificationVersion: "v1",
    provider: "simulated",
    model: resolved.model,
    maxConcurrency: resolved.maxConcurrency,
    maxSamplesPerCall: resolved.maxSamplesPerCall,

    async generate(request: GenerateRequest): Promise<GenerateResult> {
      const { n, seeds, signal } = request;
      if (!Number.isInteger(n) || n < 1 || n > resolved.maxSamplesPerCall) {
        throw new ConfigError(
          `Expected \`n\` to be an integer from 1 to maxSamplesPerCall (${resolved.maxSamplesPerCall}), got \`${n}\``,
        );
      }
      if (seeds !== undefined && seeds.length !== n) {
        throw new ConfigError(
          `Expected \`seeds\` to have one seed per sample (n = ${n}), got ${seeds.length}`,
        );
      }
      if (signal?.aborted) {
        throw new AbortError("The backend call was aborted", { cause: signal.reason });
      }
      const fails = resolved.failureRate > 0 && failureRandom() < resolved.failureRate;
      const analysis = analysisOf(lastUserText(request.messages));
      const promptTokens = estimateTokens(request.messages);
      if (promptTokens >= resolved.contextWindow) {
        throw new ContextLengthError(
          `Expected a prompt shorter than the context window of ${resolved.contextWindow} tokens, got ${promptTokens} (estimated); shorten the messages or raise \`contextWindow\``,
        );
      }
      const samples: SimulatedSample[] = [];
      let latencyMs = 0;
      for (let i = 0; i < n; i++) {
        const seed = seeds?.[i] ?? mix(analysis.hash, i);
        const result = sample(analysis, seed, request, promptTokens, i === 0);
        samples.push(result);
        if (result.latencyMs > latencyMs) latencyMs = result.latencyMs;
      }
      if (latencyMs > 0) {
        await sleep(
          latencyMs,
          signal,
          (reason) => new AbortError("The backend call was aborted", { cause: reason }),
        );
      }
      if (fails) {
        throw new BackendError("simulated transient failure", { retryable: true, status: 503 });
      }
      const completions = samples.map((entry) => entry.completion);
      if (request.onDelta) {
        completions.forEach((completion, i) => {
          request.onDelta?.({ sample: i, text: completion.content });
        });
      }
      return { completions };
    },

    async contextWindow() {
      return resolved.contextWindow;
    },

    async countTokens(input) {
      return estimateTokens(input);
    },
  };
}
