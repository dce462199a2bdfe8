/**
 * Symbolic and numeric comparison of two expressions with mathjs, the only module that loads it
 * (lazily, on the first grading). Expressions come from `latex.ts` in mathjs syntax.
 *
 * Two expressions are equal when:
 * - both are exact literals (`3`, `-2.5`, `\frac{6}{4}`) and equal as rationals, or, for a
 *   non-integer ground truth, within the relative tolerance (`1/3` vs `0.333333`);
 * - without free variables: their values agree (an integer ground truth within float noise
 *   only, anything else within the relative tolerance; complex values included);
 * - with free variables: their values agree at several seeded random points where both are
 *   finite (at least three), all symbols of both sides drawn independently, so `x + 1` never
 *   equals `x + 2n + 1` or `t + 1`; when no point is usable, `simplify(a - b)` must give 0
 *   (small expressions only).
 *
 * mathjs is synchronous, so work is bounded instead of preempted: inputs are capped in length,
 * evaluation is a fixed number of points of a compiled expression (linear in its size), the
 * binomial coefficient is our own bounded implementation, `simplify` runs only on small
 * expressions, and the deadline is checked between steps. That keeps every comparison far below
 * a millisecond-scale budget without the cost of a worker thread per grading.
 */
import { createRandom } from "../common/random.js";
import type { Rational } from "./rational.js";

/** An expression in mathjs syntax, with its exact value when it is a plain number. */
export interface MathExpression {
  /** mathjs source, variables named `v_<name>`. */
  readonly math: string;
  /** The exact value for a literal number or fraction, else null. */
  readonly exact: Rational | null;
}

/** Thrown when a comparison runs past its deadline. */
export class GradeTimeoutError extends Error {
  override readonly name = "GradeTimeoutError";
}

type MathModule = typeof import("mathjs");

let mathModule: Promise<MathModule> | null = null;

function loadMath(): Promise<MathModule> {
  mathModule ??= import("mathjs");
  return mathModule;
}

/** Options of a comparer. */
export interface SymbolicOptions {
  /** Relative tolerance for non-integer values. */
  readonly tolerance: number;
  /** Seed of the random evaluation points. */
  readonly seed: number;
  /**
   * Milliseconds after which comparisons throw `GradeTimeoutError`, counted from the moment
   * mathjs is loaded (the first call's import is not part of the comparison).
   */
  readonly timeoutMs: number;
}

/** Compares expressions; reuse one per grading so parsed expressions are cached. */
export interface SymbolicComparer {
  equal(groundTruth: MathExpression, answer: MathExpression): boolean;
}

const ALLOWED_FUNCTIONS = new Set([
  "sqrt",
  "nthRoot",
  "sin",
  "cos",
  "tan",
  "sec",
  "csc",
  "cot",
  "asin",
  "acos",
  "atan",
  "asec",
  "acsc",
  "acot",
  "sinh",
  "cosh",
  "tanh",
  "log",
  "log10",
  "exp",
  "abs",
  "floor",
  "ceil",
  "binomial",
]);

const MAX_SOURCE_LENGTH = 2000;
const POINTS = 8;
const MIN_USABLE_POINTS = 3;
const SIMPLIFY_MAX_NODES = 60;

interface Value {
  readonly re: number;
  readonly im: number;
}

interface Compiled {
  readonly evaluate: (scope: Record<string, unknown>) => unknown;
  readonly variables: readonly string[];
  readonly nodes: number;
}

/** `n choose k` for real `n` and a non-negative integer `k`, bounded work. */
function binomial(n: unknown, k: unknown): number {
  if (typeof n !== "number" || typeof k !== "number") return Number.NaN;
  if (!Number.isInteger(k) || k < 0) return Number.NaN;
  const m = Number.isInteger(n) && n >= 0 ? Math.min(k, n - k) : k;
  if (m < 0) return 0;
  if (m > 10_000) return Number.POSITIVE_INFINITY;
  let result = 1;
  for (let j = 1; j <= m; j++) result = (result * (n - m + j)) / j;
  return Number.isInteger(n) ? Math.round(result) : result;
}

function toValue(result: unknown): Value | null {
  if (typeof result === "number") return { re: result, im: 0 };
  if (result !== null && typeof result === "object" && "re" in result && "im" in result) {
    const { re, im } = result as { re: unknown; im: unknown };
    if (typeof re === "number" && typeof im === "number") return { re, im };
  }
  return null;
}

function finite(value: Value): boolean {
  return Number.isFinite(value.re) && Number.isFinite(value.im);
}

function distance(a: Value, b: Value): number {
  return Math.hypot(a.re - b.re, a.im - b.im);
}

function magnitude(a: Value): number {
  return Math.hypot(a.re, a.im);
}

function toNumber(value: Rational): number {
  return Number(value.numerator) / Number(value.denominator);
}

/** Loads mathjs (once per process) and returns a comparer. */
export async function createSymbolicComparer(options: SymbolicOptions): Promise<SymbolicComparer> {
  const math = await loadMath();
  const deadline = Date.now() + options.timeoutMs;
  const cache = new Map<string, Compiled | null>();

  const checkDeadline = () => {
    if (Date.now() >= deadline) {
      throw new GradeTimeoutError("The comparison ran past its time limit");
    }
  };

  const compile = (source: string): Compiled | null => {
    const cached = cache.get(source);
    if (cached !== undefined) return cached;
    let compiled: Compiled | null = null;
    if (source.length <= MAX_SOURCE_LENGTH) {
      try {
        const node = math.parse(source);
        const variables = new Set<string>();
        let allowed = true;
        let nodes = 0;
        node.traverse((child) => {
          nodes++;
          if (math.isFunctionNode(child)) {
            if (!ALLOWED_FUNCTIONS.has(child.fn.name)) allowed = false;
          } else if (math.isSymbolNode(child)) {
            if (child.name.startsWith("v_")) variables.add(child.name);
            else if (
              !ALLOWED_FUNCTIONS.has(child.name) &&
              !["pi", "e", "i", "Infinity"].includes(child.name)
            ) {
              allowed = false;
            }
          }
        });
        if (allowed) {
          const code = node.compile();
          compiled = {
            evaluate: (scope) => code.evaluate(scope),
            variables: [...variables].sort(),
            nodes,
          };
        }
      } catch {
        compiled = null;
      }
    }
    cache.set(source, compiled);
    return compiled;
  };

  const evaluate = (compiled: Compiled, scope: Record<string, unknown>): Value | null => {
    try {
      return toValue(compiled.evaluate({ ...scope, binomial }));
    } catch {
      return null;
    }
  };

  /** Value comparison; `integerTruth`: the ground truth is an integer, compared exactly. */
  const close = (truth: Value, answer: Value, integerTruth: boolean): boolean => {
    if (!finite(truth) || !finite(answer)) {
      return (
        truth.im === 0 &&
        answer.im === 0 &&
        Math.abs(truth.re) === Number.POSITIVE_INFINITY &&
        truth.re === answer.re
      );
    }
    const gap = distance(truth, answer);
    if (integerTruth) return gap <= Math.min(1e-9 * Math.max(1, magnitude(truth)), 1e-3);
    return gap <= options.tolerance * Math.max(magnitude(truth), magnitude(answer)) + 1e-12;
  };

  const equal = (truth: MathExpression, answer: MathExpression): boolean => {
    checkDeadline();
    if (truth.exact !== null && answer.exact !== null) {
      const same =
        truth.exact.numerator === answer.exact.numerator &&
        truth.exact.denominator === answer.exact.denominator;
      if (same || truth.exact.denominator === 1n) return same;
      return close(
        { re: toNumber(truth.exact), im: 0 },
        { re: toNumber(answer.exact), im: 0 },
        false,
      );
    }
    const left = compile(truth.math);
    const right = compile(answer.math);
    if (left === null || right === null) return false;
    const variables = [...new Set([...left.variables, ...right.variables])].sort();
    if (variables.length === 0) {
      const truthValue = evaluate(left, {});
      const answerValue = evaluate(right, {});
      if (truthValue === null || answerValue === null) return false;
      const integerTruth =
        truth.exact?.denominator === 1n ||
        (truthValue.im === 0 && Number.isInteger(truthValue.re) && truth.exact !== null);
      return close(truthValue, answerValue, integerTruth);
    }
    const random = createRandom(options.seed);
    let usable = 0;
    for (let point = 0; point < POINTS; point++) {
      checkDeadline();
      const scope: Record<string, number> = {};
      for (const name of variables) scope[name] = 0.4 + 2.6 * random();
      const truthValue = evaluate(left, scope);
      const answerValue = evaluate(right, scope);
      if (truthValue === null || answerValue === null) continue;
      if (!finite(truthValue) || !finite(answerValue)) continue;
      if (!close(truthValue, answerValue, false)) return false;
      usable++;
    }
    if (usable >= MIN_USABLE_POINTS) return true;
    if (usable > 0 || left.nodes + right.nodes > SIMPLIFY_MAX_NODES) return false;
    try {
      checkDeadline();
      const difference = math.simplify(`(${truth.math}) - (${answer.math})`);
      return math.isConstantNode(difference) && difference.value === 0;
    } catch {
      return false;
    }
  };

  return { equal };
}
