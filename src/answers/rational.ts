/**
 * Exact rational numbers over BigInt, so that answers compare without float surprises
 * (`0.1 + 0.2` stays `3/10`, and 20-digit integers keep every digit).
 */

/** A reduced fraction: `denominator` is positive and shares no factor with `numerator`. */
export interface Rational {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) {
    [x, y] = [y, x % y];
  }
  return x;
}

/**
 * Builds a reduced rational. Throws a `RangeError` when `denominator` is zero.
 * @example rational(6n, -4n) // { numerator: -3n, denominator: 2n }
 */
export function rational(numerator: bigint, denominator = 1n): Rational {
  if (denominator === 0n) {
    throw new RangeError(`Expected a non-zero denominator, got 0 (numerator ${numerator})`);
  }
  const sign = denominator < 0n ? -1n : 1n;
  const divisor = gcd(numerator, denominator) || 1n;
  return { numerator: (sign * numerator) / divisor, denominator: (sign * denominator) / divisor };
}

/** `a + b`. */
export function addRational(a: Rational, b: Rational): Rational {
  return rational(
    a.numerator * b.denominator + b.numerator * a.denominator,
    a.denominator * b.denominator,
  );
}

/** `a - b`. */
export function subtractRational(a: Rational, b: Rational): Rational {
  return rational(
    a.numerator * b.denominator - b.numerator * a.denominator,
    a.denominator * b.denominator,
  );
}

/** `a * b`. */
export function multiplyRational(a: Rational, b: Rational): Rational {
  return rational(a.numerator * b.numerator, a.denominator * b.denominator);
}

/** `a / b`. Throws a `RangeError` when `b` is zero. */
export function divideRational(a: Rational, b: Rational): Rational {
  if (b.numerator === 0n) throw new RangeError("Division by zero");
  return rational(a.numerator * b.denominator, a.denominator * b.numerator);
}

/** True when both rationals are the same number. */
export function rationalsEqual(a: Rational, b: Rational): boolean {
  return a.numerator === b.numerator && a.denominator === b.denominator;
}

/**
 * Formats a rational: `plain` gives `7` or `-7/2`; `latex` gives `7` or `-\frac{7}{2}`.
 */
export function formatRational(value: Rational, style: "plain" | "latex" = "plain"): string {
  if (value.denominator === 1n) return value.numerator.toString();
  if (style === "plain") return `${value.numerator}/${value.denominator}`;
  const negative = value.numerator < 0n;
  const magnitude = negative ? -value.numerator : value.numerator;
  return `${negative ? "-" : ""}\\frac{${magnitude}}{${value.denominator}}`;
}

const DECIMAL_PATTERN = /^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i;

/**
 * Parses an unsigned-or-signed decimal literal exactly: `42`, `-0.50`, `.5`, `3.`, `1.5e3`.
 * Returns null for anything else (no separators, no fractions: see `parseNumericAnswer`).
 */
export function parseDecimal(text: string): Rational | null {
  const match = DECIMAL_PATTERN.exec(text);
  if (!match) return null;
  const [, sign, whole, fraction = "", exponentText] = match;
  if (whole === "" && fraction === "") return null;
  const exponent = exponentText === undefined ? 0 : Number(exponentText);
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 1000) return null;
  let numerator = BigInt(`${whole}${fraction}` || "0");
  let denominator = 10n ** BigInt(fraction.length);
  if (exponent > 0) numerator *= 10n ** BigInt(exponent);
  if (exponent < 0) denominator *= 10n ** BigInt(-exponent);
  return rational(sign === "-" ? -numerator : numerator, denominator);
}
