/**
 * `gradeAnswer`: is a model's response correct against a ground truth? Extracts the response's
 * final answer, reads both sides into structured values (`structure.ts`) and compares them:
 * symbolically and numerically for expressions (`symbolic.ts`, mathjs), element by element for
 * tuples and intervals, as multisets for solution sets, exactly for choice letters.
 */
import { ConfigError } from "../common/errors.js";
import { splitReasoning } from "../common/think.js";
import { closingBrace } from "./braces.js";
import { normalizeAnswer } from "./equivalence.js";
import { extractAnswer } from "./extract.js";
import { type AnswerValue, parseAnswer, type RelationOperator } from "./structure.js";
import {
  createSymbolicComparer,
  GradeTimeoutError,
  type MathExpression,
  type SymbolicComparer,
} from "./symbolic.js";

/** Options of `gradeAnswer`. */
export interface GradeOptions {
  /**
   * Time limit of one grading in milliseconds (default 2000). A grading that runs past it is
   * refused (false), as math-verify does on its timeout.
   */
  readonly timeoutMs?: number;
  /** Relative tolerance for non-integer numbers (default 1e-6). Integers compare exactly. */
  readonly tolerance?: number;
  /** Seed of the random points at which expressions with free variables are compared. */
  readonly seed?: number;
}

const DEFAULT_TIMEOUT_MS = 2000;
const DEFAULT_TOLERANCE = 1e-6;
const MAX_ANSWER_LENGTH = 4000;

/** Every complete `\boxed{…}` / `\fbox{…}` content, in order. */
/** Each relation with its sides swapped: `a < b` is `b > a`. */
const FLIPPED: Readonly<Record<RelationOperator, RelationOperator>> = {
  "<": ">",
  "<=": ">=",
  ">": "<",
  ">=": "<=",
  "=": "=",
  "!=": "!=",
};

function allBoxed(text: string): string[] {
  const result: string[] = [];
  const pattern = /\\(?:boxed|fbox)(?![A-Za-z])\s*/g;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    const start = match.index + match[0].length;
    if (text[start] !== "{") continue;
    const end = closingBrace(text, start);
    if (end < 0) continue;
    result.push(text.slice(start + 1, end - 1).trim());
    pattern.lastIndex = end;
  }
  return result;
}

/** Strips math delimiters around a whole answer (`$…$`, `\(…\)`, `\[…\]`). */
function stripDelimiters(text: string): string {
  let result = text.trim();
  for (let guard = 0; guard < 5; guard++) {
    const before = result;
    result = result.replace(/^\$+|\$+$/g, "").trim();
    if (/^\\[([]/.test(result) && /\\[)\]]$/.test(result)) result = result.slice(2, -2).trim();
    if (result === before) break;
  }
  return result;
}

const CHOICE_ALONE = /^\(?([A-J])\)?$|^\(([a-j])\)$/;
const CHOICE_LEADING = /^(?:\(([A-Ja-j])\)|([A-J])(?:\)|\.|:|$|\s))/;

/** Removes `\text{…}`-style wrappers around a whole answer and markdown bold. */
function unwrapText(text: string): string {
  let result = stripDelimiters(text).replace(/\*\*/g, "").trim();
  for (let guard = 0; guard < 5; guard++) {
    const match = /^\\(?:text|textbf|mathrm|mathbf|textrm|mbox|boxed)\s*\{/.exec(result);
    if (!match) break;
    const end = closingBrace(result, match[0].length - 1);
    if (end < 0) break;
    result = `${result.slice(match[0].length, end - 1)}${result.slice(end)}`.trim();
  }
  return result.replace(/^\\[,;! ]|\\[,;! ]/g, " ").trim();
}

/** The letter of a multiple-choice ground truth (`B`, `(B)`, `\text{(C)}`), or null. */
function choiceOf(groundTruth: string): string | null {
  const text = unwrapText(groundTruth);
  const match = CHOICE_ALONE.exec(text) ?? /^\(([A-Ja-j])\)|^([A-J])\)/.exec(text);
  return match ? (match[1] ?? match[2]).toUpperCase() : null;
}

/** The letter a response chooses: its boxed or stated answer's leading letter, or a phrase. */
function chosenLetter(body: string): string | null {
  const candidate = allBoxed(body).at(-1) ?? extractAnswer(body, { kind: "auto" });
  if (candidate !== null) {
    const match = CHOICE_LEADING.exec(unwrapText(candidate));
    if (match) return (match[1] ?? match[2]).toUpperCase();
  }
  const stated = extractAnswer(body, { kind: "choice" });
  if (stated !== null) return stated;
  // A bare `$E$` or a last line `B) 42`.
  const lastLine = body.trim().split("\n").at(-1) ?? "";
  for (const text of [lastMathSpan(body)?.value, lastLine]) {
    const match = text === undefined ? null : CHOICE_LEADING.exec(unwrapText(text));
    if (match) return (match[1] ?? match[2]).toUpperCase();
  }
  return null;
}

/** The final answer of a ground-truth field: its boxed part(s), after `####`, or all of it. */
function groundTruthAnswer(groundTruth: string): string {
  const boxes = allBoxed(groundTruth);
  if (boxes.length > 0) return boxes.join(", ");
  const hashes = /####\s*(.+)\s*$/.exec(groundTruth);
  return hashes ? hashes[1] : groundTruth;
}

/** Last `$…$`, `\(…\)` or `\[…\]` span of the text with its end index. */
function lastMathSpan(text: string): { value: string; end: number } | null {
  const pattern = /\$\$([^$]+)\$\$|\$([^$]+)\$|\\\(([\s\S]+?)\\\)|\\\[([\s\S]+?)\\\]/g;
  let last: { value: string; end: number } | null = null;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    const value = (match[1] ?? match[2] ?? match[3] ?? match[4]).trim();
    if (value !== "") last = { value, end: match.index + match[0].length };
  }
  return last;
}

const ANSWER_PHRASE =
  /\bfinal\s+answer\b|\banswer\s+(?:is|would\s+be|should\s+be)\b|\banswer\s*(?:\*\*)?\s*[:=]/i;

/** The response's candidate final answers, best first. */
function responseCandidates(body: string, parts: number): string[] {
  const boxes = allBoxed(body);
  const candidates: string[] = [];
  if (boxes.length > 0) {
    candidates.push(boxes[boxes.length - 1]);
    if (parts > 1 && boxes.length >= parts) candidates.push(boxes.slice(-parts).join(", "));
    return candidates;
  }
  const hashes = /####\s*([^\n]+)/g.exec(body);
  if (hashes) return [hashes[1]];
  const extracted = extractAnswer(body, { kind: "math" });
  // Without an answer phrase, a math span that ends after the extracted answer (a bare last
  // number inside it, say) wins.
  const span = ANSWER_PHRASE.test(body) ? null : lastMathSpan(body);
  if (span !== null) {
    const at = extracted === null ? -1 : body.lastIndexOf(extracted);
    if (at < 0 || span.end >= at + (extracted?.length ?? 0)) return [span.value];
  }
  if (extracted !== null) candidates.push(extracted);
  return candidates;
}

/** One reading of an answer: a structured value and whether it carried a percent sign. */
interface Reading {
  readonly value: AnswerValue;
  readonly percent: boolean;
}

const CURRENCY = /\\\$|\$|€|£|¥|\bUSD\b|\bdollars?\b|\bcents?\b|\beuros?\b/g;
const PERCENT_TAIL = /(?:\\?%|\\text\s*\{\s*(?:percent|%)\s*\}|\s*\bpercent\b|\s*\bpct\b)\s*\.?$/i;
const DEGREE_WORDS = /\\degree\b|\s*\^\s*\{?\\circ\}?|\\circ\b|\s*\bdegrees?\b/g;
const UNIT_WORD =
  /^(?:[a-z]{2,}|m|g|s|h|l|k?m|cm|mm|kg|mg|ml|km\/h|m\/s|mph|ft|in|yd|mi|sq|units?)$/i;
const KEEP_WORDS = /^(?:or|and|pi|sqrt|sin|cos|tan|log|ln|exp|inf|infty|infinity|i|e|x|y|z)$/i;

/** Removes a trailing unit: `\text{ cm}^2`, `\mathrm{kg}`, ` meters`, ` cm^3`. */
function stripUnits(text: string): string {
  let result = text.trim();
  for (let guard = 0; guard < 4; guard++) {
    const before = result;
    const wrapped =
      /^(.*?[0-9}).)\]])\s*(?:\\,|\\ |~)?\s*\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{\s*([^{}]*?)\s*\}\s*(?:\^\s*\{?\d\}?)?$/.exec(
        result,
      );
    if (wrapped && /[A-Za-z]/.test(wrapped[2]) && !/^(?:or|and)$/i.test(wrapped[2])) {
      result = wrapped[1].trim();
    }
    const plain = /^(.*?[0-9}).)\]])\s+([A-Za-z]+(?:\/[A-Za-z]+)?)(?:\s*\^\s*\{?\d\}?)?\.?$/.exec(
      result,
    );
    if (plain && UNIT_WORD.test(plain[2]) && !KEEP_WORDS.test(plain[2])) result = plain[1].trim();
    if (result === before) break;
  }
  return result;
}

/**
 * Readings of an answer text: with thousands separators merged (`1,000` → `1000`) and as
 * written; with a decimal comma read as a point where unambiguous (`1000,99`, `0,111`).
 */
function readings(answer: string): Reading[] {
  let text = stripDelimiters(answer)
    .replace(/\\(?:dfrac|tfrac|cfrac)(?![A-Za-z])/g, "\\frac")
    .replace(/(\d)\s*\{\s*,\s*\}\s*(?=\d)/g, "$1,")
    .replace(/,\s*\\!\s*(?=\d)/g, ",")
    .replace(/\\!/g, "")
    .replace(/\\(?:displaystyle|textstyle)(?![A-Za-z])/g, "")
    .trim()
    .replace(/[.\s]+$/, "");
  const percent = PERCENT_TAIL.test(text);
  if (percent) text = text.replace(PERCENT_TAIL, "").trim();
  text = text.replace(CURRENCY, " ").replace(DEGREE_WORDS, "").trim();
  const unitless = stripUnits(text);
  if (unitless !== "") text = unitless;

  const variants: string[] = [];
  const merged = text
    .replace(/(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])/g, (match) => match.replaceAll(",", ""))
    .replace(/(?<![\d.])\d{1,3}(?:(?:\\,|\\ |\\;|~| )\d{3})+(?![\d])/g, (match) =>
      match.replace(/\\,|\\ |\\;|~| /g, ""),
    );
  variants.push(merged);
  if (merged !== text) variants.push(text);
  const decimalComma = /^([+-]?\d+),(\d+)$/.exec(text);
  if (decimalComma && (decimalComma[2].length !== 3 || /^[+-]?0$/.test(decimalComma[1]))) {
    variants.push(`${decimalComma[1]}.${decimalComma[2]}`);
  }
  return variants.map((variant) => ({ value: parseAnswer(variant), percent }));
}

/** Scales an expression value by 1/100 (a percent read as a fraction). */
function percentOf(value: AnswerValue): AnswerValue | null {
  if (value.kind !== "expression") return null;
  const { math, exact } = value.expression;
  const scaled: MathExpression = {
    math: `(${math})/100`,
    exact: exact && { numerator: exact.numerator, denominator: exact.denominator * 100n },
  };
  if (scaled.exact) {
    // Keep the rational reduced, as `rationalsEqual` compares fields.
    let a = scaled.exact.numerator < 0n ? -scaled.exact.numerator : scaled.exact.numerator;
    let b = scaled.exact.denominator;
    while (b !== 0n) [a, b] = [b, a % b];
    const divisor = a === 0n ? 1n : a;
    return {
      ...value,
      expression: {
        math: scaled.math,
        exact: {
          numerator: scaled.exact.numerator / divisor,
          denominator: scaled.exact.denominator / divisor,
        },
      },
    };
  }
  return { ...value, expression: scaled };
}

function itemCount(value: AnswerValue): number {
  switch (value.kind) {
    case "tuple":
    case "assignments":
    case "list":
    case "set":
    case "union":
      return value.items.length;
    default:
      return 1;
  }
}

function isInfinite(value: AnswerValue): boolean {
  return value.kind === "expression" && /^[-+]?\(?Infinity\)?$/.test(value.expression.math);
}

function expressionOf(math: string): AnswerValue {
  return { kind: "expression", expression: { math, exact: null }, source: math };
}

/** `x > 3` → `(3, ∞)`; `1 < x <= 5` → `(1, 5]`; `x != 2` → union; null when not one variable. */
function relationToIntervals(value: AnswerValue): AnswerValue | null {
  if (value.kind !== "relation") return null;
  const isVariable = (part: AnswerValue) =>
    part.kind === "expression" && /^v_\w+$/.test(part.expression.math);
  const { parts, operators } = value;
  const negativeInfinity = expressionOf("-Infinity");
  const infinity = expressionOf("Infinity");
  const interval = (
    low: AnswerValue,
    lowClosed: boolean,
    high: AnswerValue,
    highClosed: boolean,
  ): AnswerValue => ({
    kind: "tuple",
    open: lowClosed ? "[" : "(",
    close: highClosed ? "]" : ")",
    items: [low, high],
  });
  if (parts.length === 2) {
    const [left, right] = parts;
    let operator = operators[0];
    let bound: AnswerValue;
    if (isVariable(left) && !isVariable(right)) bound = right;
    else if (isVariable(right) && !isVariable(left)) {
      bound = left;
      operator = FLIPPED[operator];
    } else return null;
    switch (operator) {
      case "<":
        return interval(negativeInfinity, false, bound, false);
      case "<=":
        return interval(negativeInfinity, false, bound, true);
      case ">":
        return interval(bound, false, infinity, false);
      case ">=":
        return interval(bound, true, infinity, false);
      case "!=":
        return {
          kind: "union",
          items: [
            interval(negativeInfinity, false, bound, false),
            interval(bound, false, infinity, false),
          ],
        };
      default:
        return null;
    }
  }
  if (
    parts.length === 3 &&
    isVariable(parts[1]) &&
    !isVariable(parts[0]) &&
    !isVariable(parts[2])
  ) {
    const [first, second] = operators;
    if ((first === "<" || first === "<=") && (second === "<" || second === "<=")) {
      return interval(parts[0], first === "<=", parts[2], second === "<=");
    }
    if ((first === ">" || first === ">=") && (second === ">" || second === ">=")) {
      return interval(parts[2], second === ">=", parts[0], first === ">=");
    }
  }
  return null;
}

/** A set of inequalities joined by "or" as a union of intervals, when every one converts. */
function asUnion(value: AnswerValue): AnswerValue | null {
  if (value.kind === "relation") return relationToIntervals(value);
  if (value.kind !== "set" && value.kind !== "list" && value.kind !== "union") return null;
  const items: AnswerValue[] = [];
  for (const item of value.items) {
    const converted = item.kind === "relation" ? relationToIntervals(item) : item;
    if (converted === null || (converted.kind !== "tuple" && converted.kind !== "union")) {
      return null;
    }
    if (converted.kind === "union") items.push(...converted.items);
    else items.push(converted);
  }
  return { kind: "union", items };
}

/** Compares structured values; `truth` is the ground truth's side. */
class ValueComparer {
  readonly #symbolic: SymbolicComparer;

  constructor(symbolic: SymbolicComparer) {
    this.#symbolic = symbolic;
  }

  equal(truth: AnswerValue, answer: AnswerValue): boolean {
    if (truth.kind === "expression" && answer.kind === "expression") {
      return this.#symbolic.equal(truth.expression, answer.expression);
    }
    if (truth.kind === "text" || answer.kind === "text") {
      // What could not be read structurally compares as normalized text.
      const text = (value: AnswerValue) =>
        value.kind === "text"
          ? value.text
          : value.kind === "expression"
            ? normalizeAnswer(value.source)
            : null;
      const left = text(truth);
      return left !== null && left !== "" && left === text(answer);
    }
    if (truth.kind === "assignments" || answer.kind === "assignments") {
      return this.#assignments(truth, answer);
    }
    if (truth.kind === "matrix" || answer.kind === "matrix") return this.#matrices(truth, answer);
    if (truth.kind === "relation" && answer.kind === "relation") {
      if (this.#relations(truth, answer)) return true;
    }
    if (answer.kind === "relation" && truth.kind !== "relation") {
      // `k = 1/3` or `2 + 1 = 3` against `3`: the last side is the answer.
      const intervals = relationToIntervals(answer);
      if (intervals !== null && this.equal(truth, intervals)) return true;
      if (answer.operators.every((operator) => operator === "=")) {
        return this.equal(truth, answer.parts[answer.parts.length - 1]);
      }
      return false;
    }
    if (truth.kind === "relation" && answer.kind !== "relation") {
      const intervals = relationToIntervals(truth);
      return intervals !== null && this.equal(intervals, answer);
    }
    if (truth.kind === "tuple" && answer.kind === "tuple") {
      if (truth.items.length !== answer.items.length) return false;
      const interval = truth.items.length === 2;
      const openSame = truth.open === answer.open || (interval && isInfinite(truth.items[0]));
      const closeSame = truth.close === answer.close || (interval && isInfinite(truth.items[1]));
      return openSame && closeSame && this.#ordered(truth.items, answer.items);
    }
    if (truth.kind === "tuple" && answer.kind === "list") {
      return truth.open === "(" && truth.close === ")" && this.#ordered(truth.items, answer.items);
    }
    if (truth.kind === "list" && answer.kind === "tuple") {
      return (
        answer.open === "(" && answer.close === ")" && this.#unordered(truth.items, answer.items)
      );
    }
    if (truth.kind === "union" || answer.kind === "union") {
      const left =
        truth.kind === "tuple" ? { kind: "union" as const, items: [truth] } : asUnion(truth);
      const right =
        answer.kind === "tuple" ? { kind: "union" as const, items: [answer] } : asUnion(answer);
      if (left === null || right === null || left.kind !== "union" || right.kind !== "union") {
        return false;
      }
      return this.#unordered(left.items, right.items);
    }
    const collection = (value: AnswerValue) => value.kind === "set" || value.kind === "list";
    if (collection(truth) && collection(answer)) {
      const truthItems = (truth as { items: readonly AnswerValue[] }).items;
      const answerItems = (answer as { items: readonly AnswerValue[] }).items;
      if (this.#unordered(truthItems, answerItems)) return true;
      const left = asUnion(truth);
      const right = asUnion(answer);
      return left !== null && right !== null && this.equal(left, right);
    }
    if (collection(truth) && (truth as { items: readonly AnswerValue[] }).items.length === 1) {
      return this.equal((truth as { items: readonly AnswerValue[] }).items[0], answer);
    }
    if (collection(answer) && (answer as { items: readonly AnswerValue[] }).items.length === 1) {
      return this.equal(truth, (answer as { items: readonly AnswerValue[] }).items[0]);
    }
    if (answer.kind === "tuple" || truth.kind === "tuple") {
      const interval = asUnion(truth.kind === "tuple" ? answer : truth);
      if (interval?.kind === "union" && interval.items.length === 1) {
        return truth.kind === "tuple"
          ? this.equal(truth, interval.items[0])
          : this.equal(interval.items[0], answer);
      }
    }
    return false;
  }

  /** `a = 2, b = 3` by name against the same; against a tuple or list in written order. */
  #assignments(truth: AnswerValue, answer: AnswerValue): boolean {
    if (truth.kind === "assignments" && answer.kind === "assignments") {
      if (truth.names.length !== answer.names.length) return false;
      return truth.names.every((name, i) => {
        const j = answer.names.indexOf(name);
        return j >= 0 && this.equal(truth.items[i], answer.items[j]);
      });
    }
    const values = (value: AnswerValue) =>
      value.kind === "assignments" || value.kind === "list" || value.kind === "tuple"
        ? value.items
        : null;
    const left = values(truth);
    const right = values(answer);
    return left !== null && right !== null && this.#ordered(left, right);
  }

  #ordered(truth: readonly AnswerValue[], answer: readonly AnswerValue[]): boolean {
    return truth.length === answer.length && truth.every((item, i) => this.equal(item, answer[i]));
  }

  /** Multiset equality by matching (backtracking; answers are short). */
  #unordered(truth: readonly AnswerValue[], answer: readonly AnswerValue[]): boolean {
    if (truth.length !== answer.length || truth.length > 24) return false;
    const used = new Array<boolean>(answer.length).fill(false);
    const match = (i: number): boolean => {
      if (i === truth.length) return true;
      for (let j = 0; j < answer.length; j++) {
        if (used[j] || !this.equal(truth[i], answer[j])) continue;
        used[j] = true;
        if (match(i + 1)) return true;
        used[j] = false;
      }
      return false;
    };
    return match(0);
  }

  #matrices(truth: AnswerValue, answer: AnswerValue): boolean {
    const cells = (value: AnswerValue): readonly (readonly AnswerValue[])[] | null => {
      if (value.kind === "matrix") return value.rows;
      if (value.kind === "tuple" || value.kind === "list") return value.items.map((item) => [item]);
      return null;
    };
    const left = cells(truth);
    const right = cells(answer);
    if (left === null || right === null) return false;
    const flatten = (rows: readonly (readonly AnswerValue[])[]) => rows.flat();
    const shape = (rows: readonly (readonly AnswerValue[])[]) =>
      rows.map((row) => row.length).join(",");
    const vector = (rows: readonly (readonly AnswerValue[])[]) =>
      rows.length === 1 || rows.every((row) => row.length === 1);
    if (shape(left) !== shape(right) && !(vector(left) && vector(right))) return false;
    return this.#ordered(flatten(left), flatten(right));
  }

  #relations(
    truth: Extract<AnswerValue, { kind: "relation" }>,
    answer: Extract<AnswerValue, { kind: "relation" }>,
  ): boolean {
    const left = relationToIntervals(truth);
    const right = relationToIntervals(answer);
    if (left !== null && right !== null) return this.equal(left, right);
    if (truth.parts.length !== 2 || answer.parts.length !== 2) return false;
    const difference = (value: typeof truth, sign: 1 | -1): AnswerValue | null => {
      const [a, b] = value.parts;
      if (a.kind !== "expression" || b.kind !== "expression") return null;
      const [first, second] = sign === 1 ? [a, b] : [b, a];
      return expressionOf(`(${first.expression.math})-(${second.expression.math})`);
    };
    const truthDifference = difference(truth, 1);
    if (truthDifference === null) return false;
    const [truthOperator] = truth.operators;
    const [answerOperator] = answer.operators;
    for (const sign of [1, -1] as const) {
      const operator = sign === 1 ? answerOperator : FLIPPED[answerOperator];
      if (operator !== truthOperator) continue;
      const answerDifference = difference(answer, sign);
      if (answerDifference !== null && this.equal(truthDifference, answerDifference)) return true;
      // An equation equals its negation (`a = b` is `b = a`).
      if (truthOperator === "=" || truthOperator === "!=") {
        const negated = difference(answer, sign === 1 ? -1 : 1);
        if (negated !== null && this.equal(truthDifference, negated)) return true;
      }
    }
    return false;
  }
}

function compareReadings(comparer: ValueComparer, truth: Reading, answer: Reading): boolean {
  if (comparer.equal(truth.value, answer.value)) return true;
  if (!truth.percent && !answer.percent) return false;
  // `50\%` against `0.5` (and back): a percent reads as itself or as a fraction.
  const truthScaled = truth.percent ? percentOf(truth.value) : null;
  const answerScaled = answer.percent ? percentOf(answer.value) : null;
  if (truthScaled && comparer.equal(truthScaled, answer.value)) return true;
  if (answerScaled && comparer.equal(truth.value, answerScaled)) return true;
  return false;
}

/**
 * Grades a model response against a ground truth: true when the response's final answer is
 * equivalent to it.
 *
 * The response's final answer is its last `\boxed{…}` after any `</think>` (or, for a ground
 * truth of several parts, its last boxes together), else an answer phrase, else its last math
 * span or number (see `extractAnswer`). A ground truth that holds `\boxed{…}` or `####` is
 * reduced the same way. Both sides are then read structurally and compared:
 * - multiple choice: a ground truth `B` / `(B)` / `\text{(B)}` against the letter the response
 *   picks (`\boxed{B}`, `\textbf{(B)}\ 42`, `B) 42`, "the answer is B");
 * - numbers exactly where both are literal (`1,000,000`, `1\,000`, `2.50`, `\frac{5}{2}`;
 *   integers exact), else within the relative `tolerance`; percent (`50\%` = `0.5` = `50`),
 *   currency, degrees and trailing units are dropped;
 * - expressions symbolically (`\frac{1+\sqrt5}{2}` = `(1+√5)/2`, `(x+1)^2` = `x^2+2x+1`) by
 *   evaluation at seeded random points, distinct symbols kept distinct;
 * - `x = 5`, `(p,q) = (3,2)` against the bare value; tuples in order; sets and "1 and 2",
 *   "x = 1 or x = 2" lists in any order; intervals with their open and closed ends and unions
 *   of them; inequalities against intervals (`x > 3` = `(3, \infty)`); equations up to sides;
 *   matrices and vectors cell by cell; plain text case-insensitively.
 *
 * Returns a Promise because mathjs is loaded lazily on the first call; each grading is bounded
 * by `timeoutMs` and refused when it runs past it.
 *
 * @example
 * await gradeAnswer("\\frac{1+\\sqrt{5}}{2}", "<think>…</think>So $\\boxed{(1+\\sqrt5)/2}$.") // true
 * await gradeAnswer("[0,9)", "The answer is $(0,9)$.") // false
 */
export async function gradeAnswer(
  groundTruth: string,
  response: string,
  options: GradeOptions = {},
): Promise<boolean> {
  if (typeof groundTruth !== "string" || typeof response !== "string") {
    throw new ConfigError(
      `Expected \`groundTruth\` and \`response\` to be strings, got \`${typeof groundTruth}\` and \`${typeof response}\``,
    );
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  if (!(timeoutMs > 0)) {
    throw new ConfigError(`Expected \`timeoutMs\` to be a positive number, got \`${timeoutMs}\``);
  }
  if (!(tolerance >= 0 && tolerance < 1)) {
    throw new ConfigError(`Expected \`tolerance\` to be in [0, 1), got \`${tolerance}\``);
  }
  const body = splitReasoning(response).content;
  const truthText = groundTruthAnswer(groundTruth).trim();
  if (truthText === "") return false;

  const letter = choiceOf(truthText);
  if (letter !== null) return chosenLetter(body) === letter;

  const symbolic = await createSymbolicComparer({
    tolerance,
    seed: options.seed ?? 20260601,
    timeoutMs,
  });
  const comparer = new ValueComparer(symbolic);
  try {
    if (truthText.length > MAX_ANSWER_LENGTH) return false;
    const truthReadings = readings(truthText);
    const parts = itemCount(truthReadings[0].value);
    for (const candidate of responseCandidates(body, parts)) {
      if (candidate.length > MAX_ANSWER_LENGTH) continue;
      const answerReadings = readings(candidate);
      for (const truth of truthReadings) {
        for (const answer of answerReadings) {
          if (compareReadings(comparer, truth, answer)) return true;
        }
      }
    }
    return false;
  } catch (error) {
    if (error instanceof GradeTimeoutError) return false;
    throw error;
  }
}
