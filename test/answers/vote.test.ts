import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { extractAnswer, majorityVote } from "../../src/answers/index.js";
import { ConfigError } from "../../src/common/errors.js";

describe("majorityVote", () => {
  test("groups equivalent answers and ignores nulls and blanks", () => {
    const result = majorityVote(["1/2", null, "0.5", "3", "  ", "\\frac{1}{2}", "3"]);
    assert.equal(result.answer, "1/2");
    assert.equal(result.count, 3);
    assert.deepEqual(result.groups, [
      { answer: "1/2", count: 3, indices: [0, 2, 5] },
      { answer: "3", count: 2, indices: [3, 6] },
    ]);
  });

  test("ties go to the group seen first by default", () => {
    assert.equal(majorityVote(["7", "5", "5", "7"]).answer, "7");
    assert.equal(majorityVote(["5", "7", "7", "5"]).answer, "5");
  });

  test("lexicographic ties compare normalized answers", () => {
    assert.equal(majorityVote(["b", "a"], "lexicographic").answer, "a");
    assert.equal(majorityVote(["10", "9"], "lexicographic").answer, "10");
  });

  test("no answers", () => {
    assert.deepEqual(majorityVote([null, null]), { answer: null, count: 0, groups: [] });
    assert.deepEqual(majorityVote([]), { answer: null, count: 0, groups: [] });
  });

  test("self-consistency over realistic outputs", () => {
    const outputs = [
      "<think>17*23 = 391</think>So the answer is $\\boxed{396}$.",
      "<think>hmm</think>The final answer is 396.",
      "<think>maybe 391</think>Answer: 391",
      "<think>...</think>\\boxed{396.0}",
      "<think>I ran out of time",
    ];
    const result = majorityVote(outputs.map((text) => extractAnswer(text)));
    assert.equal(result.answer, "396");
    assert.equal(result.count, 3);
  });

  test("a bad tie-break is a ConfigError", () => {
    assert.throws(() => majorityVote(["1"], "random" as never), ConfigError);
  });

  test("property: counts add up, the winner is a largest group, order does not change it", () => {
    const answer = fc.option(fc.constantFrom("1", "1.0", "2", "\\frac{4}{2}", "3", "A", "(a)"), {
      nil: null,
    });
    fc.assert(
      fc.property(fc.array(answer, { maxLength: 30 }), (answers) => {
        const result = majorityVote(answers);
        const total = result.groups.reduce((sum, group) => sum + group.count, 0);
        assert.equal(total, answers.filter((a) => a !== null).length);
        for (const group of result.groups) assert.ok(group.count <= result.count);
        const reversed = majorityVote([...answers].reverse(), "lexicographic");
        const forward = majorityVote(answers, "lexicographic");
        assert.equal(reversed.count, forward.count);
        assert.equal(
          reversed.answer === null ? null : majorityVote([reversed.answer, forward.answer]).count,
          forward.answer === null ? null : 2,
        );
      }),
      { numRuns: 300 },
    );
  });
});
