/**
 * A small structural LaTeX reader for final answers: a tokenizer, and a converter from a token
 * list to the plain expression syntax of mathjs (`\frac{a}{b}` → `((a)/(b))`,
 * `\sqrt[3]{x}` → `nthRoot((v_x),3)`, `2x^2` → `2*v_x^(2)`). Brace groups are matched, not
 * pattern-replaced, so nesting is exact. Variables become `v_<name>` so that no answer letter
 * collides with a mathjs constant or function (`E`, `phi`, `beta`); `e`, `i` and `\pi` keep their
 * mathematical meaning. Pure, no dependencies: `symbolic.ts` is the only module that loads mathjs.
 */

/** One LaTeX token. `space` tokens separate words; `rowsep` is `\\`. */
export type Token =
  | { readonly type: "command"; readonly value: string }
  | { readonly type: "number"; readonly value: string }
  | { readonly type: "word"; readonly value: string }
  | { readonly type: "char"; readonly value: string }
  | { readonly type: "space"; readonly value: " " }
  | { readonly type: "rowsep"; readonly value: "\\\\" };

/** Thrown when an answer is not an expression this converter understands. */
export class LatexConversionError extends Error {
  override readonly name = "LatexConversionError";
}

const UNICODE: Readonly<Record<string, string>> = {
  "√": "\\sqrt",
  "∛": "\\sqrt[3]",
  π: "\\pi",
  "×": "\\times",
  "·": "\\cdot",
  "⋅": "\\cdot",
  "÷": "\\div",
  "−": "-",
  "–": "-",
  "∞": "\\infty",
  "≤": "\\le",
  "≥": "\\ge",
  "≠": "\\ne",
  "±": "\\pm",
  "∓": "\\mp",
  "∪": "\\cup",
  "∩": "\\cap",
  "∈": "\\in",
  "°": "^\\circ",
  "²": "^2",
  "³": "^3",
  "⟨": "\\langle",
  "⟩": "\\rangle",
  θ: "\\theta",
  α: "\\alpha",
  β: "\\beta",
};

/** Splits LaTeX (or plain math text) into tokens. Spacing commands become `space`. */
export function tokenize(source: string): Token[] {
  let text = source;
  for (const [from, to] of Object.entries(UNICODE)) text = text.replaceAll(from, ` ${to} `);
  const tokens: Token[] = [];
  let i = 0;
  const pushSpace = () => {
    if (tokens.length > 0 && tokens[tokens.length - 1].type !== "space") {
      tokens.push({ type: "space", value: " " });
    }
  };
  while (i < text.length) {
    const char = text[i];
    if (/\s|~/.test(char)) {
      pushSpace();
      i++;
    } else if (char === "\\") {
      const name = /^[A-Za-z]+/.exec(text.slice(i + 1));
      if (name) {
        tokens.push({ type: "command", value: name[0] });
        i += 1 + name[0].length;
      } else {
        const next = text[i + 1] ?? "";
        i += 2;
        if (next === "\\") tokens.push({ type: "rowsep", value: "\\\\" });
        else if (",;:! ".includes(next) || next === "") pushSpace();
        else if (next === "$") continue;
        else tokens.push({ type: "command", value: next });
      }
    } else if (/[0-9]/.test(char) || (char === "." && /[0-9]/.test(text[i + 1] ?? ""))) {
      const number = /^(?:\d+(?:\.\d+)?|\.\d+)/.exec(text.slice(i));
      const value = number ? number[0] : char;
      tokens.push({ type: "number", value });
      i += value.length;
    } else if (/[A-Za-z]/.test(char)) {
      const word = /^[A-Za-z]+/.exec(text.slice(i));
      const value = word ? word[0] : char;
      tokens.push({ type: "word", value });
      i += value.length;
    } else {
      tokens.push({ type: "char", value: char });
      i++;
    }
  }
  while (tokens.length > 0 && tokens[tokens.length - 1].type === "space") tokens.pop();
  while (tokens.length > 0 && tokens[0].type === "space") tokens.shift();
  return tokens;
}

/** Writes tokens back as LaTeX text (for error messages and string fallbacks). */
export function detokenize(tokens: readonly Token[]): string {
  let text = "";
  for (const token of tokens) {
    if (token.type === "command") {
      text += /^[A-Za-z]/.test(token.value) ? `\\${token.value} ` : `\\${token.value}`;
    } else text += token.value;
  }
  return text.replace(/ +/g, " ").trim();
}

const OPENERS: Readonly<Record<string, string>> = { "(": ")", "[": "]", "{": "}" };
const COMMAND_OPENERS: Readonly<Record<string, string>> = {
  "{": "}",
  langle: "rangle",
  lfloor: "rfloor",
  lceil: "rceil",
  lvert: "rvert",
};

/** True for a token that opens a bracket (`(`, `[`, `{`, `\{`, `\langle`, …). */
export function isOpener(token: Token): boolean {
  return (
    (token.type === "char" && token.value in OPENERS) ||
    (token.type === "command" && token.value in COMMAND_OPENERS)
  );
}

/** True for a token that closes a bracket. */
export function isCloser(token: Token): boolean {
  return (
    (token.type === "char" &&
      (token.value === ")" || token.value === "]" || token.value === "}")) ||
    (token.type === "command" && Object.values(COMMAND_OPENERS).includes(token.value))
  );
}

/**
 * Index of the token that closes the bracket opened at `start` (any closer counts, so that
 * half-open intervals `[0, 1)` match), or -1.
 */
export function matchingCloser(tokens: readonly Token[], start: number): number {
  let depth = 0;
  for (let i = start; i < tokens.length; i++) {
    if (isOpener(tokens[i])) depth++;
    else if (isCloser(tokens[i])) {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/** Sizing and style commands around brackets and expressions (`\left(`, `\Bigr]`, `\displaystyle`). */
export const SIZING_COMMANDS: ReadonlySet<string> = new Set([
  "left",
  "right",
  "bigl",
  "bigr",
  "Bigl",
  "Bigr",
  "big",
  "Big",
  "bigg",
  "Bigg",
  "biggl",
  "biggr",
  "displaystyle",
  "textstyle",
]);

/** Spacing, sizing and style commands dropped from expressions. */
const IGNORED_COMMANDS = new Set([
  ...SIZING_COMMANDS,
  "scriptstyle",
  "limits",
  "quad",
  "qquad",
  "enspace",
  "thinspace",
  "medspace",
  "thickspace",
  "negthinspace",
  "hspace",
  "mathstrut",
  "phantom",
]);

/** Commands whose braced argument is read as-is (`\text{…}`, `\mathrm{…}`, `\boxed{…}`). */
export const WRAPPER_COMMANDS = new Set([
  "text",
  "textbf",
  "textit",
  "textrm",
  "textsf",
  "texttt",
  "mathrm",
  "mathbf",
  "mathit",
  "mathsf",
  "mathtt",
  "mathbb",
  "mathcal",
  "mathnormal",
  "boldsymbol",
  "bm",
  "mbox",
  "operatorname",
  "boxed",
  "fbox",
  "emph",
  "underline",
  "overline",
]);

const FUNCTIONS: Readonly<Record<string, string>> = {
  sin: "sin",
  cos: "cos",
  tan: "tan",
  sec: "sec",
  csc: "csc",
  cot: "cot",
  arcsin: "asin",
  arccos: "acos",
  arctan: "atan",
  asin: "asin",
  acos: "acos",
  atan: "atan",
  sinh: "sinh",
  cosh: "cosh",
  tanh: "tanh",
  ln: "log",
  log: "log",
  lg: "log10",
  exp: "exp",
  sqrt: "sqrt",
  abs: "abs",
};

const GREEK = new Set([
  "alpha",
  "beta",
  "gamma",
  "delta",
  "epsilon",
  "varepsilon",
  "zeta",
  "eta",
  "theta",
  "vartheta",
  "iota",
  "kappa",
  "lambda",
  "mu",
  "nu",
  "xi",
  "rho",
  "sigma",
  "tau",
  "upsilon",
  "phi",
  "varphi",
  "chi",
  "psi",
  "omega",
  "Gamma",
  "Delta",
  "Theta",
  "Lambda",
  "Xi",
  "Sigma",
  "Phi",
  "Psi",
  "Omega",
]);

interface Piece {
  readonly text: string;
  /** A complete operand (a number, a variable, a group): two in a row multiply. */
  readonly operand: boolean;
}

/**
 * Converts a token list to a mathjs expression. Throws `LatexConversionError` for anything that
 * is not a single expression (commas, relations, `\pm`, unknown commands, unbalanced groups).
 *
 * @example tokensToExpression(tokenize("\\frac{1+\\sqrt5}{2}")) // "((1+sqrt(5))/(2))"
 */
export function tokensToExpression(tokens: readonly Token[]): string {
  const reader = new Reader(tokens);
  const result = reader.sequence(() => false);
  if (!reader.done()) throw new LatexConversionError(`Unexpected \`${reader.peekText()}\``);
  if (result === "") throw new LatexConversionError("Empty expression");
  return result;
}

class Reader {
  #tokens: readonly Token[];
  #index = 0;

  constructor(tokens: readonly Token[]) {
    this.#tokens = tokens;
  }

  done(): boolean {
    this.#skipSpaces();
    return this.#index >= this.#tokens.length;
  }

  peekText(): string {
    return detokenize(this.#tokens.slice(this.#index, this.#index + 3));
  }

  #skipSpaces(): void {
    while (this.#index < this.#tokens.length) {
      const token = this.#tokens[this.#index];
      if (token.type === "space") this.#index++;
      else if (token.type === "command" && IGNORED_COMMANDS.has(token.value)) {
        this.#index++;
        // `\left.` and `\right.` are invisible delimiters; `\hspace{…}` has an argument.
        const next = this.#tokens[this.#index];
        if (next?.type === "char" && next.value === ".") this.#index++;
        else if (
          (token.value === "hspace" || token.value === "phantom") &&
          next?.type === "char" &&
          next.value === "{"
        ) {
          const close = matchingCloser(this.#tokens, this.#index);
          this.#index = close < 0 ? this.#tokens.length : close + 1;
        }
      } else break;
    }
  }

  #peek(): Token | undefined {
    this.#skipSpaces();
    return this.#tokens[this.#index];
  }

  #next(): Token {
    this.#skipSpaces();
    const token = this.#tokens[this.#index++];
    if (token === undefined) throw new LatexConversionError("Unexpected end of expression");
    return token;
  }

  /** Operands and operators until `stop` matches the next token (not consumed) or the end. */
  sequence(stop: (token: Token) => boolean): string {
    const pieces: Piece[] = [];
    for (;;) {
      const token = this.#peek();
      if (token === undefined || stop(token)) break;
      const piece = this.#piece(pieces);
      if (piece === null) continue;
      const previous = pieces[pieces.length - 1];
      if (piece.operand && previous?.operand) pieces.push({ text: "*", operand: false });
      pieces.push(piece);
    }
    return pieces.map((piece) => piece.text).join("");
  }

  /** A braced argument, or a single token (`\frac12` reads `1` then `2`). */
  #argument(): string {
    const token = this.#peek();
    if (token === undefined) throw new LatexConversionError("Missing argument");
    if (token.type === "char" && token.value === "{") return `(${this.#group("}")})`;
    if (token.type === "number" && token.value.length > 1 && !token.value.includes(".")) {
      // `\frac12`: one digit per argument; the rest stays for the next read.
      const rest = token.value.slice(1);
      (this.#tokens as Token[]).splice(
        this.#index,
        1,
        { type: "number", value: token.value[0] },
        {
          type: "number",
          value: rest,
        },
      );
    }
    const piece = this.#piece([]);
    if (piece === null) throw new LatexConversionError("Missing argument");
    return `(${piece.text})`;
  }

  /** Consumes an opener, converts up to its closer, consumes the closer. */
  #group(closer: string): string {
    this.#next();
    const inner = this.sequence(
      (token) => (token.type === "char" || token.type === "command") && token.value === closer,
    );
    const close = this.#next();
    if (close.value !== closer) throw new LatexConversionError(`Expected \`${closer}\``);
    return inner === "" ? "0" : inner;
  }

  /** Reads the raw tokens of a braced argument (for `\text{…}` and `\begin{…}`). */
  #rawGroup(): Token[] {
    this.#skipSpaces();
    const start = this.#index;
    const token = this.#tokens[start];
    if (token?.type !== "char" || token.value !== "{") {
      throw new LatexConversionError("Expected `{`");
    }
    const close = matchingCloser(this.#tokens, start);
    if (close < 0) throw new LatexConversionError("Unclosed `{`");
    this.#index = close + 1;
    return this.#tokens.slice(start + 1, close) as Token[];
  }

  /** Applies `^…` (and `!`) after an operand. */
  #postfix(base: string): Piece {
    let text = base;
    for (;;) {
      const token = this.#peek();
      if (token?.type === "char" && token.value === "^") {
        this.#next();
        const after = this.#peek();
        if (after?.type === "command" && after.value === "circ") {
          this.#next();
          continue;
        }
        if (after?.type === "char" && after.value === "{") {
          const save = this.#index;
          const raw = this.#rawGroup();
          if (raw.length === 1 && raw[0].type === "command" && raw[0].value === "circ") continue;
          this.#index = save;
        }
        text = `${text}^${this.#argument()}`;
      } else if (token?.type === "char" && token.value === "!") {
        this.#next();
        text = `(${text})!`;
      } else if (token?.type === "char" && token.value === "'") {
        throw new LatexConversionError("Primes are not supported");
      } else break;
    }
    return { text, operand: true };
  }

  /** An identifier `v_x`, with a subscript when one follows (`x_1` → `v_x_1`). */
  #variable(name: string): Piece {
    let identifier = `v_${name}`;
    const token = this.#peek();
    if (token?.type === "char" && token.value === "_") {
      this.#next();
      const sub = this.#peek();
      let subscript = "";
      if (sub?.type === "char" && sub.value === "{") {
        subscript = detokenize(this.#rawGroup()).replace(/\s+/g, "");
      } else {
        const next = this.#next();
        subscript = next.type === "number" ? next.value[0] : next.value;
        if (next.type === "number" && next.value.length > 1) {
          this.#index--;
          (this.#tokens as Token[])[this.#index] = { type: "number", value: next.value.slice(1) };
        }
      }
      if (!/^[A-Za-z0-9]+$/.test(subscript)) {
        throw new LatexConversionError(`Unsupported subscript \`${subscript}\``);
      }
      identifier = `${identifier}_${subscript}`;
    }
    return this.#postfix(identifier);
  }

  /** A function applied to its argument: `\sin x`, `\sin^2(x)`, `\log_2 8`, `sqrt(5)`. */
  #applyFunction(name: string): Piece {
    let power: string | null = null;
    let base: string | null = null;
    for (;;) {
      const token = this.#peek();
      if (token?.type === "char" && token.value === "^" && power === null) {
        this.#next();
        power = this.#argument();
      } else if (token?.type === "char" && token.value === "_" && base === null) {
        this.#next();
        base = this.#argument();
      } else break;
    }
    const token = this.#peek();
    let argument: string;
    if (token?.type === "char" && (token.value === "(" || token.value === "[")) {
      argument = `(${this.#group(token.value === "(" ? ")" : "]")})`;
    } else if (token?.type === "char" && token.value === "{") {
      argument = `(${this.#group("}")})`;
    } else {
      // `\sin 2x`: the next operands up to an operator.
      const parts: string[] = [];
      for (;;) {
        const next = this.#peek();
        if (
          next === undefined ||
          (next.type === "char" && !"{".includes(next.value)) ||
          (next.type === "command" &&
            !(next.value in FUNCTIONS) &&
            !GREEK.has(next.value) &&
            !["pi", "sqrt", "frac", "dfrac", "tfrac"].includes(next.value)) ||
          next.type === "rowsep" ||
          parts.length >= 4
        )
          break;
        const piece = this.#piece([]);
        if (piece === null) break;
        parts.push(piece.text);
        if (next.type === "command" && next.value in FUNCTIONS) break;
      }
      if (parts.length === 0) throw new LatexConversionError(`Missing argument of \`${name}\``);
      argument = `(${parts.join("*")})`;
    }
    const mathName = FUNCTIONS[name];
    let text: string;
    if (name === "log" && base !== null) text = `log(${argument},${base})`;
    else text = `${mathName}(${argument})`;
    if (power !== null) {
      text =
        power === "(-1)" && mathName !== "log" ? `a${mathName}(${argument})` : `(${text})^${power}`;
    }
    return this.#postfix(text);
  }

  /** One piece: an operand with its postfixes, or an operator; null for something skipped. */
  #piece(previous: readonly Piece[]): Piece | null {
    const token = this.#next();
    switch (token.type) {
      case "number":
        return this.#postfix(token.value);
      case "rowsep":
      case "space":
        throw new LatexConversionError("Unexpected row separator");
      case "word":
        return this.#word(token.value);
      case "char":
        return this.#char(token.value, previous);
      case "command":
        return this.#command(token.value);
    }
  }

  #word(word: string): Piece | null {
    if (word in FUNCTIONS) return this.#applyFunction(word);
    if (word === "pi") return this.#postfix("pi");
    if (/^(?:inf|infty|infinity)$/i.test(word)) return this.#postfix("Infinity");
    if (word.length > 1) {
      // Adjacent letters multiply (`xy` is x·y), as in sympy's LaTeX parser.
      this.#index--;
      const letters = [...word];
      (this.#tokens as Token[]).splice(
        this.#index,
        1,
        ...letters.map((letter): Token => ({ type: "word", value: letter })),
      );
      this.#index++;
      return this.#letter(letters[0]);
    }
    return this.#letter(word);
  }

  #letter(letter: string): Piece {
    if (letter === "e" || letter === "i") return this.#postfix(letter);
    return this.#variable(letter);
  }

  #char(char: string, previous: readonly Piece[]): Piece | null {
    switch (char) {
      case "(":
        this.#index--;
        return this.#postfix(`(${this.#group(")")})`);
      case "[":
        this.#index--;
        return this.#postfix(`(${this.#group("]")})`);
      case "{":
        this.#index--;
        return this.#postfix(`(${this.#group("}")})`);
      case "|": {
        const inner = this.sequence((token) => token.type === "char" && token.value === "|");
        const close = this.#next();
        if (close.value !== "|") throw new LatexConversionError("Unclosed `|`");
        return this.#postfix(`abs(${inner})`);
      }
      case "+":
      case "-":
        return { text: char, operand: false };
      case "*":
      case "/":
        if (previous.length === 0) throw new LatexConversionError(`Leading \`${char}\``);
        return { text: char, operand: false };
      case "%":
        return { text: "/100", operand: false };
      case ".":
        return null;
      default:
        throw new LatexConversionError(`Unexpected \`${char}\``);
    }
  }

  #command(name: string): Piece | null {
    if (WRAPPER_COMMANDS.has(name)) {
      const raw = this.#rawGroup();
      const inner = new Reader(raw).sequence(() => false);
      return inner === "" ? null : this.#postfix(`(${inner})`);
    }
    if (name in FUNCTIONS && name !== "sqrt") return this.#applyFunction(name);
    if (GREEK.has(name)) return this.#variable(name);
    switch (name) {
      case "frac":
      case "dfrac":
      case "tfrac":
      case "cfrac": {
        const numerator = this.#argument();
        const denominator = this.#argument();
        return this.#postfix(`(${numerator}/${denominator})`);
      }
      case "binom":
      case "dbinom":
      case "tbinom": {
        const n = this.#argument();
        const k = this.#argument();
        return this.#postfix(`binomial(${n},${k})`);
      }
      case "sqrt": {
        const token = this.#peek();
        if (token?.type === "char" && token.value === "[") {
          const index = this.#group("]");
          const radicand = this.#argument();
          const text = /^\d+$/.test(index)
            ? `nthRoot(${radicand},${index})`
            : `(${radicand})^(1/(${index}))`;
          return this.#postfix(text);
        }
        return this.#postfix(`sqrt(${this.#argument()})`);
      }
      case "pi":
        return this.#postfix("pi");
      case "infty":
      case "infin":
        return this.#postfix("Infinity");
      case "cdot":
      case "times":
      case "ast":
        return { text: "*", operand: false };
      case "div":
        return { text: "/", operand: false };
      case "%":
        return { text: "/100", operand: false };
      case "{": {
        const inner = this.sequence((token) => token.type === "command" && token.value === "}");
        this.#next();
        return this.#postfix(`(${inner})`);
      }
      case "lfloor":
      case "lceil": {
        const closer = name === "lfloor" ? "rfloor" : "rceil";
        const inner = this.sequence((token) => token.type === "command" && token.value === closer);
        this.#next();
        return this.#postfix(`${name === "lfloor" ? "floor" : "ceil"}(${inner})`);
      }
      case "lvert":
      case "vert": {
        const closer = name === "lvert" ? "rvert" : "vert";
        const inner = this.sequence((token) => token.type === "command" && token.value === closer);
        this.#next();
        return this.#postfix(`abs(${inner})`);
      }
      case "circ":
      case "degree":
        return null;
      default:
        throw new LatexConversionError(`Unsupported command \`\\${name}\``);
    }
  }
}
