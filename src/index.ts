/**
 * pacore: Parallel Coordinated Reasoning. Run test-time scaling strategies (PaCoRe, single pass,
 * …) over any model backend.
 *
 * @example
 * ```ts
 * import { functionBackend, pacore, run } from "pacore";
 *
 * const backend = functionBackend(async ({ messages }) => callMyModel(messages));
 * const result = await run({ backend, strategy: pacore({ k: [16, 4] }), problem: "What is 17*23+5?" });
 * console.log(result.answer, result.effectiveTokens);
 * ```
 *
 * The OpenAI-compatible and ONNX backends live in their own entry points (`pacore/openai`,
 * `pacore/onnx`) so that importing pacore loads neither undici nor onnxruntime.
 */
export * from "../strategies/index.js";
export * from "./answers/index.js";
export {
  type CachedBackend,
  type CachedBackendOptions,
  type CacheLookup,
  type CountingBackend,
  cachedBackend,
  countingBackend,
  sampleKey,
} from "./backends/cache/index.js";
export * from "./backends/function/index.js";
export * from "./backends/simulated/index.js";
export {
  type BenchmarkProgress,
  type BenchmarkSummary,
  type Distribution,
  type ProblemRun,
  passAtK,
  type RoundStats,
  type RoundSummary,
  type RunBenchmarkInput,
  repeatSeed,
  runBenchmark,
} from "./bench/index.js";
export * from "./common/errors.js";
export { estimateTextTokens, estimateTokens } from "./common/estimate-tokens.js";
export { createRandom, hashSeed, shuffle } from "./common/random.js";
export { checkPlanFits, fitMessages, splitBudget } from "./core/budget.js";
export { normalizeProblem, Run, type RunConfig, run, sumUsage } from "./core/engine.js";
export {
  DEFAULT_CONTEXT_WINDOW,
  DEFAULT_MAX_TOKENS,
  parseRunOptions,
  type RunOptions,
  type RunOptionsInput,
  RunOptionsSchema,
  type TrimPolicy,
  TrimPolicySchema,
} from "./core/options.js";
export type { TokenCounter } from "./core/tokens.js";
export * from "./curve/index.js";
export * from "./rl/index.js";
export * from "./serve/index.js";
export type * from "./spec/backend.js";
export type * from "./spec/run.js";
export type * from "./spec/strategy.js";
export {
  arithBenchmark,
  type BenchmarkFields,
  type BenchmarkFormat,
  type BenchmarkProblem,
  type BenchmarkShape,
  type BenchmarkSource,
  gradedProblem,
  type LoadedBenchmark,
  loadBenchmark,
} from "./tasks/index.js";
