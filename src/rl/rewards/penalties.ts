/**
 * Behavioural penalties: each scores a factor in [0, 1] that `withPenalties` multiplies into a
 * reward (1 = nothing wrong). Language consistency (code-switching, mixed scripts inside a word,
 * garbled text); fabricated links and references; overconfidence on questions marked
 * ambiguous; empty or truncated answers.
 */
import { ConfigError } from "../../common/errors.js";
import { splitReasoning } from "../../common/think.js";
import type { Reward, RewardInput } from "./types.js";

/** Script groups that count for language consistency (Greek is left out: math uses it). */
const SCRIPTS: readonly (readonly [string, RegExp])[] = [
  ["latin", /\p{Script=Latin}/u],
  ["cjk", /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Bopomofo}]/u],
  ["hangul", /\p{Script=Hangul}/u],
  ["cyrillic", /\p{Script=Cyrillic}/u],
  ["arabic", /\p{Script=Arabic}/u],
  ["hebrew", /\p{Script=Hebrew}/u],
  ["devanagari", /\p{Script=Devanagari}/u],
  ["thai", /\p{Script=Thai}/u],
];
/** Scripts written with spaces between words, where one word should hold one script. */
const ALPHABETIC = new Set(["latin", "cyrillic", "arabic", "hebrew", "devanagari"]);

function scriptOf(letter: string): string | null {
  for (const [name, pattern] of SCRIPTS) if (pattern.test(letter)) return name;
  return null;
}

/** Prose only: code, math, links and inline code removed. */
function proseOf(text: string): string {
  return text
    .replace(/```[\s\S]*?```/g, " ")
    .replace(/`[^`]*`/g, " ")
    .replace(/\$\$[\s\S]*?\$\$|\$[^$]*\$|\\\([\s\S]*?\\\)|\\\[[\s\S]*?\\\]/g, " ")
    .replace(/https?:\/\/\S+/g, " ");
}

/** Letters per script group. */
export function scriptCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const letter of proseOf(text).match(/\p{L}/gu) ?? []) {
    const script = scriptOf(letter);
    if (script !== null) counts.set(script, (counts.get(script) ?? 0) + 1);
  }
  return counts;
}

function dominant(counts: Map<string, number>): string | null {
  let best: string | null = null;
  for (const [script, count] of counts)
    if (best === null || count > counts.get(best)!) best = script;
  return best;
}

/** Options of `languagePenalty`. */
export interface LanguagePenaltyOptions {
  /**
   * Largest share of the response's letters allowed outside the expected script (default 0.05):
   * a few foreign names pass, a sentence in another language does not.
   */
  readonly maxForeign?: number;
  /** The expected script group (`latin`, `cjk`, …); default: the problem's, else the response's. */
  readonly expected?: string;
  /** Factor when the penalty fires (default 0). */
  readonly factor?: number;
}

/**
 * Language consistency, on the prose of the whole response (code, math and links left out):
 * fires on code-switching (more than `maxForeign` of the letters outside the expected script),
 * on a word that mixes alphabets (`pаypal` with a Cyrillic а), and on garbled text (U+FFFD,
 * control characters, a token repeated eight times in a row, a character 30 times).
 * Parts: `language` (the factor), `foreign` (the share of foreign letters).
 */
export function languagePenalty(options: LanguagePenaltyOptions = {}): Reward {
  const maxForeign = options.maxForeign ?? 0.05;
  const factor = options.factor ?? 0;
  checkFactor("factor", factor);
  checkFactor("maxForeign", maxForeign);
  return async (input) => {
    const counts = scriptCounts(input.response);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const expected =
      options.expected ??
      (input.problem !== undefined ? dominant(scriptCounts(input.problem)) : null) ??
      dominant(counts);
    const foreign = total === 0 || expected === null ? 0 : 1 - (counts.get(expected) ?? 0) / total;
    const reasons: string[] = [];
    if (foreign > maxForeign) {
      reasons.push(
        `${(foreign * 100).toFixed(0)}% of the letters are not ${expected} (code-switching)`,
      );
    }
    const mixedWord = (proseOf(input.response).match(/\p{L}+/gu) ?? []).find((word) => {
      const scripts = new Set(
        [...word].map(scriptOf).filter((s) => s !== null && ALPHABETIC.has(s)),
      );
      return scripts.size > 1;
    });
    if (mixedWord !== undefined) reasons.push(`the word \`${mixedWord}\` mixes scripts`);
    if (
      /\uFFFD|[\u0000-\u0008\u000B\u000C\u000E-\u001F]/.test(input.response) ||
      /(\S{1,20})(?:\s*\1){7,}/u.test(input.response) ||
      /(.)\1{29,}/u.test(input.response)
    ) {
      reasons.push("garbled text (replacement or control characters, or a runaway repetition)");
    }
    const score = reasons.length > 0 ? factor : 1;
    return {
      score,
      parts: { language: score, foreign },
      ...(reasons.length > 0 && { reason: `language: ${reasons.join("; ")}` }),
    };
  };
}

/** Options of `fabricationPenalty`. */
export interface FabricationPenaltyOptions {
  /** Allowed links: a URL prefix (`https://arxiv.org/abs/`) or a host (`wikipedia.org`, subdomains included). */
  readonly allow?: readonly string[];
}

const LINK_PATTERNS = [
  /\bhttps?:\/\/[^\s<>"'`)\]]+/gi,
  /\bwww\.[^\s<>"'`)\]]+/gi,
  /\bdoi:\s*10\.\d{4,9}\/[^\s<>"'`)\]]+|\b10\.\d{4,9}\/[^\s<>"'`)\]]+/gi,
  /\barXiv:\s*\d{4}\.\d{4,5}(?:v\d+)?/gi,
];

/** The links and references (URLs, DOIs, arXiv ids) in a text, trailing punctuation dropped. */
export function findReferences(text: string): string[] {
  const found = new Set<string>();
  for (const pattern of LINK_PATTERNS) {
    for (const match of text.matchAll(pattern)) found.add(match[0].replace(/[.,;:!?]+$/, ""));
  }
  // A DOI inside a URL is the URL's, not a second reference.
  return [...found].filter(
    (ref) =>
      !/^10\./.test(ref) || ![...found].some((other) => other !== ref && other.includes(ref)),
  );
}

function hostOf(reference: string): string | null {
  try {
    return new URL(
      /^www\./i.test(reference) ? `http://${reference}` : reference,
    ).hostname.toLowerCase();
  } catch {
    return null;
  }
}

/**
 * Zeroes the reward when the response cites a link or reference (URL, DOI, arXiv id) that is
 * neither in the problem nor allowed: a fabricated source is worse than none.
 * Parts: `fabrication` (the factor), `fabricated` (how many).
 */
export function fabricationPenalty(options: FabricationPenaltyOptions = {}): Reward {
  const allow = (options.allow ?? []).map((entry) => entry.trim().toLowerCase()).filter(Boolean);
  return async (input) => {
    const problem = (input.problem ?? "").toLowerCase();
    const fabricated = findReferences(input.response).filter((reference) => {
      const lower = reference.toLowerCase();
      if (problem.includes(lower)) return false;
      const host = hostOf(reference);
      return !allow.some((entry) =>
        entry.includes("/") || entry.includes(":")
          ? lower.startsWith(entry)
          : host !== null && (host === entry || host.endsWith(`.${entry}`)),
      );
    });
    const score = fabricated.length > 0 ? 0 : 1;
    return {
      score,
      parts: { fabrication: score, fabricated: fabricated.length },
      ...(fabricated.length > 0 && {
        reason: `fabricated reference${fabricated.length > 1 ? "s" : ""} not in the problem or allow-list: ${fabricated.join(", ")}`,
      }),
    };
  };
}

const HEDGES =
  /\b(ambiguous|ambiguity|unclear|it depends|depends on|could (?:mean|refer)|interpretations?|interpreted|assum(?:e|es|ing|ption)|if we read|not enough information|cannot be determined|underspecified|under-specified|more than one (?:answer|reading|interpretation))\b/i;

/** Options of `overconfidencePenalty`. */
export interface OverconfidencePenaltyOptions {
  /** Whether a problem is ambiguous (default: `metadata.ambiguous === true`). */
  readonly isAmbiguous?: (input: RewardInput) => boolean;
  /** Factor when a response to an ambiguous question never acknowledges it (default 0). */
  readonly factor?: number;
}

/**
 * On a question marked ambiguous, a response that states one answer without acknowledging the
 * ambiguity (no "ambiguous", "depends on", "assuming", "interpretation", …) is penalized.
 * Parts: `overconfidence` (the factor).
 */
export function overconfidencePenalty(options: OverconfidencePenaltyOptions = {}): Reward {
  const isAmbiguous = options.isAmbiguous ?? ((input) => input.metadata?.ambiguous === true);
  const factor = options.factor ?? 0;
  checkFactor("factor", factor);
  return async (input) => {
    const fires = isAmbiguous(input) && !HEDGES.test(splitReasoning(input.response).content);
    const score = fires ? factor : 1;
    return {
      score,
      parts: { overconfidence: score },
      ...(fires && { reason: "a question marked ambiguous answered without acknowledging it" }),
    };
  };
}

/**
 * Zeroes empty and truncated answers: nothing after the reasoning, generation cut by its
 * length limit (`finishReason: "length"`), or a `<think>` never closed.
 * Parts: `complete` (the factor).
 */
export function completenessPenalty(): Reward {
  return async (input) => {
    const { content } = splitReasoning(input.response);
    const unclosed = input.response.lastIndexOf("<think>") > input.response.lastIndexOf("</think>");
    const reason =
      input.finishReason === "length"
        ? "truncated: generation hit its length limit"
        : unclosed
          ? "truncated: <think> never closed"
          : content.trim() === ""
            ? "empty answer"
            : null;
    return {
      score: reason === null ? 1 : 0,
      parts: { complete: reason === null ? 1 : 0 },
      ...(reason !== null && { reason }),
    };
  };
}

/** Checks a penalty factor option. */
function checkFactor(name: string, value: number | undefined): void {
  if (value !== undefined && !(value >= 0 && value <= 1)) {
    throw new ConfigError(`Expected \`${name}\` in [0, 1], got \`${value}\``);
  }
}
