import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  estimateTextTokens,
  estimateTokens,
  IMAGE_TOKENS,
  MESSAGE_OVERHEAD_TOKENS,
  REPLY_PRIMING_TOKENS,
} from "../../src/common/estimate-tokens.js";
import { splitReasoning } from "../../src/common/think.js";

describe("splitReasoning", () => {
  test("splits at the last </think>, content verbatim", () => {
    assert.deepEqual(splitReasoning("<think>\n2+2=4\n</think>\n\nThe answer is 4."), {
      reasoning: "\n2+2=4\n",
      content: "\n\nThe answer is 4.",
    });
  });
  test("no </think>: everything is content (also a trajectory cut off while thinking)", () => {
    assert.deepEqual(splitReasoning("The answer is 4."), { content: "The answer is 4." });
    assert.deepEqual(splitReasoning("<think>still going"), { content: "<think>still going" });
  });
  test("the template opened <think> already", () => {
    assert.deepEqual(splitReasoning("reasoning</think>4"), {
      reasoning: "reasoning",
      content: "4",
    });
  });
  test("several blocks: reasoning spans the first <think> to the last </think>", () => {
    assert.deepEqual(splitReasoning("<think>a</think>b<think>c</think>d"), {
      reasoning: "a</think>b<think>c",
      content: "d",
    });
  });
  test("empty content", () => {
    assert.deepEqual(splitReasoning("<think>x</think>"), { reasoning: "x", content: "" });
  });
  test("property: reasoning and content rebuild the text", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (before, inside, after) => {
        const text = `${before}</think>${inside}</think>${after}`;
        const split = splitReasoning(text);
        if (!after.includes("</think>")) assert.equal(split.content, after);
        assert.ok(text.endsWith(`</think>${split.content}`));
        assert.ok(!split.content.includes("</think>"));
      }),
    );
  });
});

describe("estimateTokens", () => {
  test("words, digits and punctuation", () => {
    assert.equal(estimateTextTokens(""), 0);
    assert.equal(estimateTextTokens("The answer is 42."), 7);
    assert.equal(estimateTextTokens("synthesis"), 3);
    assert.equal(estimateTextTokens("  \n\t"), 0);
    assert.equal(estimateTextTokens("\\frac{1}{2}"), 8);
  });
  test("non-ASCII: accented words, CJK characters, emoji", () => {
    assert.equal(estimateTextTokens("café"), 1);
    assert.equal(estimateTextTokens("你好"), 2);
    assert.equal(estimateTextTokens("😀"), 1);
  });
  test("message lists add overhead and images", () => {
    const tokens = estimateTokens([
      { role: "system", content: "Be brief." },
      {
        role: "user",
        content: [
          { type: "text", text: "What is 2+2?" },
          { type: "image", image: "data:image/png;base64,AAAA" },
        ],
      },
    ]);
    const text = estimateTextTokens("Be brief.") + estimateTextTokens("What is 2+2?");
    assert.equal(tokens, text + 2 * MESSAGE_OVERHEAD_TOKENS + IMAGE_TOKENS + REPLY_PRIMING_TOKENS);
  });
  test("property: texts joined by whitespace add up", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.constantFrom(" ", "\n", "\t"), (a, b, space) => {
        assert.equal(
          estimateTextTokens(`${a}${space}${b}`),
          estimateTextTokens(a) + estimateTextTokens(b),
        );
      }),
    );
  });
  test("English prose lands near 1.3 tokens per word", () => {
    const prose = "The quick brown fox jumps over the lazy dog while the cat watches quietly.";
    const ratio = estimateTextTokens(prose) / prose.split(" ").length;
    assert.ok(ratio > 1 && ratio < 1.8, `ratio ${ratio}`);
  });
});
