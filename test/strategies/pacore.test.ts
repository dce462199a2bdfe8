import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { createRandom } from "../../src/common/random.js";
import type { Trajectory } from "../../src/spec/run.js";
import {
  compactTrajectory,
  conclusionOf,
  lengthSortThenShuffle,
} from "../../strategies/compaction.js";
import { PACORE_PRESETS, pacore } from "../../strategies/pacore.js";
import { paperTemplate } from "../../strategies/synthesis-template.js";

// The PaCoRe-8B synthesis input for this problem and these two messages, from DESIGN.md.
const PAPER_EXAMPLE = JSON.parse(
  '"You are given a problem and a list of reference responses. Your job is to analyze these references and provide your own response.\\n\\nOriginal Problem:\\nWhat is 2+2?\\n\\nReference Responses:\\n\\nReference 1:\\nThe answer is 4.\\n\\nReference 2:\\nIt is 5.\\n\\n\\nNow, based on the original problem and reference responses above, please provide your own comprehensive solution."',
);

const trajectory = (content: string): Trajectory => ({
  round: 1,
  index: 0,
  seed: 0,
  content,
  finishReason: "stop",
  usage: { promptTokens: 0, completionTokens: 0, cachedTokens: 0 },
  attempts: 1,
  elapsedMs: 0,
});

describe("pacore: plan and prompts", () => {
  it("plans K then one final trajectory; presets as in the paper", () => {
    assert.deepEqual(pacore({ k: PACORE_PRESETS.high }).plan, [32, 4, 1]);
    assert.deepEqual(pacore({ k: PACORE_PRESETS.low }).plan, [4, 1]);
  });

  it("the paper template renders the PaCoRe-8B input byte for byte", () => {
    assert.equal(paperTemplate("What is 2+2?", ["The answer is 4.", "It is 5."]), PAPER_EXAMPLE);
    const strategy = pacore({ k: [2], template: "paper" });
    const prompt = strategy.prompt({
      problem: [{ role: "user", content: "What is 2+2?" }],
      round: 2,
      messages: ["The answer is 4.", "It is 5."],
    });
    assert.deepEqual(prompt, [{ role: "user", content: PAPER_EXAMPLE }]);
  });

  it("round 1 sends the problem unchanged; synthesis replaces only the last user turn", () => {
    const strategy = pacore({ k: [2] });
    const problem = [
      { role: "system" as const, content: "sys" },
      { role: "user" as const, content: "first question" },
      { role: "assistant" as const, content: "first answer" },
      {
        role: "user" as const,
        content: [
          { type: "image" as const, image: "https://example.com/a.png" },
          { type: "text" as const, text: "How many cats?" },
        ],
      },
    ];
    assert.equal(strategy.prompt({ problem, round: 1, messages: [] }), problem);
    const synthesis = strategy.prompt({ problem, round: 2, messages: ["Three.", "Two."] });
    assert.deepEqual(synthesis.slice(0, 3), problem.slice(0, 3));
    const last = synthesis[3].content as readonly { type: string; text?: string }[];
    assert.equal(last[0].type, "image");
    assert.match(
      last[1].text!,
      /How many cats\?[\s\S]*Reference 1:\nThree\.[\s\S]*Reference 2:\nTwo\./,
    );
  });

  it("renders a user Jinja template with problem and messages", () => {
    const strategy = pacore({
      k: [2],
      // Blocks trim the newline after them (trim_blocks, as in chat templates): emit it explicitly.
      template: {
        jinja:
          "Q: {{ problem }}{% for m in messages %}{{ '\\n' }}[{{ loop.index }}] {{ m }}{% endfor %}",
      },
    });
    const [turn] = strategy.prompt({
      problem: [{ role: "user", content: "2+2?" }],
      round: 2,
      messages: ["4", "5"],
    });
    assert.equal(turn.content, "Q: 2+2?\n[1] 4\n[2] 5");
  });
});

describe("pacore: compaction and order", () => {
  it("keeps everything after the last </think>, verbatim; the whole text when there is none", () => {
    assert.equal(conclusionOf("<think>a</think>b</think>  c \n"), "  c \n");
    assert.equal(conclusionOf("no thinking here"), "no thinking here");
    assert.equal(compactTrajectory(trajectory("<think>long</think>\n\n")), null, "empty dropped");
    assert.equal(compactTrajectory(trajectory("")), null);
    assert.equal(compactTrajectory(trajectory("<think>x</think> 4")), " 4");
  });

  it("orders by a seeded shuffle of the length-sorted messages: independent of arrival order", () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 20 }), fc.nat(), (messages, seed) => {
        const ordered = lengthSortThenShuffle(messages, createRandom(seed));
        const reversed = lengthSortThenShuffle(messages.slice().reverse(), createRandom(seed));
        assert.deepEqual(ordered, reversed);
        assert.deepEqual(ordered.slice().sort(), messages.slice().sort());
      }),
    );
  });
});
