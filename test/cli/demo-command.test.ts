import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEMO_FLAGS, DemoCommandSchema } from "../../src/cli/demo-command.js";
import { runCli } from "../helpers/cli.js";

describe("pacore demo", () => {
  it("every schema key has a flag and every flag a schema key", () => {
    assert.deepEqual(Object.keys(DEMO_FLAGS).sort(), Object.keys(DemoCommandSchema.shape).sort());
  });

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
    for (const row of report.rows) {
      assert.ok(row.accuracy >= 0 && row.accuracy <= 1);
      assert.ok(row.effectiveTokensPerProblem > 0);
    }
  });
});
