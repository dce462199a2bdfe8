import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { extractAnswer, extractBoxed, extractLastNumber } from "../../src/answers/index.js";
import { ConfigError } from "../../src/common/errors.js";

describe("extractAnswer (auto)", () => {
  const cases: [string, string, string | null][] = [
    [
      "boxed after reasoning",
      "<think>\nLet me compute 17*23 = 391, plus 5 is 396. Maybe \\boxed{395}? No.\n</think>\n\nThe result is $\\boxed{396}$.",
      "396",
    ],
    ["nested braces", "So $x = \\boxed{\\frac{\\sqrt{3}}{2}}$.", "\\frac{\\sqrt{3}}{2}"],
    ["last boxed wins", "First guess \\boxed{3}, corrected: \\boxed{4}.", "4"],
    ["fbox", "Hence \\fbox{12}.", "12"],
    ["unclosed last boxed falls back to the previous", "\\boxed{7} and then \\boxed{8", "7"],
    ["boxed with a space", "The answer is $\\boxed 5$.", "5"],
    ["boxed beats a later phrase", "\\boxed{10}\nThe answer is 11.", "10"],
    ["the answer is", "Adding them up, the answer is 42.", "42"],
    ["the answer is with dollars", "Therefore, the answer is $\\frac{1}{2}$.", "\\frac{1}{2}"],
    ["final answer bold", "**Final Answer:** **-7**", "-7"],
    ["final answer is", "The final answer is 3.5. I hope it is correct.", "3.5"],
    ["answer colon at line start", "Work...\nAnswer: 1,234", "1,234"],
    ["markdown answer heading", "### Answer: $x = 5$", "x = 5"],
    ["last phrase wins", "The answer is 3. Wait, recheck. The answer is 4.", "4"],
    ["number followed by units", "So the answer is 12 apples.", "12"],
    ["number followed by because", "The answer is 5 because 2 + 3 = 5", "5"],
    ["choice in phrase", "After elimination, the answer is (B).", "B"],
    ["choice with text", "Answer: (C) 12 meters", "C"],
    ["bare choice letter", "Answer: D", "D"],
    ["stated option", "Comparing all four, option B is best.", "B"],
    ["parenthesized choice is correct", "Clearly (a) is correct.", "A"],
    ["choose", "I choose C.", "C"],
    ["last number", "We have 3 boxes and 4 balls, so 12 ways.", "12"],
    ["last negative number", "The temperature dropped to -15 degrees.", "-15"],
    ["decimal", "It comes to about 2.75 in total", "2.75"],
    ["fraction", "The probability is 3/4 overall", "3/4"],
    ["thousands separator", "They sold 1,234,567 copies", "1,234,567"],
    ["hyphen is not a minus", "pages 10-15", "15"],
    ["nothing", "I do not know.", null],
    ["only think, answer inside it", "<think>maybe 5</think>", null],
    ["truncated think keeps the whole text", "<think>\nStep 1: 2+2 = 4\nStep 2: so 4", "4"],
    [
      "only after the last </think>",
      "<think>a</think>ignored 9 <think>b \\boxed{1}</think>Final: 8",
      "8",
    ],
    [
      "realistic R1 style",
      "<think>\nOkay, so I need to find the sum of the roots. By Vieta, it is -b/a = 7/2.\n</think>\n\nBy Vieta's formulas the sum of the roots is $-\\frac{b}{a}$.\n\n**Final Answer**\n\\[\n\\boxed{\\dfrac{7}{2}}\n\\]",
      "\\dfrac{7}{2}",
    ],
  ];
  for (const [name, text, expected] of cases) {
    test(name, () => assert.equal(extractAnswer(text), expected));
  }
});

describe("extractAnswer kinds", () => {
  test("math ignores stated choices and takes the last number", () => {
    assert.equal(extractAnswer("option B gives 17", { kind: "math" }), "17");
    assert.equal(extractAnswer("option B gives 17", { kind: "auto" }), "B");
  });
  test("numeric takes the number of a phrase or box", () => {
    assert.equal(extractAnswer("The answer is $x = 5$.", { kind: "numeric" }), "5");
    assert.equal(extractAnswer("\\boxed{\\frac{3}{4}}", { kind: "numeric" }), "\\frac{3}{4}");
    assert.equal(extractAnswer("\\boxed{-2.5}", { kind: "numeric" }), "-2.5");
    assert.equal(extractAnswer("Answer: (B)", { kind: "numeric" }), null);
  });
  test("choice returns upper-case letters only", () => {
    assert.equal(extractAnswer("\\boxed{(c)}", { kind: "choice" }), "C");
    assert.equal(extractAnswer("Answer: B) 42", { kind: "choice" }), "B");
    assert.equal(extractAnswer("the correct answer is d.", { kind: "choice" }), "D");
    assert.equal(extractAnswer("It must be 42.", { kind: "choice" }), null);
  });
  test("exact falls back to the last non-empty line", () => {
    assert.equal(extractAnswer("Thinking...\nParis\n\n", { kind: "exact" }), "Paris");
    assert.equal(extractAnswer("Final answer: New York City", { kind: "exact" }), "New York City");
    assert.equal(extractAnswer("   \n", { kind: "exact" }), null);
  });
  test("an unknown kind is a ConfigError that lists the kinds", () => {
    assert.throws(
      () => extractAnswer("1", { kind: "fuzzy" as never }),
      (error: unknown) =>
        error instanceof ConfigError && /auto, math.*got `fuzzy`/.test(error.message),
    );
  });
});

describe("helpers", () => {
  test("extractBoxed", () => {
    assert.equal(extractBoxed("\\boxed{a{b}c}"), "a{b}c");
    assert.equal(extractBoxed("\\boxed{\\{1,2\\}}"), "\\{1,2\\}");
    assert.equal(extractBoxed("\\boxedx{1}"), null);
    assert.equal(extractBoxed("no box"), null);
  });
  test("extractLastNumber", () => {
    assert.equal(extractLastNumber("x2 and y"), null);
    assert.equal(extractLastNumber("from (-3) to .5"), ".5");
    assert.equal(extractLastNumber("it is \\frac{3}{4}"), "\\frac{3}{4}");
    assert.equal(extractLastNumber("1,2345"), "2345");
    assert.equal(extractLastNumber("minus \u22124"), "\u22124");
  });
});
