/**
 * Reads a final answer into a structured value: an expression, a tuple or interval, a set of
 * solutions, a union, a relation (`x > 3`, `x - 2y = 1`), a matrix, a choice letter or text.
 * Works on `latex.ts` tokens, splitting only at top-level separators (brackets are matched).
 */
import { normalizeAnswer, parseNumericAnswer } from "./equivalence.js";
import {
  detokenize,
  isCloser,
  isOpener,
  LatexConversionError,
  matchingCloser,
  SIZING_COMMANDS,
  type Token,
  tokenize,
  tokensToExpression,
  WRAPPER_COMMANDS,
} from "./latex.js";
import type { MathExpression } from "./symbolic.js";

/** A relation operator after normalization (`\geq` → `>=`). */
export type RelationOperator = "=" | "<" | "<=" | ">" | ">=" | "!=";

/** A structured answer. */
export type AnswerValue =
  | { readonly kind: "expression"; readonly expression: MathExpression; readonly source: string }
  | {
      /** `(a, b)`, `[a, b)`, …: an ordered tuple, a point or an interval. */
      readonly kind: "tuple";
      readonly open: "(" | "[";
      readonly close: ")" | "]";
      readonly items: readonly AnswerValue[];
    }
  | { readonly kind: "list"; readonly items: readonly AnswerValue[] }
  | { readonly kind: "set"; readonly items: readonly AnswerValue[] }
  | { readonly kind: "union"; readonly items: readonly AnswerValue[] }
  | {
      readonly kind: "relation";
      readonly parts: readonly AnswerValue[];
      readonly operators: readonly RelationOperator[];
    }
  | { readonly kind: "matrix"; readonly rows: readonly (readonly AnswerValue[])[] }
  | {
      /** `a = 2, b = 3`: values named by distinct variables, in written order. */
      readonly kind: "assignments";
      readonly names: readonly string[];
      readonly items: readonly AnswerValue[];
    }
  | { readonly kind: "text"; readonly text: string };

const RELATION_COMMANDS: Readonly<Record<string, RelationOperator>> = {
  le: "<=",
  leq: "<=",
  leqslant: "<=",
  ge: ">=",
  geq: ">=",
  geqslant: ">=",
  lt: "<",
  gt: ">",
  ne: "!=",
  neq: "!=",
};

function trimSpaces(tokens: readonly Token[]): Token[] {
  let start = 0;
  let end = tokens.length;
  while (start < end && tokens[start].type === "space") start++;
  while (end > start && tokens[end - 1].type === "space") end--;
  return tokens.slice(start, end);
}

/** Drops `\left`, `\right` and friends (and the `.` of `\left.`). */
function dropSizing(tokens: readonly Token[]): Token[] {
  const result: Token[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token.type === "command" && SIZING_COMMANDS.has(token.value)) {
      const next = tokens[i + 1];
      if (next?.type === "char" && next.value === ".") i++;
      continue;
    }
    result.push(token);
  }
  return result;
}

/** Splits at top-level tokens for which `separator` returns the separator's length (0: none). */
function splitTopLevel(
  tokens: readonly Token[],
  separator: (tokens: readonly Token[], index: number) => number,
): Token[][] {
  const parts: Token[][] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (isOpener(token)) depth++;
    else if (isCloser(token)) depth--;
    else if (depth === 0 && token.type === "char" && token.value === "|") continue;
    if (depth !== 0) continue;
    const length = isCloser(token) ? 0 : separator(tokens, i);
    if (length > 0) {
      parts.push(tokens.slice(start, i));
      start = i + length;
      i += length - 1;
    }
  }
  parts.push(tokens.slice(start));
  return parts.map(trimSpaces);
}

function isChar(token: Token | undefined, value: string): boolean {
  return token?.type === "char" && token.value === value;
}

function isCommand(token: Token | undefined, value: string): boolean {
  return token?.type === "command" && token.value === value;
}

/** Text inside `\text{…}` at `index` when it is only letters and spaces, lower case. */
function wrappedWord(tokens: readonly Token[], index: number): { word: string; length: number } {
  const token = tokens[index];
  if (token?.type !== "command" || !WRAPPER_COMMANDS.has(token.value))
    return { word: "", length: 0 };
  if (!isChar(tokens[index + 1], "{")) return { word: "", length: 0 };
  const close = matchingCloser(tokens, index + 1);
  if (close < 0) return { word: "", length: 0 };
  const inner = detokenize(tokens.slice(index + 2, close))
    .trim()
    .toLowerCase();
  return { word: inner, length: close - index + 1 };
}

/** `or`, `and`, `\text{ or }`, `\lor`, `;` between solutions. */
function connector(tokens: readonly Token[], index: number): number {
  const token = tokens[index];
  if (token.type === "word" && /^(?:or|and)$/i.test(token.value)) return 1;
  if (isChar(token, ";")) return 1;
  if (isCommand(token, "lor") || isCommand(token, "vee")) return 1;
  const wrapped = wrappedWord(tokens, index);
  if (/^,?\s*(?:or|and)$/.test(wrapped.word)) return wrapped.length;
  return 0;
}

function relationAt(tokens: readonly Token[], index: number): RelationOperator | null {
  const token = tokens[index];
  if (token.type === "command") return RELATION_COMMANDS[token.value] ?? null;
  if (token.type !== "char") return null;
  const next = tokens[index + 1];
  if (token.value === "=") return "=";
  if (token.value === "<") return isChar(next, "=") ? "<=" : "<";
  if (token.value === ">") return isChar(next, "=") ? ">=" : ">";
  if (token.value === "!" && isChar(next, "=")) return "!=";
  return null;
}

function relationLength(tokens: readonly Token[], index: number): number {
  const operator = relationAt(tokens, index);
  if (operator === null) return 0;
  return tokens[index].type === "char" && operator.length === 2 ? 2 : 1;
}

/** The bracket pair spanning all tokens, when there is one. */
function outerBrackets(tokens: readonly Token[]): { open: Token; close: Token } | null {
  if (tokens.length < 2 || !isOpener(tokens[0])) return null;
  if (matchingCloser(tokens, 0) !== tokens.length - 1) return null;
  return { open: tokens[0], close: tokens[tokens.length - 1] };
}

/** A variable name alone: `x`, `x_1`, `\theta`, or a function head `f(x)`. */
function isSymbolName(tokens: readonly Token[]): boolean {
  const trimmed = trimSpaces(tokens);
  if (trimmed.length === 0) return false;
  const first = trimmed[0];
  const isName =
    (first.type === "word" && first.value.length <= 2) ||
    (first.type === "command" && /^[a-zA-Z]+$/.test(first.value) && first.value.length > 1);
  if (!isName) return false;
  let rest = trimmed.slice(1);
  if (isChar(rest[0], "_")) {
    rest = isChar(rest[1], "{") ? rest.slice(matchingCloser(rest, 1) + 1) : rest.slice(2);
  }
  rest = trimSpaces(rest);
  if (rest.length === 0) return true;
  // f(x), P(1)
  return isChar(rest[0], "(") && matchingCloser(rest, 0) === rest.length - 1;
}

/** `x`, `(p, q)`, `x, y`: names only, the left side of an assignment. */
function isAssignee(tokens: readonly Token[]): boolean {
  const brackets = outerBrackets(tokens);
  const inner = brackets ? tokens.slice(1, -1) : tokens;
  const parts = splitTopLevel(inner, (all, i) => (isChar(all[i], ",") ? 1 : 0));
  return parts.every(isSymbolName);
}

const NUMERIC_TOKEN_COMMANDS = new Set(["frac", "dfrac", "tfrac"]);

function exactValue(tokens: readonly Token[]): MathExpression["exact"] {
  const numeric = tokens.every(
    (token) =>
      token.type === "number" ||
      token.type === "space" ||
      (token.type === "char" && "+-/{}()".includes(token.value)) ||
      (token.type === "command" && NUMERIC_TOKEN_COMMANDS.has(token.value)),
  );
  return numeric ? parseNumericAnswer(detokenize(tokens)) : null;
}

/** Plain words only (`Evelyn`, `no solution`): compared as lower-case text. */
function isPlainText(tokens: readonly Token[]): boolean {
  let letters = 0;
  for (const token of tokens) {
    if (token.type === "word") letters += token.value.length;
    else if (token.type === "command" && WRAPPER_COMMANDS.has(token.value)) continue;
    else if (token.type === "space" || isChar(token, "{") || isChar(token, "}")) continue;
    else if (token.type === "char" && ",.'-".includes(token.value)) continue;
    else return false;
  }
  return letters >= 2 && tokens.some((token) => token.type === "word" && token.value.length >= 2);
}

function textValue(tokens: readonly Token[]): AnswerValue {
  return { kind: "text", text: normalizeAnswer(detokenize(tokens)) };
}

function expressionValue(tokens: readonly Token[]): AnswerValue {
  const source = detokenize(tokens);
  try {
    return {
      kind: "expression",
      expression: { math: tokensToExpression(tokens), exact: exactValue(tokens) },
      source,
    };
  } catch (error) {
    if (error instanceof LatexConversionError) return textValue(tokens);
    throw error;
  }
}

const MATRIX_ENVIRONMENTS = /^(?:[pbBvV]?matrix|smallmatrix|array)$/;

function parseMatrix(tokens: readonly Token[]): AnswerValue | null {
  if (!isCommand(tokens[0], "begin") || !isChar(tokens[1], "{")) return null;
  const nameEnd = matchingCloser(tokens, 1);
  const name = detokenize(tokens.slice(2, nameEnd));
  if (!MATRIX_ENVIRONMENTS.test(name)) return null;
  let body = tokens.slice(nameEnd + 1);
  // `\end{…}` closes it.
  const end = body.findIndex((token) => isCommand(token, "end"));
  if (end < 0 || matchingCloser(body, end + 1) !== body.length - 1) return null;
  body = body.slice(0, end);
  if (name === "array" && isChar(trimSpaces(body)[0], "{")) {
    const trimmed = trimSpaces(body);
    body = trimmed.slice(matchingCloser(trimmed, 0) + 1);
  }
  const rows = splitTopLevel(body, (all, i) => (all[i].type === "rowsep" ? 1 : 0)).filter(
    (row) => row.length > 0,
  );
  return {
    kind: "matrix",
    rows: rows.map((row) =>
      splitTopLevel(row, (all, i) => (isChar(all[i], "&") ? 1 : 0)).map(parseTokens),
    ),
  };
}

function flattenSolutions(values: readonly AnswerValue[]): AnswerValue[] {
  return values.flatMap((value) =>
    value.kind === "set" || value.kind === "list" ? flattenSolutions(value.items) : [value],
  );
}

/** Reads a token list into a structured answer. */
export function parseTokens(input: readonly Token[]): AnswerValue {
  let tokens = trimSpaces(dropSizing(input));
  // Trailing punctuation and whole-answer wrappers.
  for (let guard = 0; guard < 10; guard++) {
    const last = tokens[tokens.length - 1];
    if (last?.type === "char" && ".,;:".includes(last.value)) {
      tokens = trimSpaces(tokens.slice(0, -1));
      continue;
    }
    const first = tokens[0];
    if (
      first?.type === "command" &&
      WRAPPER_COMMANDS.has(first.value) &&
      isChar(tokens[1], "{") &&
      matchingCloser(tokens, 1) === tokens.length - 1
    ) {
      tokens = trimSpaces(tokens.slice(2, -1));
      continue;
    }
    if (isChar(first, "{") && matchingCloser(tokens, 0) === tokens.length - 1) {
      // A plain brace group: `{1, 2}` is a set (as in `{1,3} \cup {2,4}`), `{5}` just 5.
      const inner = tokens.slice(1, -1);
      if (splitTopLevel(inner, (all, i) => (isChar(all[i], ",") ? 1 : 0)).length > 1) {
        return {
          kind: "set",
          items: splitTopLevel(inner, (all, i) => (isChar(all[i], ",") ? 1 : 0)).map(parseTokens),
        };
      }
      tokens = trimSpaces(inner);
      continue;
    }
    break;
  }
  if (tokens.length === 0) return { kind: "text", text: "" };
  if (isPlainText(tokens)) return textValue(tokens);

  const matrix = parseMatrix(tokens);
  if (matrix) return matrix;

  const solutions = splitTopLevel(tokens, connector).filter((part) => part.length > 0);
  if (solutions.length > 1)
    return { kind: "set", items: flattenSolutions(solutions.map(parseTokens)) };

  const membership = splitTopLevel(tokens, (all, i) => (isCommand(all[i], "in") ? 1 : 0));
  if (membership.length === 2 && isAssignee(membership[0])) return parseTokens(membership[1]);

  // Commas at the top level outrank relations: `x = 1, x = 2` is a list of two solutions.
  const commaParts = splitTopLevel(tokens, (all, i) => (isChar(all[i], ",") ? 1 : 0));
  if (commaParts.length > 1) {
    // `a = 2, b = 3` names its values; `x = 1, x = 2` lists solutions.
    const named = commaParts.map((part) =>
      splitTopLevel(part, (all, i) => (isChar(all[i], "=") ? 1 : 0)),
    );
    const names = named.map((sides) =>
      sides.length === 2 && isSymbolName(sides[0]) ? detokenize(sides[0]).replace(/\s+/g, "") : "",
    );
    if (names.every((name) => name !== "") && new Set(names).size === names.length) {
      return { kind: "assignments", names, items: named.map((sides) => parseTokens(sides[1])) };
    }
    return { kind: "list", items: commaParts.map(parseTokens) };
  }

  const relationParts = splitTopLevel(tokens, relationLength);
  if (relationParts.length > 1) {
    const operators: RelationOperator[] = [];
    let depth = 0;
    for (let i = 0; i < tokens.length; i++) {
      if (isOpener(tokens[i])) depth++;
      else if (isCloser(tokens[i])) depth--;
      else if (depth === 0) {
        const operator = relationAt(tokens, i);
        if (operator) {
          operators.push(operator);
          i += relationLength(tokens, i) - 1;
        }
      }
    }
    if (operators.every((operator) => operator === "=")) {
      if (isAssignee(relationParts[0])) return parseTokens(relationParts[relationParts.length - 1]);
      if (relationParts.length === 2 && isAssignee(relationParts[1])) {
        return parseTokens(relationParts[0]);
      }
      if (relationParts.length > 2) return parseTokens(relationParts[relationParts.length - 1]);
    }
    return { kind: "relation", parts: relationParts.map(parseTokens), operators };
  }

  const unionParts = splitTopLevel(tokens, (all, i) =>
    isCommand(all[i], "cup") || (all[i].type === "word" && all[i].value === "U") ? 1 : 0,
  );
  if (unionParts.length > 1) return { kind: "union", items: unionParts.map(parseTokens) };

  const plusMinus = tokens.findIndex((token) => isCommand(token, "pm") || isCommand(token, "mp"));
  if (plusMinus >= 0) {
    const variant = (sign: string) =>
      parseTokens(
        tokens.map((token, i): Token => (i === plusMinus ? { type: "char", value: sign } : token)),
      );
    return { kind: "set", items: [variant("+"), variant("-")] };
  }

  const brackets = outerBrackets(tokens);
  if (brackets) {
    const inner = tokens.slice(1, -1);
    const items = splitTopLevel(inner, (all, i) => (isChar(all[i], ",") ? 1 : 0));
    const { open, close } = brackets;
    if (isCommand(open, "{")) {
      if (items.length === 1 && items[0].length === 0) return { kind: "set", items: [] };
      return { kind: "set", items: items.map(parseTokens) };
    }
    if (isCommand(open, "langle"))
      return { kind: "tuple", open: "(", close: ")", items: items.map(parseTokens) };
    if (items.length > 1 && open.type === "char" && close.type === "char") {
      if (
        (open.value === "(" || open.value === "[") &&
        (close.value === ")" || close.value === "]")
      ) {
        return {
          kind: "tuple",
          open: open.value,
          close: close.value,
          items: items.map(parseTokens),
        };
      }
    }
  }
  return expressionValue(tokens);
}

/** Reads answer text (LaTeX or plain) into a structured answer. */
export function parseAnswer(text: string): AnswerValue {
  return parseTokens(tokenize(text));
}
