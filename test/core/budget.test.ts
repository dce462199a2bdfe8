import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { BudgetError } from "../../src/common/errors.js";
import { estimateTokens } from "../../src/common/estimate-tokens.js";
import { checkPlanFits, fitMessages, splitBudget } from "../../src/core/budget.js";
import type { TokenCounter } from "../../src/core/tokens.js";
import { pacore } from "../../strategies/pacore.js";

const count: TokenCounter = async (input) => estimateTokens(input);
const problem = [{ role: "user" as const, content: "What is (47*8+129)-36*3?" }];
const words = fc
  .array(fc.constantFrom("step", "carry", "so", "47*8", "=", "376", "\n", "the answer is 7."), {
    maxLength: 300,
  })
  .map((parts) => parts.join(" "));

describe("budget: splitBudget (water-filling)", () => {
  it("never gives more than available or than a message has, and is fair", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 5_000 }), { minLength: 1, maxLength: 40 }),
        fc.nat({ max: 50_000 }),
        (sizes, available) => {
          const shares = splitBudget(sizes, available);
          const total = shares.reduce((sum, share) => sum + share, 0);
          assert.ok(total <= available);
          shares.forEach((share, i) => {
            assert.ok(share >= 0 && share <= sizes[i]);
          });
          if (sizes.reduce((sum, size) => sum + size, 0) <= available) {
            assert.deepEqual(shares, sizes);
          }
          // A cut message gets at least as much as any other message's share.
          const cut = shares.filter((share, i) => share < sizes[i]);
          if (cut.length > 0) assert.ok(Math.min(...cut) >= Math.max(...shares) - 1);
        },
      ),
    );
  });
});

describe("budget: fitMessages", () => {
  it("a synthesis prompt never exceeds its budget, under every policy", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(words, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 2_000 }),
        fc.constantFrom("keep-tail", "keep-head-tail", "drop-longest") as fc.Arbitrary<
          "keep-tail" | "keep-head-tail" | "drop-longest"
        >,
        fc.constantFrom("default", "paper") as fc.Arbitrary<"default" | "paper">,
        async (messages, room, policy, template) => {
          const strategy = pacore({ k: [messages.length], template });
          const maxOutput = 256;
          const overhead = await count(
            strategy.prompt({ problem, round: 2, messages: messages.map(() => "") }),
          );
          const window = overhead + maxOutput + messages.length * 32 + room;
          const fitted = await fitMessages({
            strategy,
            problem,
            round: 2,
            messages,
            policy,
            count,
            window,
            maxOutput,
          });
          const tokens = await count(fitted.prompt);
          assert.ok(tokens + maxOutput <= window, `${tokens} + ${maxOutput} > ${window}`);
          assert.equal(tokens, fitted.promptTokens);
          const full = await count(strategy.prompt({ problem, round: 2, messages }));
          if (full + maxOutput <= window) {
            assert.deepEqual(fitted.messages, messages, "messages that fit stay verbatim");
            assert.equal(fitted.cuts.length, 0);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("keep-tail keeps the conclusion; keep-head-tail keeps both ends; drop-longest drops", async () => {
    const strategy = pacore({ k: [3] });
    const long = `${"reasoning ".repeat(300)}so the answer is 42.`;
    const messages = [long, "short one: 7", `start here ${"x ".repeat(200)} the end`];
    const overhead = await count(strategy.prompt({ problem, round: 2, messages: ["", "", ""] }));
    const [, short, middle] = await Promise.all(messages.map((message) => count(message)));
    // Room for the two smaller messages: drop-longest keeps them; the others must cut two.
    const limits = { window: overhead + 100 + short + middle + 20, maxOutput: 100 };
    const fit = (policy: "keep-tail" | "keep-head-tail" | "drop-longest") =>
      fitMessages({ strategy, problem, round: 2, messages, policy, count, ...limits });

    const tail = await fit("keep-tail");
    assert.match(tail.messages[0], /^….*so the answer is 42\.$/s);
    assert.equal(tail.messages[1], "short one: 7");
    assert.deepEqual(
      tail.cuts.map((cut) => cut.index),
      [0, 2],
    );

    const headTail = await fit("keep-head-tail");
    assert.match(headTail.messages[2], /^start here.*\n…\n.*the end$/s);

    const dropped = await fit("drop-longest");
    assert.deepEqual(dropped.messages, ["short one: 7", messages[2]]);
    assert.deepEqual(dropped.cuts, [
      { index: 0, originalTokens: await count(long), keptTokens: 0 },
    ]);
  });
});

describe("budget: checkPlanFits", () => {
  it("passes a plan that fits and fails one that cannot, naming the largest max output", async () => {
    const strategy = pacore({ k: [16, 4] });
    const base = { strategy, problem, minMessageTokens: 32, count };
    await checkPlanFits({ ...base, window: 32_768, maxOutput: 8_192 });
    await assert.rejects(
      checkPlanFits({ ...base, window: 8_192, maxOutput: 8_000 }),
      (error: unknown) => {
        assert.ok(error instanceof BudgetError);
        const largest = Number(/at most ([\d,]+)/.exec(error.message)![1].replaceAll(",", ""));
        return largest > 0 && largest < 8_000;
      },
    );
  });

  it("the largest max output it names does fit", async () => {
    const strategy = pacore({ k: [24] });
    const base = { strategy, problem, minMessageTokens: 32, count, window: 4_096 };
    const error = await checkPlanFits({ ...base, maxOutput: 4_000 }).catch((e: Error) => e);
    assert.ok(error instanceof BudgetError);
    const largest = Number(/at most ([\d,]+)/.exec(error.message)![1].replaceAll(",", ""));
    await checkPlanFits({ ...base, maxOutput: largest });
    await assert.rejects(checkPlanFits({ ...base, maxOutput: largest + 1 }), BudgetError);
  });
});
