import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { createRandom } from "../../src/common/random.js";
import { run } from "../../src/core/engine.js";
import { bestOfN } from "../../strategies/best-of-n.js";
import { drawSubset, rsa } from "../../strategies/rsa.js";
import { selfConsistency } from "../../strategies/self-consistency.js";
import { sequential } from "../../strategies/sequential.js";
import { lastUserText, scriptedBackend } from "../helpers/scripted-backend.js";

const problem = "What is 17*23+5?";
/** Answers by trajectory seed order: the backend answers from a fixed list, call by call. */
function answering(answers: readonly string[]) {
  let next = 0;
  return scriptedBackend({
    text: () => `<think>…</think>The answer is \\boxed{${answers[next++ % answers.length]}}.`,
  });
}

describe("self-consistency", () => {
  it("plans N samples and returns the majority answer, equivalent forms grouped", async () => {
    const backend = answering(["7", "1/2", "0.5", "7", "\\frac{1}{2}"]);
    const result = await run({ backend, strategy: selfConsistency({ n: 5 }), problem });
    assert.deepEqual(result.plan, [5]);
    assert.equal(backend.calls, 5);
    assert.equal(result.answer, "1/2");
    assert.match(result.content, /boxed\{1\/2\}/);
  });

  it("breaks ties deterministically: the answer seen first (lowest index) wins", async () => {
    const result = await run({
      backend: answering(["3", "4", "4", "3"]),
      strategy: selfConsistency({ n: 4 }),
      problem,
    });
    assert.equal(result.answer, "3");
  });
});

describe("best-of-n", () => {
  it("keeps the trajectory the verifier scores highest, ties to the lowest index", async () => {
    const scores: Record<string, number> = { "10": 0.2, "396": 0.9, "11": 0.9 };
    const seen: string[] = [];
    const result = await run({
      backend: answering(["10", "396", "11", "12"]),
      strategy: bestOfN({
        n: 4,
        verifier: async ({ answer }) => {
          seen.push(answer ?? "");
          return scores[answer ?? ""] ?? 0;
        },
      }),
      problem,
    });
    assert.equal(result.answer, "396");
    assert.deepEqual(seen, ["10", "396", "11", "12"]);
  });

  it("refuses a verifier that is not a function or returns no number", async () => {
    assert.throws(
      () => bestOfN({ n: 2, verifier: 3 as never }),
      /Expected `verifier` to be a function/,
    );
    await assert.rejects(
      run({
        backend: answering(["1"]),
        strategy: bestOfN({ n: 2, verifier: () => "high" as never }),
        problem,
      }),
      /return a number/,
    );
  });
});

describe("sequential", () => {
  it("[1,1,1,1] runs five single rounds, each reading the one message before it", async () => {
    const backend = scriptedBackend();
    const result = await run({ backend, strategy: sequential({ k: [1, 1, 1, 1] }), problem });
    assert.deepEqual(result.plan, [1, 1, 1, 1, 1]);
    assert.equal(result.strategy, "sequential");
    assert.equal(backend.calls, 5);
    for (const request of backend.requests.slice(1)) {
      const text = lastUserText(request);
      assert.match(text, /Reference 1:/);
      assert.doesNotMatch(text, /Reference 2:/);
    }
    assert.throws(() => sequential({ k: [4] }), /all ones/);
  });
});

describe("rsa", () => {
  it("plans T rounds of N; each aggregation reads K of the previous population", async () => {
    const backend = scriptedBackend();
    const result = await run({
      backend,
      strategy: rsa({ population: 6, subset: 3, steps: 3 }),
      problem,
    });
    assert.deepEqual(result.plan, [6, 6, 6]);
    assert.equal(backend.calls, 18);
    for (const request of backend.requests.slice(6)) {
      const text = lastUserText(request);
      assert.match(text, /Reference 3:/);
      assert.doesNotMatch(text, /Reference 4:/);
    }
    // The answer is the majority of the last population.
    const answers = result.rounds[2].trajectories.map((t) => /(\d+)\.$/.exec(t.content)![1]);
    const counts = new Map<string, number>();
    for (const answer of answers) counts.set(answer, (counts.get(answer) ?? 0) + 1);
    assert.equal(counts.get(result.answer!), Math.max(...counts.values()));
    assert.throws(() => rsa({ population: 2, subset: 3, steps: 2 }), /K = 3 > N = 2/);
  });

  it("subsets are distinct, in range, and seeded", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.nat(),
        (count, size, seed) => {
          const subset = drawSubset(count, size, createRandom(seed));
          assert.equal(subset.length, Math.min(size, count));
          assert.equal(new Set(subset).size, subset.length);
          assert.ok(subset.every((i) => i >= 0 && i < count));
          assert.deepEqual(drawSubset(count, size, createRandom(seed)), subset);
        },
      ),
    );
  });
});
