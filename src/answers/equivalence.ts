/**
 * Answer equivalence: two final answers are equal when their normalized forms are equal.
 * Numbers compare as exact rationals (`0.5` = `.5` = `1/2` = `\frac{1}{2}` = `\dfrac12`),
 * multiple-choice letters compare case-insensitively (`(b)` = `B`), and anything else compares
 * as a string after light LaTeX clean-up.
 */

import { closingBrace } from "./braces.js";
import { formatRational, parseDecimal, type Rational, rational } from "./rational.js";

/** LaTeX commands whose braced argument is kept and the command dropped. */
const UNWRAP_COMMANDS = [
  "text",
  "textbf",
  "textit",
  "textrm",
  "mathrm",
  "mathbf",
  "mathit",
  "mbox",
  "operatorname",
  "boxed",
  "fbox",
];

/** Spacing and sizing commands that carry no meaning in an answer. */
const DROPPED_COMMANDS =
  /\\(?:displaystyle|textstyle|left|right|bigl|bigr|Bigl|Bigr|big|Big|quad|qquad|[!,;: ])(?![A-Za-z])/g;

/** Replaces `\command{x}` with `x` for the listed commands (nesting included). */
function unwrapCommands(text: string): string {
  const pattern = new RegExp(`\\\\(?:${UNWRAP_COMMANDS.join("|")})\\s*\\{`, "g");
  let result = text;
  for (let guard = 0; guard < 50; guard++) {
    pattern.lastIndex = 0;
    const match = pattern.exec(result);
    if (!match) break;
    const open = match.index + match[0].length - 1;
    const close = closingBrace(result, open);
    if (close < 0) break;
    result = result.slice(0, match.index) + result.slice(open + 1, close - 1) + result.slice(close);
  }
  return result;
}

/** Reads one `\frac` argument at `start`: a brace group, a command name, or one character. */
function readArgument(text: string, start: number): { value: string; end: number } | null {
  let i = start;
  while (text[i] === " ") i++;
  if (i >= text.length) return null;
  if (text[i] === "{") {
    const close = closingBrace(text, i);
    if (close < 0) return null;
    return { value: text.slice(i + 1, close - 1), end: close };
  }
  if (text[i] === "\\") {
    const name = /^\\[A-Za-z]+/.exec(text.slice(i));
    if (name) return { value: name[0], end: i + name[0].length };
  }
  return { value: text[i], end: i + 1 };
}

const SIMPLE_OPERAND = /^(?:-?[A-Za-z0-9.]+|\\[A-Za-z]+(?:\{[A-Za-z0-9.]+\})?)$/;

/** Rewrites `\frac{a}{b}` (after `\dfrac`/`\tfrac` became `\frac`) into `a/b` or `(a)/(b)`. */
function rewriteFractions(text: string): string {
  let result = text;
  for (let guard = 0; guard < 50; guard++) {
    const index = result.lastIndexOf("\\frac");
    if (index < 0) break;
    const numerator = readArgument(result, index + 5);
    const denominator = numerator && readArgument(result, numerator.end);
    if (!numerator || !denominator) break;
    const wrap = (operand: string) => {
      const trimmed = operand.trim();
      return SIMPLE_OPERAND.test(trimmed) ? trimmed : `(${trimmed})`;
    };
    result = `${result.slice(0, index)}${wrap(numerator.value)}/${wrap(denominator.value)}${result.slice(denominator.end)}`;
  }
  return result;
}

/** Strips enclosing math delimiters: `$…$`, `$$…$$`, `\(…\)`, `\[…\]`. */
function stripMathDelimiters(text: string): string {
  let result = text.trim();
  for (let guard = 0; guard < 5; guard++) {
    const before = result;
    if (result.length >= 2 && result.startsWith("$") && result.endsWith("$")) {
      result = result.replace(/^\$+/, "").replace(/\$+$/, "").trim();
    } else if (
      (result.startsWith("\\(") && result.endsWith("\\)")) ||
      (result.startsWith("\\[") && result.endsWith("\\]"))
    ) {
      result = result.slice(2, -2).trim();
    }
    if (result === before) break;
  }
  return result;
}

/** Index pairs of the top-level commas of `text` (outside any bracket), or an empty list. */
function topLevelCommas(text: string): number[] {
  const commas: number[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === "(" || char === "[" || char === "{") depth++;
    else if (char === ")" || char === "]" || char === "}") depth--;
    else if (char === "," && depth === 0) commas.push(i);
  }
  return commas;
}

/** True when the bracket opening at 0 closes at the very end of the text. */
function enclosedByOuterBrackets(text: string): boolean {
  if (!"([{".includes(text[0]) || !")]}".includes(text[text.length - 1])) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === "(" || char === "[" || char === "{") depth++;
    else if (char === ")" || char === "]" || char === "}") {
      depth--;
      if (depth === 0 && i < text.length - 1) return false;
    }
  }
  return depth === 0;
}

const THOUSANDS = /^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$/;
const CHOICE = /^\(?([A-Ja-j])\)?\.?$/;
const PLAIN_WORDS = /^[A-Za-z]{2,}(?: +[A-Za-z]+)*$|^[A-Za-z]+(?: +[A-Za-z]+)+$/;

/** `(x)` → `x` when the parentheses enclose the whole text. */
function unwrapParentheses(text: string): string {
  return text.startsWith("(") && text.endsWith(")") && enclosedByOuterBrackets(text)
    ? text.slice(1, -1)
    : text;
}

/**
 * Parses a normalized scalar (`-3/4`, `2.50`, `1e3`, `(-1)/2`, `1/-2`) as an exact rational.
 */
function parseScalar(text: string): Rational | null {
  const unwrapped = unwrapParentheses(text);
  const slash = unwrapped.indexOf("/");
  if (slash < 0) return parseDecimal(unwrapped);
  if (unwrapped.indexOf("/", slash + 1) >= 0) return null;
  let numeratorText = unwrapped.slice(0, slash);
  let sign = 1n;
  if (numeratorText.startsWith("-(") && numeratorText.endsWith(")")) {
    sign = -1n;
    numeratorText = numeratorText.slice(1);
  }
  const numerator = parseDecimal(unwrapParentheses(numeratorText));
  const denominator = parseDecimal(unwrapParentheses(unwrapped.slice(slash + 1)));
  if (!numerator || !denominator || denominator.numerator === 0n) return null;
  return rational(
    sign * numerator.numerator * denominator.denominator,
    numerator.denominator * denominator.numerator,
  );
}

/** Canonical key of one element (no top-level commas). */
function normalizeScalar(text: string): string {
  const choice = CHOICE.exec(text);
  if (choice) return choice[1].toUpperCase();
  const plain = THOUSANDS.test(text) ? text.replaceAll(",", "") : text;
  const value = parseScalar(plain);
  return value ? formatRational(value) : text;
}

/** LaTeX clean-up shared by every answer, before spaces are removed. */
function cleanLatex(answer: string): string {
  let text = answer.trim().replaceAll("\u2212", "-");
  text = stripMathDelimiters(text);
  text = unwrapCommands(text);
  text = stripMathDelimiters(text);
  text = text
    .replace(DROPPED_COMMANDS, "")
    .replace(/\^\s*\{?\s*\\circ\s*\}?|°|\\circ\b/g, "")
    .replace(/\\?%/g, "")
    .replace(/\\\$/g, "")
    .replace(/\{,\}/g, ",")
    .replace(/\\[dt]frac(?![A-Za-z])/g, "\\frac")
    .replace(/\\sqrt\s*([0-9A-Za-z])/g, "\\sqrt{$1}")
    .replace(/~/g, " ");
  return text.trim();
}

/**
 * The canonical form of an answer, used as its equivalence key.
 *
 * - Math delimiters (`$…$`, `\(…\)`, `\[…\]`), `\boxed{}`, `\text{}` and similar wrappers,
 *   `\left`/`\right`, spacing commands, degree signs (`^{\circ}`), percent signs (`\%`), `\$`
 *   and all whitespace are removed; `\dfrac`/`\tfrac` become `\frac`, and `\frac{a}{b}` becomes
 *   `a/b`.
 * - A single leading `x =` (one variable name and one `=`) is dropped: `x = 5` → `5`.
 * - Numbers become exact reduced rationals: `1,234` → `1234`, `2.50` → `5/2`, `-\frac{6}{4}` →
 *   `-3/2`, `1\frac{1}{2}` (a mixed number) → `3/2`.
 * - Multiple-choice letters A–J, with or without parentheses, become upper case: `(b)` → `B`.
 * - Plain words compare case-insensitively: `Yes` → `yes`.
 * - Tuples and lists are normalized element by element: `(0.5, \frac{3}{1})` → `(1/2,3)`.
 *
 * @example normalizeAnswer("$\\dfrac{1}{2}$") // "1/2"
 */
export function normalizeAnswer(answer: string): string {
  // Applied until nothing changes, so that normalization is idempotent even on odd inputs where
  // one rule exposes another (`A=AA` → `AA` → `aa`).
  let current = answer;
  for (let pass = 0; pass < 8; pass++) {
    const next = normalizeOnce(current);
    if (next === current) return next;
    current = next;
  }
  return current;
}

function normalizeOnce(answer: string): string {
  // A leading plus sign never changes an answer; dropping it first keeps normalization
  // idempotent (`+AA` → `aa`, not `AA`).
  let text = cleanLatex(answer).replace(/^\s*\++/, "");
  if (PLAIN_WORDS.test(text)) return text.toLowerCase().replace(/ +/g, " ");
  text = text.replace(/\s+/g, "").replace(/\.+$/, "");
  const assignment = /^[A-Za-z]\w*=(?!=)([^=]+)$/.exec(text);
  if (assignment) text = assignment[1];
  while (text.startsWith("{") && closingBrace(text, 0) === text.length) text = text.slice(1, -1);

  const mixed = /^([+-]?)(\d+)\\frac(?:\{(\d+)\}|(\d))(?:\{(\d+)\}|(\d))$/.exec(text);
  if (mixed) {
    const [, sign, whole, numeratorBraced, numeratorDigit, denominatorBraced, denominatorDigit] =
      mixed;
    const denominator = BigInt(denominatorBraced ?? denominatorDigit);
    if (denominator !== 0n) {
      const magnitude = BigInt(whole) * denominator + BigInt(numeratorBraced ?? numeratorDigit);
      return formatRational(rational(sign === "-" ? -magnitude : magnitude, denominator));
    }
  }
  text = rewriteFractions(text);
  if (text.startsWith("+")) text = text.slice(1);

  if (THOUSANDS.test(text)) return normalizeScalar(text);
  if (text.length >= 2 && enclosedByOuterBrackets(text)) {
    const inner = text.slice(1, -1);
    const commas = topLevelCommas(inner);
    if (commas.length > 0) {
      return `${text[0]}${splitAt(inner, commas).map(normalizeScalar).join(",")}${text[text.length - 1]}`;
    }
  }
  const commas = topLevelCommas(text);
  if (commas.length > 0) return splitAt(text, commas).map(normalizeScalar).join(",");
  return normalizeScalar(text);
}

function splitAt(text: string, indices: readonly number[]): string[] {
  const parts: string[] = [];
  let start = 0;
  for (const index of indices) {
    parts.push(text.slice(start, index));
    start = index + 1;
  }
  parts.push(text.slice(start));
  return parts;
}

/**
 * The exact value of a numeric answer (`1,234`, `-0.5`, `\frac{3}{4}`, `$2.50$`), or null when
 * the answer is not a single number.
 * @example parseNumericAnswer("\\dfrac{6}{8}") // { numerator: 3n, denominator: 4n }
 */
export function parseNumericAnswer(answer: string): Rational | null {
  const key = normalizeAnswer(answer);
  const match = /^(-?\d+)(?:\/(\d+))?$/.exec(key);
  if (!match || /^0+$/.test(match[2] ?? "1")) return null;
  return rational(BigInt(match[1]), match[2] === undefined ? 1n : BigInt(match[2]));
}

/**
 * True when two answers are equivalent: their `normalizeAnswer` forms are equal.
 * @example answersEqual("0.5", "\\frac{1}{2}") // true
 * @example answersEqual("(b)", "B") // true
 */
export function answersEqual(a: string, b: string): boolean {
  return normalizeAnswer(a) === normalizeAnswer(b);
}
