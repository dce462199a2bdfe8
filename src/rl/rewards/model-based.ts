/**
 * Model-based rewards through any backend: a judge that checks semantic equivalence and that
 * the reasoning supports the answer, and GenRM, a pairwise preference against a teacher's answer
 * asked in both orders so that position bias cancels. Prompts are Jinja templates (the dialect
 * of Hugging Face chat templates); calls go through the engine, so they get its retries.
 */
import { Template } from "@huggingface/jinja";
import { single } from "../../../strategies/single.js";
import { ConfigError, describeError } from "../../common/errors.js";
import { splitReasoning } from "../../common/think.js";
import { run } from "../../core/engine.js";
import type { RunOptionsInput } from "../../core/options.js";
import type { ModelBackend } from "../../spec/backend.js";
import type { Reward, RewardInput, RewardResult } from "./types.js";

/** The judge's default prompt; it receives `problem`, `reference` and `response`. */
export const DEFAULT_JUDGE_TEMPLATE = `You are grading a response to a problem against a reference answer.

Problem:
{{ problem }}

Reference answer:
{{ reference }}

Response:
{{ response }}

Decide two things.
1. Is the response's final answer semantically equivalent to the reference answer (same value or meaning, whatever the form)?
2. Does the response's reasoning support its final answer: every step valid, no error that happens to land on the right answer, no unexplained leap to it?

Reply with exactly two lines:
EQUIVALENT: yes or no
REASONING_SUPPORTS_ANSWER: yes or no`;

/** GenRM's default prompt; it receives `problem`, `first` and `second`. */
export const DEFAULT_GENRM_TEMPLATE = `Two responses to the same problem follow. Judge which one is better: correct first, then sound and complete reasoning, then clarity.

Problem:
{{ problem }}

Response A:
{{ first }}

Response B:
{{ second }}

Reply with one line:
PREFERRED: A, B or TIE`;

/** Options shared by the model-based rewards. */
export interface ModelRewardOptions {
  /** The judging model. */
  readonly backend: ModelBackend;
  /** A Jinja template for the judge's user turn (defaults above). */
  readonly template?: string;
  /** Run options of the judge's calls (default temperature 0, seed 0). */
  readonly options?: RunOptionsInput;
  /**
   * What a failed judge call (after the engine's retries) does: `throw` (default: a reward that
   * cannot be computed is not silently 0) or `zero` (score 0, part `judgeError` 1).
   */
  readonly onError?: "throw" | "zero";
}

function compile(
  source: string,
  variables: readonly string[],
): (values: Record<string, string>) => string {
  let template: Template;
  try {
    template = new Template(source);
  } catch (error) {
    throw new ConfigError(`The judge template does not parse: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const render = (values: Record<string, string>) => template.render(values);
  try {
    render(Object.fromEntries(variables.map((name) => [name, name])));
  } catch (error) {
    throw new ConfigError(
      `The judge template does not render (given ${variables.join(", ")}): ${(error as Error).message}`,
      { cause: error },
    );
  }
  return render;
}

async function ask(
  options: ModelRewardOptions,
  prompt: string,
  signal?: AbortSignal,
): Promise<string> {
  const result = await run({
    backend: options.backend,
    strategy: single(),
    problem: prompt,
    options: { temperature: 0, ...options.options },
    ...(signal !== undefined && { signal }),
  });
  return splitReasoning(result.content).content;
}

function failed(options: ModelRewardOptions, error: unknown, name: string): RewardResult {
  if (options.onError !== "zero") throw error;
  return {
    score: 0,
    parts: { [name]: 0, judgeError: 1 },
    reason: `judge failed: ${describeError(error).message}`,
  };
}

const yes = (text: string, label: RegExp): boolean | null => {
  const match = label.exec(text);
  return match ? /^y/i.test(match[1]) : null;
};

/**
 * Model-based verification: 1 only when the judge says the response's answer is equivalent to
 * the reference (the ground truth) AND that its reasoning supports it; a right answer reached by
 * wrong reasoning scores 0. Parts: `equivalent`, `reasoning`, `judge`.
 */
export function judgeReward(options: ModelRewardOptions): Reward {
  const render = compile(options.template ?? DEFAULT_JUDGE_TEMPLATE, [
    "problem",
    "reference",
    "response",
  ]);
  return async (input: RewardInput) => {
    if (input.groundTruth === undefined) {
      throw new ConfigError(
        "The judge reward needs a reference answer (the ground truth or label)",
      );
    }
    let verdict: string;
    try {
      verdict = await ask(
        options,
        render({
          problem: input.problem ?? "",
          reference: input.groundTruth,
          response: input.response,
        }),
        input.signal,
      );
    } catch (error) {
      return failed(options, error, "judge");
    }
    const equivalent = yes(verdict, /EQUIVALENT\s*:\s*\**\s*(yes|no)/i);
    const reasoning = yes(verdict, /REASONING[_ ]SUPPORTS(?:[_ ]ANSWER)?\s*:\s*\**\s*(yes|no)/i);
    if (equivalent === null || reasoning === null) {
      return {
        score: 0,
        parts: { judge: 0, judgeUnparsed: 1 },
        reason: `the judge's verdict did not say EQUIVALENT and REASONING_SUPPORTS_ANSWER: ${JSON.stringify(verdict.slice(0, 200))}`,
      };
    }
    const score = equivalent && reasoning ? 1 : 0;
    return {
      score,
      parts: { judge: score, equivalent: equivalent ? 1 : 0, reasoning: reasoning ? 1 : 0 },
    };
  };
}

/** A preference verdict: which of the two responses shown first and second won. */
function preferred(text: string): "A" | "B" | "TIE" | null {
  const match = /PREFERRED\s*:\s*\**\s*(A|B|TIE)\b/i.exec(text);
  return match ? (match[1].toUpperCase() as "A" | "B" | "TIE") : null;
}

/**
 * GenRM: the judge compares the response with a teacher's answer (`teacherResponse`, else the
 * ground truth) twice, once with the response first and once second; each order scores 1 when
 * the response wins, 0.5 for a tie, 0 when it loses or the verdict cannot be read. The score is
 * the mean of the two orders, so a judge that always prefers position A gives 0.5.
 * Parts: `genrm`, `forward` (response first), `backward` (response second).
 */
export function genrmReward(options: ModelRewardOptions): Reward {
  const render = compile(options.template ?? DEFAULT_GENRM_TEMPLATE, [
    "problem",
    "first",
    "second",
  ]);
  return async (input: RewardInput) => {
    const teacher = input.teacherResponse ?? input.groundTruth;
    if (teacher === undefined) {
      throw new ConfigError(
        "The GenRM reward needs a teacher's answer (teacherResponse or the label)",
      );
    }
    const problem = input.problem ?? "";
    let verdicts: string[];
    try {
      verdicts = await Promise.all([
        ask(options, render({ problem, first: input.response, second: teacher }), input.signal),
        ask(options, render({ problem, first: teacher, second: input.response }), input.signal),
      ]);
    } catch (error) {
      return failed(options, error, "genrm");
    }
    const [first, second] = verdicts.map(preferred);
    const forward = first === "A" ? 1 : first === "TIE" ? 0.5 : 0;
    const backward = second === "B" ? 1 : second === "TIE" ? 0.5 : 0;
    const score = (forward + backward) / 2;
    return {
      score,
      parts: { genrm: score, forward, backward },
      ...((first === null || second === null) && {
        reason: "a GenRM verdict could not be read (counted as a loss)",
      }),
    };
  };
}
