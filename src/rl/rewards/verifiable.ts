/**
 * Verifiable rewards with a known answer: math (the library's grader), numbers within a
 * tolerance, multiple choice.
 */
import { parseNumericAnswer } from "../../answers/equivalence.js";
import { extractAnswer } from "../../answers/extract.js";
import { type GradeOptions, gradeAnswer } from "../../answers/grade.js";
import { ConfigError } from "../../common/errors.js";
import type { Reward, RewardInput } from "./types.js";

function needTruth(name: string, input: RewardInput): string {
  if (typeof input.groundTruth !== "string" || input.groundTruth.trim() === "") {
    throw new ConfigError(
      `The ${name} reward needs a ground truth; got none (give \`groundTruth\`, or a label in the request)`,
    );
  }
  return input.groundTruth;
}

/**
 * 1 when the response's final answer is equivalent to the ground truth by `gradeAnswer`
 * (`\boxed{…}` variants, fractions, expressions, sets, intervals, choice letters), else 0.
 *
 * @example
 * await mathReward()({ response: "… so $\\boxed{\\tfrac{2}{4}}$", groundTruth: "1/2" }) // score 1
 */
export function mathReward(options: GradeOptions = {}): Reward {
  return async (input) => {
    const truth = needTruth("math", input);
    const correct = await gradeAnswer(truth, input.response, options);
    return { score: correct ? 1 : 0, parts: { math: correct ? 1 : 0 } };
  };
}

/** Options of `numericReward`. */
export interface NumericRewardOptions {
  /** Relative tolerance: |a − b| ≤ relative × |b| passes (default 1e-6). */
  readonly relative?: number;
  /** Absolute tolerance: |a − b| ≤ absolute passes (default 0). */
  readonly absolute?: number;
}

function toNumber(text: string | null): number | null {
  if (text === null) return null;
  const exact = parseNumericAnswer(text);
  if (exact !== null) return Number(exact.numerator) / Number(exact.denominator);
  const value = Number(text.replace(/[,\s$]/g, ""));
  return Number.isFinite(value) ? value : null;
}

/**
 * 1 when the response's final number is within a tolerance of the ground truth (relative or
 * absolute, whichever is looser), else 0.
 */
export function numericReward(options: NumericRewardOptions = {}): Reward {
  const relative = options.relative ?? 1e-6;
  const absolute = options.absolute ?? 0;
  if (!(relative >= 0) || !(absolute >= 0)) {
    throw new ConfigError(
      `Expected non-negative tolerances, got relative \`${relative}\` and absolute \`${absolute}\``,
    );
  }
  return async (input) => {
    const truth = toNumber(needTruth("numeric", input).trim());
    if (truth === null) {
      throw new ConfigError(
        `The numeric reward needs a number as ground truth, got \`${input.groundTruth}\``,
      );
    }
    const answer = toNumber(extractAnswer(input.response, { kind: "numeric" }));
    const ok =
      answer !== null && Math.abs(answer - truth) <= Math.max(absolute, relative * Math.abs(truth));
    return { score: ok ? 1 : 0, parts: { numeric: ok ? 1 : 0 } };
  };
}

/** 1 when the response picks the ground truth's letter (`B`, `(B)`, `\boxed{B}`), else 0. */
export function choiceReward(): Reward {
  return async (input) => {
    const truthText = needTruth("choice", input).trim();
    const truth = /^\(?([A-Ja-j])\)?(?:[\s.:)]|$)/.exec(truthText)?.[1]?.toUpperCase();
    if (truth === undefined) {
      throw new ConfigError(
        `The choice reward needs a letter A–J as ground truth, got \`${truthText}\``,
      );
    }
    const picked = extractAnswer(input.response, { kind: "choice" });
    const ok = picked === truth;
    return { score: ok ? 1 : 0, parts: { choice: ok ? 1 : 0 } };
  };
}
