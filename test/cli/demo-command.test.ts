import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runCli } from "../helpers/cli.js";

describe("pacore demo", () => {
  it("compares single, self-consistency at equal trajectories, and pacore", async () => {
    const { code, stdout, stderr } = await runCli([
      "demo",
      "--backend",
      "simulated",
      "--limit",
      "20",
      "--k",
      "4,2",
      "--json",
    ]);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout);
    assert.equal(report.n, 20);
    assert.deepEqual(
      report.rows.map((row: { strategy: string; plan: number[] }) => [row.strategy, row.plan]),
      [
        ["single", [1]],
        ["self-consistency", [7]],
        ["pacore", [4, 2, 1]],
      ],
    );
    // The simulator is seeded: the numbers are exact.
    assert.deepEqual(
      report.rows.map((row: { accuracy: number; effectiveTokensPerProblem: number }) => [
        row.accuracy,
        row.effectiveTokensPerProblem,
      ]),
      [
        [0.7, 270.45],
        [0.95, 1741.55],
        [1, 1774],
      ],
    );
  });

  it("--base-url reaches the openai backend", async () => {
    const { code, stderr } = await runCli([
      "demo",
      "--backend",
      "openai",
      "--base-url",
      "http://127.0.0.1:1/v1",
      "--model",
      "m",
      "--limit",
      "1",
    ]);
    assert.equal(code, 1, "every problem failed: nothing was measured");
    assert.doesNotMatch(stderr, /needs `--base-url/);
    assert.match(stderr, /all 3 problems failed; .*Cannot reach http:\/\/127\.0\.0\.1:1\/v1/);
  });
});
