import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { generateArith } from "../../src/tasks/arith.js";
import { runCli } from "../helpers/cli.js";

describe("pacore bench", () => {
  it("--json prints the documented object over the held-out split", async () => {
    const { code, stdout, stderr } = await runCli([
      "bench",
      "--backend",
      "simulated",
      "--task",
      "arith",
      "--limit",
      "30",
      "--seed",
      "1",
      "--strategy",
      "self-consistency",
      "--k",
      "5",
      "--temperature",
      "1",
      "--json",
    ]);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout);
    for (const key of ["backend", "model", "task", "n", "strategy", "k", "accuracy", "elapsedMs"]) {
      assert.ok(key in report, key);
    }
    assert.equal(report.n, 30);
    assert.equal(report.task, "arith");
    assert.deepEqual(report.k, [5]);
    // The simulator is seeded: these are exact.
    assert.deepEqual([report.correct, report.accuracy, report.answered], [24, 0.8, 30]);
    assert.equal(report.usage.completionTokens, 37_680);
    assert.doesNotMatch(stderr, /MaxListenersExceededWarning/);
    assert.equal(
      report.correct,
      report.problems.filter((p: { correct: boolean }) => p.correct).length,
    );
    assert.equal(report.accuracy, report.correct / 30);
    assert.equal(
      report.answered,
      report.problems.filter((p: { answer: string | null }) => p.answer !== null).length,
    );
    assert.ok(report.answered >= report.correct);
    assert.ok(report.usage.totalTokens > 0);
    const expected = generateArith({ seed: 1, count: 30 });
    assert.deepEqual(
      report.problems.map((p: { id: string; groundTruth: string }) => [p.id, p.groundTruth]),
      expected.map((p) => [p.id, p.answer]),
      "the same seed draws the same held-out problems",
    );
  });

  it("every problem failing exits 1 with the first failure's reason", async () => {
    // A port that refuses connections: bound, then closed.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    const { code, stdout, stderr } = await runCli([
      "bench",
      "--backend",
      "openai",
      "--base-url",
      `http://127.0.0.1:${port}/v1`,
      "--model",
      "m",
      "--context",
      "4096",
      "--retries",
      "0",
      "--limit",
      "3",
      "--strategy",
      "single",
    ]);
    assert.equal(code, 1, stderr);
    assert.match(
      stderr,
      /all 3 problems failed; the first \(arith-[^)]+\): .*PACORE_ERR_UNREACHABLE/,
    );
    assert.match(stdout, /accuracy 0\.000/);
  });

  it("bad input found in any problem stops the bench with exit 2", async () => {
    const { code, stderr } = await runCli([
      "bench",
      "--backend",
      "simulated",
      "--context",
      "2048",
      "--max-tokens",
      "2000",
      "--k",
      "64,4",
      "--limit",
      "5",
    ]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /cannot fit its context window of 2,048 tokens.*Fix: /);
  });

  it("bad flags exit non-zero with one line", async () => {
    const { code, stderr } = await runCli(["bench", "--task", "chess"]);
    assert.equal(code, 2);
    assert.match(stderr, /--task/);
  });
});
