/**
 * The `arith` task family: procedurally generated multi-step integer arithmetic such as
 * `(47*8+129)-36*3`, with a programmatic verifier. A seed fixes the problems; a fixed hash of the
 * expression text puts one expression in ten in the held-out split, which the embedded model
 * (`models/pacore-tiny/`) never saw in training.
 *
 * The grammar, the difficulty levels, the random draws and the split rule are specified in
 * `models/arith/README.md`; `models/arith/arith.py` mirrors this file draw for draw, and a test
 * checks that both agree.
 */
import { answersEqual, extractAnswer } from "../answers/index.js";
import { ConfigError } from "../common/errors.js";
import { createRandom, hashSeed } from "../common/random.js";

/** Which problems to draw: the held-out tenth, the training nine tenths, or both. */
export type ArithSplit = "heldout" | "train" | "all";

/** The shape of the expressions of one difficulty level. */
export interface ArithLevel {
  /** Number of terms joined by `+` and `-`. */
  readonly terms: number;
  /** Most digits of a plain number (1 up to this many, uniformly). */
  readonly digits: number;
  /** Chance that a term is a product `number*digit`. */
  readonly mulProbability: number;
  /** Most digits of the left factor of a product term. */
  readonly mulDigits: number;
  /** Chance (with 3 terms or more) that a run of 2–3 terms is put in parentheses. */
  readonly parenProbability: number;
  /** Chance that such a group is multiplied by a digit: `(12+7)*3`. */
  readonly groupMulProbability: number;
}

/** Difficulty levels 1–6: more and longer operands as the level grows. */
export const ARITH_LEVELS: Readonly<Record<number, ArithLevel>> = {
  1: {
    terms: 2,
    digits: 2,
    mulProbability: 0.3,
    mulDigits: 1,
    parenProbability: 0,
    groupMulProbability: 0,
  },
  2: {
    terms: 3,
    digits: 2,
    mulProbability: 0.3,
    mulDigits: 2,
    parenProbability: 0.5,
    groupMulProbability: 0.3,
  },
  3: {
    terms: 3,
    digits: 3,
    mulProbability: 0.3,
    mulDigits: 2,
    parenProbability: 0.5,
    groupMulProbability: 0.3,
  },
  4: {
    terms: 4,
    digits: 3,
    mulProbability: 0.3,
    mulDigits: 2,
    parenProbability: 0.5,
    groupMulProbability: 0.3,
  },
  5: {
    terms: 5,
    digits: 3,
    mulProbability: 0.35,
    mulDigits: 2,
    parenProbability: 0.6,
    groupMulProbability: 0.3,
  },
  6: {
    terms: 6,
    digits: 3,
    mulProbability: 0.35,
    mulDigits: 2,
    parenProbability: 0.6,
    groupMulProbability: 0.3,
  },
};

/**
 * The level `--task arith` uses unless told otherwise: the one where the embedded model's
 * single-sample accuracy at temperature 1 is well below what aggregation reaches (see
 * `models/arith/README.md` for the measured numbers).
 */
export const DEFAULT_ARITH_DIFFICULTY = 5;

/** Options of `generateArith`. */
export interface ArithOptions {
  /** Fixes the problems: the same seed gives the same list. */
  readonly seed: number;
  /** How many problems. */
  readonly count: number;
  /** Which split to draw from; default `heldout`. */
  readonly split?: ArithSplit;
  /** A key of `ARITH_LEVELS`; default `DEFAULT_ARITH_DIFFICULTY`. */
  readonly difficulty?: number;
}

/** One generated problem. */
export interface ArithProblem {
  /** Stable id: `arith-L{difficulty}-s{seed}-{draw index}`. */
  readonly id: string;
  /** The expression, no spaces: `(47*8+129)-36*3`. */
  readonly expression: string;
  /** The user turn: `What is (47*8+129)-36*3?`. */
  readonly prompt: string;
  /** The value as an integer string: `397`. */
  readonly answer: string;
  readonly difficulty: number;
  readonly split: "heldout" | "train";
}

/** An expression tree: numbers, parenthesized groups, binary operations. */
export type ArithNode =
  | { readonly kind: "number"; readonly value: number }
  | { readonly kind: "group"; readonly inner: ArithNode }
  | {
      readonly kind: "binary";
      readonly op: "+" | "-" | "*";
      readonly left: ArithNode;
      readonly right: ArithNode;
    };

/** 32-bit FNV-1a over the UTF-8 bytes of the text. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** True when the expression belongs to the held-out split: FNV-1a 32 of its text is 0 mod 10. */
export function isHeldOut(expression: string): boolean {
  return fnv1a32(expression) % 10 === 0;
}

function drawNumber(random: () => number, digits: number): number {
  const length = 1 + Math.floor(random() * digits);
  const low = length === 1 ? 1 : 10 ** (length - 1);
  const high = 10 ** length - 1;
  return low + Math.floor(random() * (high - low + 1));
}

function drawDigit(random: () => number): number {
  return 2 + Math.floor(random() * 8);
}

function chain(items: readonly ArithNode[], ops: readonly ("+" | "-")[]): ArithNode {
  let node = items[0];
  for (let i = 1; i < items.length; i++) {
    node = { kind: "binary", op: ops[i - 1], left: node, right: items[i] };
  }
  return node;
}

/** The expression tree of one draw; the order of the random draws is part of the spec. */
function drawExpression(random: () => number, level: ArithLevel): ArithNode {
  const items: ArithNode[] = [];
  for (let i = 0; i < level.terms; i++) {
    if (random() < level.mulProbability) {
      const left = drawNumber(random, level.mulDigits);
      const right = drawDigit(random);
      items.push({
        kind: "binary",
        op: "*",
        left: { kind: "number", value: left },
        right: { kind: "number", value: right },
      });
    } else {
      items.push({ kind: "number", value: drawNumber(random, level.digits) });
    }
  }
  const ops: ("+" | "-")[] = [];
  for (let i = 1; i < level.terms; i++) ops.push(random() < 0.5 ? "+" : "-");
  if (level.terms >= 3 && random() < level.parenProbability) {
    const start = Math.floor(random() * (level.terms - 1));
    const longest = Math.min(3, level.terms - start, level.terms - 1);
    const length = 2 + Math.floor(random() * (longest - 1));
    let group: ArithNode = {
      kind: "group",
      inner: chain(items.slice(start, start + length), ops.slice(start, start + length - 1)),
    };
    if (random() < level.groupMulProbability) {
      group = {
        kind: "binary",
        op: "*",
        left: group,
        right: { kind: "number", value: drawDigit(random) },
      };
    }
    items.splice(start, length, group);
    ops.splice(start, length - 1);
  }
  return chain(items, ops);
}

function render(node: ArithNode): string {
  switch (node.kind) {
    case "number":
      return String(node.value);
    case "group":
      return `(${render(node.inner)})`;
    case "binary":
      return `${render(node.left)}${node.op}${render(node.right)}`;
  }
}

/**
 * The value of a tree, and its evaluation steps in post-order (`a op b=c`, a negative right
 * operand in parentheses), the form of the embedded model's reasoning.
 */
function evaluate(node: ArithNode, steps: string[]): number {
  switch (node.kind) {
    case "number":
      return node.value;
    case "group":
      return evaluate(node.inner, steps);
    case "binary": {
      const a = evaluate(node.left, steps);
      const b = evaluate(node.right, steps);
      const value = node.op === "+" ? a + b : node.op === "-" ? a - b : a * b;
      steps.push(`${a}${node.op}${b < 0 ? `(${b})` : b}=${value}`);
      return value;
    }
  }
}

/**
 * The evaluation steps of an expression from `generateArith`, one `a op b=c` per line, in the
 * order the embedded model was trained to write them.
 */
export function arithSteps(expression: string): string[] {
  const steps: string[] = [];
  evaluate(parseArith(expression), steps);
  return steps;
}

/** Parses the grammar `generateArith` writes (integers, `+ - *`, parentheses, no spaces). */
export function parseArith(expression: string): ArithNode {
  let at = 0;
  const fail = (): never => {
    throw new ConfigError(
      `Expected an arith expression (integers, + - *, parentheses), got \`${expression}\` (stopped at ${at})`,
    );
  };
  const primary = (): ArithNode => {
    if (expression[at] === "(") {
      at++;
      const inner = sum();
      if (expression[at] !== ")") fail();
      at++;
      return { kind: "group", inner };
    }
    const match = /^\d+/.exec(expression.slice(at));
    if (!match) return fail();
    at += match[0].length;
    return { kind: "number", value: Number(match[0]) };
  };
  const product = (): ArithNode => {
    let node = primary();
    while (expression[at] === "*") {
      at++;
      node = { kind: "binary", op: "*", left: node, right: primary() };
    }
    return node;
  };
  const sum = (): ArithNode => {
    let node = product();
    while (expression[at] === "+" || expression[at] === "-") {
      const op = expression[at] as "+" | "-";
      at++;
      node = { kind: "binary", op, left: node, right: product() };
    }
    return node;
  };
  const node = sum();
  if (at !== expression.length) fail();
  return node;
}

/** The integer value of an arith expression. */
export function evaluateArith(expression: string): number {
  return evaluate(parseArith(expression), []);
}

/**
 * Problems of the `arith` family. Draw `i` (0, 1, 2, …) uses the random stream
 * `createRandom(hashSeed("arith", seed, difficulty, i))`; draws outside the split, and repeats
 * of an expression already drawn, are skipped until `count` problems are found.
 *
 * @example
 * ```ts
 * const problems = generateArith({ seed: 1, count: 300 }); // held-out, default difficulty
 * verifyArith(problems[0], "<think>…</think>\nThe answer is 397.");
 * ```
 */
export function generateArith(options: ArithOptions): ArithProblem[] {
  const { seed, count } = options;
  const split = options.split ?? "heldout";
  const difficulty = options.difficulty ?? DEFAULT_ARITH_DIFFICULTY;
  if (!Number.isInteger(seed))
    throw new ConfigError(`Expected \`seed\` to be an integer, got \`${seed}\``);
  if (!Number.isInteger(count) || count < 0) {
    throw new ConfigError(`Expected \`count\` to be a non-negative integer, got \`${count}\``);
  }
  if (split !== "heldout" && split !== "train" && split !== "all") {
    throw new ConfigError(
      `Expected \`split\` to be heldout, train or all, got \`${String(split)}\``,
    );
  }
  const level = ARITH_LEVELS[difficulty];
  if (level === undefined) {
    throw new ConfigError(
      `Expected \`difficulty\` to be one of ${Object.keys(ARITH_LEVELS).join(", ")}, got \`${difficulty}\``,
    );
  }
  const problems: ArithProblem[] = [];
  const seen = new Set<string>();
  // Held-out is a tenth of the space: a generous cap on draws catches a space too small.
  const limit = 1000 + count * 200;
  for (let i = 0; problems.length < count; i++) {
    if (i >= limit) {
      throw new ConfigError(
        `Only ${problems.length} distinct ${split} problems of difficulty ${difficulty} in ${limit} draws; ask for fewer than ${count}`,
      );
    }
    const random = createRandom(hashSeed("arith", seed, difficulty, i));
    const expression = render(drawExpression(random, level));
    const heldOut = isHeldOut(expression);
    if ((split === "heldout" && !heldOut) || (split === "train" && heldOut)) continue;
    if (seen.has(expression)) continue;
    seen.add(expression);
    problems.push({
      id: `arith-L${difficulty}-s${seed}-${i}`,
      expression,
      prompt: `What is ${expression}?`,
      answer: String(evaluateArith(expression)),
      difficulty,
      split: heldOut ? "heldout" : "train",
    });
  }
  return problems;
}

/** True when the response's final answer (after the reasoning) equals the problem's value. */
export function verifyArith(problem: Pick<ArithProblem, "answer">, responseText: string): boolean {
  const answer = extractAnswer(responseText, { kind: "numeric" });
  return answer !== null && answersEqual(answer, problem.answer);
}
