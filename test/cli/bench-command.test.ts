import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BENCH_FLAGS, BenchCommandSchema } from "../../src/cli/bench-command.js";
import { generateArith } from "../../src/tasks/arith.js";
import { runCli } from "../helpers/cli.js";

describe("pacore bench", () => {
  it("every schema key has a flag and every flag a schema key", () => {
    assert.deepEqual(Object.keys(BENCH_FLAGS).sort(), Object.keys(BenchCommandSchema.shape).sort());
  });

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
    assert.ok(report.accuracy >= 0 && report.accuracy <= 1);
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
      report.problems.map((p: { id: string; expected: string }) => [p.id, p.expected]),
      expected.map((p) => [p.id, p.answer]),
      "the same seed draws the same held-out problems",
    );
  });

  it("bad flags exit non-zero with one line", async () => {
    const { code, stderr } = await runCli(["bench", "--task", "chess"]);
    assert.equal(code, 2);
    assert.match(stderr, /--task/);
  });
});
