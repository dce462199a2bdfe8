import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { extractAnswer, majorityVote } from "../../src/answers/index.js";
import { ChatPrompter } from "../../src/backends/onnx/chat-prompt.js";
import { loadModelDirectory } from "../../src/backends/onnx/model-directory.js";
import { onnxBackend } from "../../src/backends/onnx/onnx-backend.js";
import { createRandom, hashSeed } from "../../src/common/random.js";
import {
  ARITH_LEVELS,
  arithSteps,
  DEFAULT_ARITH_DIFFICULTY,
  evaluateArith,
  fnv1a32,
  generateArith,
  isHeldOut,
  verifyArith,
} from "../../src/tasks/arith.js";
import { defaultTemplate } from "../../strategies/synthesis-template.js";

const readJson = (path: string) => JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8"));

interface SplitCheck {
  hashSeed: { parts: (string | number)[]; value: number }[];
  random: number[];
  cases: {
    seed: number;
    difficulty: number;
    split: "all" | "heldout" | "train";
    problems: {
      id: string;
      expression: string;
      answer: string;
      heldOut: boolean;
      fnv1a32: number;
      steps: string[];
    }[];
  }[];
}

describe("arith: generator", () => {
  it("draws the same problems for the same seed, and others for another seed", () => {
    const a = generateArith({ seed: 1, count: 50 });
    const b = generateArith({ seed: 1, count: 50 });
    const c = generateArith({ seed: 2, count: 50 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(
      a.map((p) => p.expression),
      c.map((p) => p.expression),
    );
    assert.equal(a.length, 50);
    assert.equal(new Set(a.map((p) => p.expression)).size, 50);
  });

  it("defaults to the held-out split at the default difficulty", () => {
    for (const problem of generateArith({ seed: 3, count: 40 })) {
      assert.equal(problem.split, "heldout");
      assert.equal(problem.difficulty, DEFAULT_ARITH_DIFFICULTY);
      assert.ok(isHeldOut(problem.expression));
      assert.equal(problem.prompt, `What is ${problem.expression}?`);
      assert.match(problem.id, new RegExp(`^arith-L${DEFAULT_ARITH_DIFFICULTY}-s3-\\d+$`));
    }
  });

  it("keeps the splits disjoint: train never holds a held-out expression", () => {
    for (const difficulty of Object.keys(ARITH_LEVELS).map(Number)) {
      const train = generateArith({ seed: 5, count: 300, split: "train", difficulty });
      const heldout = generateArith({ seed: 5, count: 60, split: "heldout", difficulty });
      const heldoutSet = new Set(heldout.map((p) => p.expression));
      for (const problem of train) {
        assert.equal(isHeldOut(problem.expression), false);
        assert.equal(heldoutSet.has(problem.expression), false);
      }
      // The "all" split is the union: about one draw in ten is held out.
      const all = generateArith({ seed: 5, count: 1000, split: "all", difficulty });
      const share = all.filter((p) => p.split === "heldout").length / all.length;
      assert.ok(share > 0.05 && share < 0.15, `held-out share ${share} at level ${difficulty}`);
    }
  });

  it("grows with the level: more terms, larger values", () => {
    const meanSteps = (difficulty: number) => {
      const problems = generateArith({ seed: 9, count: 200, split: "all", difficulty });
      return (
        problems.reduce((sum, p) => sum + arithSteps(p.expression).length, 0) / problems.length
      );
    };
    const means = [1, 2, 3, 4, 5, 6].map(meanSteps);
    for (let i = 1; i < means.length; i++) assert.ok(means[i] >= means[i - 1] - 0.05, `${means}`);
    assert.ok(means[5] > means[0] + 3);
  });

  it("evaluates with the usual precedence", () => {
    assert.equal(evaluateArith("(47*8+129)-36*3"), 397);
    assert.equal(evaluateArith("10-(3-12)*4"), 46);
    assert.deepEqual(arithSteps("(47*8+129)-36*3"), [
      "47*8=376",
      "376+129=505",
      "36*3=108",
      "505-108=397",
    ]);
    assert.deepEqual(arithSteps("10-(3-12)"), ["3-12=-9", "10-(-9)=19"]);
    assert.throws(() => evaluateArith("4+"), /Expected an arith expression/);
  });

  it("rejects bad options with what it expected", () => {
    assert.throws(() => generateArith({ seed: 1, count: 3, difficulty: 9 }), /difficulty/);
    assert.throws(() => generateArith({ seed: 1.5, count: 3 }), /seed/);
    assert.throws(() => generateArith({ seed: 1, count: -1 }), /count/);
  });

  it("answers are the values of the expressions (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 1, max: 6 }),
        (seed, d) => {
          const [problem] = generateArith({ seed, count: 1, split: "all", difficulty: d });
          // Independent evaluation: JavaScript's own arithmetic on the same text.
          const value = Function(`"use strict"; return (${problem.expression});`)() as number;
          assert.equal(problem.answer, String(value));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("arith: verifier", () => {
  const problem = { answer: "397" };
  it("accepts the stated answer after the reasoning", () => {
    assert.equal(verifyArith(problem, "<think>\n505-108=397\n</think>\nThe answer is 397."), true);
    assert.equal(verifyArith(problem, "The answer is \\boxed{397}."), true);
    assert.equal(verifyArith({ answer: "-420" }, "<think>\n</think>\nThe answer is -420."), true);
  });
  it("rejects wrong, missing and reasoning-only answers", () => {
    assert.equal(verifyArith(problem, "<think>\n</think>\nThe answer is 387."), false);
    assert.equal(verifyArith(problem, "<think>\n505-108=397\n</think>\nI am not sure."), false);
    assert.equal(verifyArith(problem, ""), false);
    assert.equal(verifyArith({ answer: "-420" }, "The answer is 420."), false);
  });
});

describe("arith: the Python mirror (models/arith/arith.py) agrees", () => {
  const check = readJson("../../models/arith/split-check.json") as SplitCheck;

  it("hashSeed and mulberry32 match the Python port", () => {
    for (const item of check.hashSeed) assert.equal(hashSeed(...item.parts), item.value);
    const random = createRandom(hashSeed("arith", 1, 4, 0));
    assert.deepEqual(
      check.random.map(() => random()),
      check.random,
    );
  });

  it("draws the same expressions, answers, steps and split flags", () => {
    assert.equal(check.cases.length, 18);
    for (const item of check.cases) {
      const problems = generateArith({
        seed: item.seed,
        count: item.problems.length,
        split: item.split,
        difficulty: item.difficulty,
      });
      assert.deepEqual(
        problems.map((p) => [p.id, p.expression, p.answer, p.split === "heldout"]),
        item.problems.map((p) => [p.id, p.expression, p.answer, p.heldOut]),
      );
      for (const p of item.problems) {
        assert.equal(fnv1a32(p.expression), p.fnv1a32);
        assert.deepEqual(arithSteps(p.expression), p.steps);
      }
    }
  });
});

describe("arith: the embedded model (models/pacore-tiny) sees what it was trained on", () => {
  const example = readJson("../../models/pacore-tiny/synthesis-example.json") as {
    problem: string;
    messages: string[];
    rendered: string;
    renderedIds: number[];
    tokenizerCases: { text: string; ids: number[] }[];
  };

  it("the training script renders the default template byte for byte", () => {
    assert.ok(example.messages.length >= 2);
    assert.equal(defaultTemplate(example.problem, example.messages), example.rendered);
  });

  it("its tokenizer and chat template give the training script's token ids", async () => {
    const directory = await loadModelDirectory(
      new URL("../../models/pacore-tiny", import.meta.url).pathname,
    );
    const prompter = new ChatPrompter(directory);
    const ids = prompter.encodeMessages([{ role: "user", content: example.rendered }]);
    assert.deepEqual(ids, example.renderedIds);
    for (const item of example.tokenizerCases) {
      assert.deepEqual(prompter.encode(item.text), item.ids, item.text);
      // `<think>` tags are not special: decoding keeps them, so compaction can find `</think>`.
      assert.equal(prompter.decode(item.ids), item.text.replace(/<\|im_(start|end)\|>/g, ""));
    }
  });

  it("an answer whose own check failed states no answer, so a vote passes over it", () => {
    // The conclusion the model writes when its check fails (`ABSTAIN` in models/arith/arith.py).
    const { declinedConclusion } = readJson("../../models/pacore-tiny/config.json").pacore as {
      declinedConclusion: string;
    };
    assert.equal(typeof declinedConclusion, "string");
    const declined = `<think>\nCheck:\n47*8=6\n5-8=7\n-328: 2 7 no\n</think>\n${declinedConclusion}`;
    assert.equal(extractAnswer(declined), null);
    assert.equal(extractAnswer(declined, { kind: "numeric" }), null);
    assert.equal(verifyArith({ answer: "-328" }, declined), false);
    const vote = majorityVote([extractAnswer(declined), "397", extractAnswer(declined)]);
    assert.deepEqual([vote.answer, vote.count], ["397", 1]);
  });

  it("the ONNX backend decodes greedily the same ids as torch", async () => {
    const reference = readJson("../../models/pacore-tiny/greedy-reference.json") as {
      cases: { prompt: string; greedyIds: number[]; text: string }[];
    };
    assert.ok(reference.cases.length >= 2);
    const backend = await onnxBackend({
      modelDir: new URL("../../models/pacore-tiny", import.meta.url).pathname,
      device: "cpu",
    });
    try {
      const generation = readJson("../../models/pacore-tiny/generation_config.json") as {
        max_new_tokens: number;
      };
      assert.equal(backend.defaultMaxTokens, generation.max_new_tokens);
      for (const item of reference.cases) {
        const result = await backend.generate({
          messages: [{ role: "user", content: item.prompt }],
          sampling: { temperature: 0, maxTokens: 200 },
          n: 1,
        });
        const [completion] = result.completions;
        assert.deepEqual(completion.tokenIds, item.greedyIds, item.prompt);
        assert.ok(item.text.includes("</think>"));
        assert.equal(completion.content, item.text.slice(item.text.lastIndexOf("</think>") + 8));
      }
    } finally {
      await backend.close();
    }
  });
});
