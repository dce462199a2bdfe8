/**
 * Final-answer extraction from model output: `\boxed{…}`, "the answer is …" phrases,
 * multiple-choice letters, and the last number, looking only after the reasoning.
 */
import { ConfigError } from "../common/errors.js";
import { splitReasoning } from "../common/think.js";
import { closingBrace } from "./braces.js";

/**
 * What kind of answer to look for.
 * - `auto`: boxed, then an answer phrase, then a stated choice letter, then the last number.
 * - `math`: boxed, then an answer phrase, then the last number (no choice letters).
 * - `numeric`: a number only: the boxed or phrased answer when it is a number (or the last
 *   number inside it), else the last number of the text.
 * - `choice`: a multiple-choice letter A–J only, returned in upper case.
 * - `exact`: boxed, then an answer phrase, then the last non-empty line, trimmed.
 */
export type AnswerKind = "auto" | "math" | "numeric" | "choice" | "exact";

/** Options of `extractAnswer`. */
export interface ExtractOptions {
  /** What kind of answer to look for; default `auto`. */
  readonly kind?: AnswerKind;
}

/**
 * The content of the last complete `\boxed{…}` or `\fbox{…}` (nested braces included), or of
 * `\boxed 5`; null when there is none.
 */
export function extractBoxed(text: string): string | null {
  const pattern = /\\(?:boxed|fbox)(?![A-Za-z])/g;
  const starts: number[] = [];
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    starts.push(match.index + match[0].length);
  }
  for (let k = starts.length - 1; k >= 0; k--) {
    let i = starts[k];
    while (text[i] === " ") i++;
    if (text[i] === "{") {
      const end = closingBrace(text, i);
      if (end >= 0) return text.slice(i + 1, end - 1).trim();
    } else if (text[starts[k]] === " ") {
      const bare = /^[^\s$]+/.exec(text.slice(i));
      if (bare) return bare[0].replace(/[.,]$/, "");
    }
  }
  return null;
}

/** Answer phrases; group 1 is the rest of the line. */
const PHRASE_PATTERNS = [
  /\bfinal\s+answer\b\s*(?:\*\*)?\s*(?:is\b\s*:?|[:=])\s*([^\n]*)/gi,
  /\bthe\s+(?:correct\s+|right\s+)?answer\s+(?:is|would\s+be|should\s+be)\b\s*:?\s*([^\n]*)/gi,
  /\banswer\s*(?:\*\*)?\s*[:=]\s*([^\n]*)/gi,
];

/** Strips bold markers, dollar signs, trailing periods and the rest of the sentence. */
function cleanPhrase(raw: string): string {
  let text = raw;
  const sentenceEnd = /\.(?=\s)|\.$/.exec(text);
  if (sentenceEnd) text = text.slice(0, sentenceEnd.index);
  for (let guard = 0; guard < 5; guard++) {
    const before = text;
    text = text
      .trim()
      .replace(/^\*\*|\*\*$/g, "")
      .replace(/^\$+|\$+$/g, "")
      .replace(/[.,;]+$/, "");
    if (text === before) break;
  }
  return text.trim();
}

/** The last answer phrase ("the answer is …", "Final answer: …", "Answer: …"), cleaned. */
function extractPhrase(text: string): string | null {
  let best: { index: number; value: string } | null = null;
  for (const pattern of PHRASE_PATTERNS) {
    pattern.lastIndex = 0;
    for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
      const value = cleanPhrase(match[1]);
      if (value !== "" && (best === null || match.index > best.index)) {
        best = { index: match.index, value };
      }
      // Rescan inside the captured rest of the line: a later phrase on the same line wins.
      pattern.lastIndex = match.index + match[0].length - match[1].length;
    }
  }
  return best?.value ?? null;
}

/** Numbers: `\frac{3}{4}`, `-1,234.5`, `3/4`, `.5`, with `-` or `−` when not after a word. */
const NUMBER_PATTERN =
  /(?<![\w.])[-\u2212]?(?:\\[dt]?frac(?:\{-?\d+\}\{-?\d+\}|\d\d)|(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:\/\d+(?!\.\d))?|\.\d+)/g;

/** The last number in the text, as written. */
export function extractLastNumber(text: string): string | null {
  let last: string | null = null;
  NUMBER_PATTERN.lastIndex = 0;
  for (let match = NUMBER_PATTERN.exec(text); match; match = NUMBER_PATTERN.exec(text)) {
    last = match[0];
  }
  return last;
}

/** Phrases that clearly state a choice; group 1 is the letter. */
const CHOICE_PATTERNS = [
  /\b(?:answer|option|choice)\s*(?:is\s*:?|:)?\s*(?:\*\*)?\s*(?:\(([A-Ja-j])\)|([A-J])(?![\w']))/gi,
  /(?:\(([A-Ja-j])\)|\b([A-J]))\s+is\s+(?:the\s+)?(?:correct|right)\b/g,
  /\b(?:choose|pick|select|go\s+with)\s+(?:option\s+)?(?:\(([A-Ja-j])\)|([A-J])(?![\w']))/gi,
];

/** The last clearly stated multiple-choice letter, upper case. */
function extractChoiceStatement(text: string): string | null {
  let best: { index: number; letter: string } | null = null;
  for (const pattern of CHOICE_PATTERNS) {
    pattern.lastIndex = 0;
    for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
      const letter = match[1] ?? match[2];
      // With the `i` flag a bare letter may come out lower case: only accept capitals bare.
      if (match[1] === undefined && letter !== letter.toUpperCase()) continue;
      if (best === null || match.index > best.index) {
        best = { index: match.index, letter: letter.toUpperCase() };
      }
    }
  }
  return best?.letter ?? null;
}

const LEADING_CHOICE = /^\(?([A-Ja-j])\)?(?:[\s.:)]|$)/;
const NUMBER_THEN_WORDS =
  /^([-\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\/\d+)?)(?:\s+|\s*[,;]\s*)[A-Za-z]{2,}\b/;

/**
 * A phrase answer as `auto`/`math` return it: `(B) 42` → `B`, `12 apples` → `12`,
 * `5 because …` → `5`.
 */
function refinePhrase(value: string, allowChoice: boolean): string {
  if (allowChoice) {
    const choice = /^\(([A-J])\)(?:\s|$)/.exec(value) ?? /^([A-J])$/.exec(value);
    if (choice) return choice[1];
    if (/^\([a-j]\)$/.test(value)) return value[1].toUpperCase();
  }
  const numberFirst = NUMBER_THEN_WORDS.exec(value);
  return numberFirst ? numberFirst[1] : value;
}

function isNumber(text: string): boolean {
  NUMBER_PATTERN.lastIndex = 0;
  const match = NUMBER_PATTERN.exec(text);
  return match !== null && match.index === 0 && match[0].length === text.length;
}

/** A candidate as a number: itself when it is one, else the last number inside it. */
function numericCandidate(candidate: string | null): string | null {
  if (candidate === null) return null;
  const stripped = candidate.replace(/^\$+|\$+$/g, "").trim();
  if (isNumber(stripped)) return stripped;
  if (/^[-\u2212]?\\[dt]?frac\s*\{[^{}]*\}\s*\{[^{}]*\}$/.test(stripped)) return stripped;
  return extractLastNumber(stripped);
}

/**
 * Extracts the final answer of a model output, looking only after the last `</think>` when
 * there is one. Returns null when no answer can be found.
 *
 * For `auto` (the default) the order is: the last `\boxed{…}` / `\fbox{…}`; the last answer
 * phrase ("the answer is …", "Final answer: …", "**Answer:** …", cut at the end of the sentence
 * and stripped of `$`, `**` and a trailing period); a clearly stated choice letter ("option B",
 * "(C) is correct"); the last number (`-3`, `2.5`, `3/4`, `1,234`). See `AnswerKind` for the
 * other kinds.
 *
 * @example
 * extractAnswer("<think>2+2 is 4, or 5?</think>\nSo the answer is $\\boxed{4}$.") // "4"
 * extractAnswer("Final answer: **42**.") // "42"
 * extractAnswer("I choose (c).", { kind: "choice" }) // "C"
 */
export function extractAnswer(text: string, options: ExtractOptions = {}): string | null {
  const kind = options.kind ?? "auto";
  const body = splitReasoning(text).content;
  const boxed = extractBoxed(body);
  const boxedValue = boxed === null || boxed === "" ? null : boxed;
  switch (kind) {
    case "auto":
    case "math": {
      if (boxedValue !== null) return boxedValue;
      const phrase = extractPhrase(body);
      if (phrase !== null) return refinePhrase(phrase, kind === "auto");
      if (kind === "auto") {
        const choice = extractChoiceStatement(body);
        if (choice !== null) return choice;
      }
      return extractLastNumber(body);
    }
    case "numeric":
      return (
        numericCandidate(boxedValue) ??
        numericCandidate(extractPhrase(body)) ??
        extractLastNumber(body)
      );
    case "choice": {
      for (const candidate of [boxedValue, extractPhrase(body)]) {
        const letter = candidate === null ? null : LEADING_CHOICE.exec(candidate.trim());
        if (letter) return letter[1].toUpperCase();
      }
      return extractChoiceStatement(body);
    }
    case "exact": {
      const answer = boxedValue ?? extractPhrase(body);
      if (answer !== null) return answer;
      const lines = body.split("\n").map((line) => line.trim());
      return lines.filter((line) => line !== "").at(-1) ?? null;
    }
    default:
      throw new ConfigError(
        `Expected \`kind\` to be one of auto, math, numeric, choice, exact, got \`${String(kind)}\``,
      );
  }
}
