/**
 * A tiny, safe recursive-descent parser and exact evaluator for the simulator's arithmetic
 * problems: numbers, `+ - * /` (also `× ÷ −`), parentheses and unary signs. No `eval`.
 */
import {
  addRational,
  divideRational,
  multiplyRational,
  parseDecimal,
  type Rational,
  rational,
  subtractRational,
} from "../../answers/rational.js";
import { ConfigError } from "../../common/errors.js";

/** A binary operator of an arithmetic expression. */
export type ArithmeticOperator = "+" | "-" | "*" | "/";

/** A parsed arithmetic expression. */
export type ArithmeticNode =
  | { readonly kind: "number"; readonly value: Rational }
  | { readonly kind: "negate"; readonly operand: ArithmeticNode }
  | {
      readonly kind: "binary";
      readonly operator: ArithmeticOperator;
      readonly left: ArithmeticNode;
      readonly right: ArithmeticNode;
    };

interface Token {
  readonly text: string;
  readonly position: number;
}

const OPERATOR_ALIASES: Record<string, string> = { "×": "*", "÷": "/", "−": "-" };

function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /\s*(?:(\d+(?:\.\d+)?|\.\d+)|([-+*/()×÷−]))/y;
  let position = 0;
  while (position < expression.length) {
    if (/^\s*$/.test(expression.slice(position))) break;
    pattern.lastIndex = position;
    const match = pattern.exec(expression);
    if (!match) {
      const at = position + (/^\s*/.exec(expression.slice(position))?.[0].length ?? 0);
      throw new ConfigError(
        `Expected a number, an operator (+ - * /) or a parenthesis at position ${at} of \`${expression}\`, got \`${expression[at]}\``,
      );
    }
    const text = match[1] ?? OPERATOR_ALIASES[match[2]] ?? match[2];
    tokens.push({ text, position: pattern.lastIndex - match[0].trimStart().length });
    position = pattern.lastIndex;
  }
  return tokens;
}

/**
 * Parses an arithmetic expression. Precedence: unary sign, then `*` and `/`, then `+` and `-`,
 * all binary operators left-associative. Throws a `ConfigError` that names the position and the
 * unexpected text.
 * @example parseArithmetic("2*(3+4)") // binary * of 2 and (binary + of 3 and 4)
 */
export function parseArithmetic(expression: string): ArithmeticNode {
  const tokens = tokenize(expression);
  let index = 0;
  const peek = () => tokens[index]?.text;
  const fail = (expected: string): never => {
    const token = tokens[index];
    throw new ConfigError(
      token
        ? `Expected ${expected} at position ${token.position} of \`${expression}\`, got \`${token.text}\``
        : `Expected ${expected} at the end of \`${expression}\`, got the end of the expression`,
    );
  };

  const parseSum = (): ArithmeticNode => {
    let node = parseProduct();
    while (peek() === "+" || peek() === "-") {
      const operator = tokens[index++].text as ArithmeticOperator;
      node = { kind: "binary", operator, left: node, right: parseProduct() };
    }
    return node;
  };
  const parseProduct = (): ArithmeticNode => {
    let node = parseUnary();
    while (peek() === "*" || peek() === "/") {
      const operator = tokens[index++].text as ArithmeticOperator;
      node = { kind: "binary", operator, left: node, right: parseUnary() };
    }
    return node;
  };
  const parseUnary = (): ArithmeticNode => {
    if (peek() === "-") {
      index++;
      return { kind: "negate", operand: parseUnary() };
    }
    if (peek() === "+") {
      index++;
      return parseUnary();
    }
    return parsePrimary();
  };
  const parsePrimary = (): ArithmeticNode => {
    const text = peek();
    if (text === "(") {
      index++;
      const node = parseSum();
      if (peek() !== ")") fail("`)`");
      index++;
      return node;
    }
    const value = text === undefined ? null : parseDecimal(text);
    if (value === null) return fail("a number or `(`");
    index++;
    return { kind: "number", value };
  };

  const root = parseSum();
  if (index < tokens.length) fail("an operator (+ - * /)");
  return root;
}

/**
 * Evaluates an expression (text or parsed) exactly. Non-integer quotients stay rationals:
 * `7/2` is 7/2, not 3. Throws a `ConfigError` on a syntax error or a division by zero.
 * @example evaluateArithmetic("17*23+5") // { numerator: 396n, denominator: 1n }
 */
export function evaluateArithmetic(expression: string | ArithmeticNode): Rational {
  if (typeof expression !== "string") return evaluateNode(expression);
  const node = parseArithmetic(expression);
  try {
    return evaluateNode(node);
  } catch (error) {
    throw new ConfigError(`${(error as Error).message} in \`${expression}\``, { cause: error });
  }
}

function evaluateNode(node: ArithmeticNode): Rational {
  switch (node.kind) {
    case "number":
      return node.value;
    case "negate": {
      const value = evaluateNode(node.operand);
      return rational(-value.numerator, value.denominator);
    }
    case "binary": {
      const left = evaluateNode(node.left);
      const right = evaluateNode(node.right);
      switch (node.operator) {
        case "+":
          return addRational(left, right);
        case "-":
          return subtractRational(left, right);
        case "*":
          return multiplyRational(left, right);
        case "/":
          if (right.numerator === 0n) {
            throw new ConfigError("Expected a non-zero divisor, got a division by zero");
          }
          return divideRational(left, right);
      }
    }
  }
}

/**
 * The terms of the top-level sum of an expression, with their signs: `2*3 - 4 + 5` gives
 * `[+6, -4, +5]`. An expression that is not a sum is one term.
 */
export function additiveTerms(node: ArithmeticNode): Rational[] {
  if (node.kind === "binary" && (node.operator === "+" || node.operator === "-")) {
    const right = evaluateArithmetic(node.right);
    return [
      ...additiveTerms(node.left),
      node.operator === "+" ? right : rational(-right.numerator, right.denominator),
    ];
  }
  return [evaluateArithmetic(node)];
}

function hasBinaryOperator(node: ArithmeticNode): boolean {
  if (node.kind === "binary") return true;
  return node.kind === "negate" && hasBinaryOperator(node.operand);
}

/** An expression found in text, parsed and evaluated. */
export interface FoundExpression {
  /** The expression as written in the text, trimmed. */
  readonly expression: string;
  readonly node: ArithmeticNode;
  readonly value: Rational;
}

const CANDIDATE = /[\d(.+\-−][\d\s.()+\-*/×÷−]*/g;

/**
 * The first arithmetic expression with at least one binary operator in a text (`What is
 * 17*23+5?` gives `17*23+5`), or null when there is none that parses and evaluates.
 */
export function findArithmeticExpression(text: string): FoundExpression | null {
  CANDIDATE.lastIndex = 0;
  for (let match = CANDIDATE.exec(text); match; match = CANDIDATE.exec(text)) {
    const candidate = match[0]
      .replace(/[\s.+\-*/×÷−]+$/, "")
      .replace(/^[\s.*/×÷]+/, "")
      .trim();
    if (!/\d/.test(candidate)) continue;
    for (const expression of [candidate, candidate.replace(/^\(+|\)+$/g, "")]) {
      try {
        const node = parseArithmetic(expression);
        if (!hasBinaryOperator(node)) break;
        return { expression, node, value: evaluateArithmetic(node) };
      } catch {
        // Not an expression (or a division by zero): try the next candidate.
      }
    }
  }
  return null;
}
