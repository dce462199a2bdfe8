import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  answersEqual,
  formatRational,
  normalizeAnswer,
  parseDecimal,
  parseNumericAnswer,
  rational,
} from "../../src/answers/index.js";

describe("answersEqual", () => {
  const equal: [string, string][] = [
    ["0.5", ".5"],
    ["0.5", "1/2"],
    ["1/2", "\\frac{1}{2}"],
    ["\\frac{1}{2}", "\\dfrac12"],
    ["\\tfrac{2}{4}", "$0.50$"],
    ["-\\frac{3}{2}", "-1.5"],
    ["\\frac{-3}{2}", "-1.5"],
    ["\\frac{3}{-2}", "-3/2"],
    ["1\\frac{1}{2}", "3/2"],
    ["1,234", "1234"],
    ["1{,}234", "1234"],
    ["-1,234.50", "-1234.5"],
    ["+7", "7"],
    ["-0", "0"],
    ["2.000", "2"],
    ["1e3", "1000"],
    ["$42$", "42"],
    ["\\(42\\)", "42"],
    ["\\boxed{42}", "42"],
    ["\\text{5}", "5"],
    ["\\left( 1, 2 \\right)", "(1,2)"],
    ["(0.5, \\frac{3}{1})", "(\\frac12, 3)"],
    ["[1, 2)", "[1.0,2)"],
    ["90^{\\circ}", "90"],
    ["90^\\circ", "90°"],
    ["50\\%", "50"],
    ["\\$5", "5"],
    ["x = 5", "5"],
    ["\\sqrt2", "\\sqrt{2}"],
    ["\\frac{\\sqrt{3}}{2}", "\\dfrac{\\sqrt3}{2}"],
    ["\\frac{x + 1}{2}", "\\frac{x+1}{2}"],
    ["(b)", "B"],
    ["b", "(B)"],
    ["C.", "c"],
    ["\\text{Yes}", "yes"],
    ["No  Solution", "no solution"],
    ["3 \\pi", "3\\pi"],
    ["2\\,000", "2000"],
    ["\u22125", "-5"],
    ["\\displaystyle \\frac{1}{3}", "1/3"],
  ];
  for (const [a, b] of equal) {
    test(`${a} = ${b}`, () => {
      assert.equal(answersEqual(a, b), true, `${normalizeAnswer(a)} vs ${normalizeAnswer(b)}`);
    });
  }
  const different: [string, string][] = [
    ["0.3", "0.30000000000000004"],
    ["12345678901234567890", "12345678901234567891"],
    ["1/3", "0.333333333333333333"],
    ["1,2", "12"],
    ["(1,2)", "(2,1)"],
    ["A", "B"],
    ["x+1", "x-1"],
    ["\\sqrt{2}", "2"],
    ["2", "-2"],
    ["1.5", "15"],
  ];
  for (const [a, b] of different) {
    test(`${a} ≠ ${b}`, () => assert.equal(answersEqual(a, b), false));
  }
});

describe("normalizeAnswer", () => {
  test("numbers become reduced rationals", () => {
    assert.equal(normalizeAnswer("2.50"), "5/2");
    assert.equal(normalizeAnswer("-\\frac{6}{4}"), "-3/2");
    assert.equal(normalizeAnswer("1,000,000"), "1000000");
    assert.equal(
      normalizeAnswer("123456789012345678901234567890"),
      "123456789012345678901234567890",
    );
  });
  test("non-numbers are cleaned, not guessed", () => {
    assert.equal(normalizeAnswer("\\frac{x+1}{2}"), "(x+1)/2");
    assert.equal(normalizeAnswer("\\text{ apples }"), "apples");
    assert.equal(normalizeAnswer("  "), "");
  });
  test("parseNumericAnswer is exact", () => {
    assert.deepEqual(parseNumericAnswer("\\dfrac{6}{8}"), rational(3n, 4n));
    assert.deepEqual(parseNumericAnswer("0.1"), rational(1n, 10n));
    assert.equal(parseNumericAnswer("x+1"), null);
    assert.equal(parseNumericAnswer("1/0"), null);
  });
  test("parseDecimal rejects what is not a decimal", () => {
    assert.equal(parseDecimal("."), null);
    assert.equal(parseDecimal("1.2.3"), null);
    assert.deepEqual(parseDecimal("-.25"), rational(-1n, 4n));
  });
});

describe("properties", () => {
  test("an integer equals itself with a trailing .0 and with thousands separators", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), (n) => {
        const text = n.toString();
        assert.ok(answersEqual(text, `${text}.0`));
        assert.ok(answersEqual(text, `${text}.000`));
        const grouped = text.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
        assert.ok(answersEqual(text, grouped), `${text} vs ${grouped}`);
        assert.ok(!answersEqual(text, (n + 1n).toString()));
      }),
      { numRuns: 300 },
    );
  });
  test("a fraction equals its reduced form, its LaTeX form and its decimal when finite", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -10_000, max: 10_000 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 50 }),
        (numerator, denominator, factor) => {
          const reduced = formatRational(rational(BigInt(numerator), BigInt(denominator)));
          const scaled = `${numerator * factor}/${denominator * factor}`;
          assert.ok(answersEqual(scaled, reduced));
          const magnitude = `\\frac{${Math.abs(numerator)}}{${denominator}}`;
          assert.ok(answersEqual(numerator < 0 ? `-${magnitude}` : magnitude, reduced));
          if (denominator === 4 || denominator === 8 || denominator === 125) {
            assert.ok(answersEqual((numerator / denominator).toString(), scaled));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
  test("normalization is idempotent", () => {
    const answer = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom("\\frac{1}{2}", "(0.5, 2)", "1,234", "$x = 3$", "(b)", "\\text{Yes}"),
    );
    fc.assert(
      fc.property(answer, (text) => {
        const once = normalizeAnswer(text);
        assert.equal(normalizeAnswer(once), once);
      }),
      { numRuns: 500 },
    );
  });
});
