import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
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

  describe("--data", () => {
    const dir = mkdtempSync(join(tmpdir(), "pacore-bench-cli-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const data = join(dir, "math.jsonl");
    writeFileSync(
      data,
      `${Array.from({ length: 6 }, (_, i) => JSON.stringify({ unique_id: `u${i}`, problem: `What is ${i + 2}*${i + 5}?`, answer: String((i + 2) * (i + 5)) })).join("\n")}\n`,
    );
    const flags = ["bench", "--backend", "simulated", "--data", data, "--k", "3", "--seed", "2"];

    it("runs a data file with repeats, writes --out, and a rerun reuses every problem run", async () => {
      const out = join(dir, "out");
      const first = await runCli([...flags, "--repeats", "2", "--out", out, "--json"]);
      assert.equal(first.code, 0, first.stderr);
      const report = JSON.parse(first.stdout);
      assert.equal(report.shape, "math");
      assert.deepEqual([report.n, report.repeats, report.runs], [6, 2, 12]);
      assert.deepEqual(Object.keys(report.passAtK), ["1", "2"]);
      assert.equal(report.work.calls, 12 * 4);
      const lines = readFileSync(join(out, "problems.jsonl"), "utf8").trim().split("\n");
      assert.equal(lines.length, 12);
      assert.deepEqual(Object.keys(JSON.parse(lines[0])).slice(0, 6), [
        "id",
        "repeat",
        "seed",
        "groundTruth",
        "answer",
        "correct",
      ]);
      const again = await runCli([...flags, "--repeats", "2", "--out", out]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /accuracy \d\.\d{3} ± \d\.\d{3} \(SE across problems; ± /);
      assert.match(again.stdout, /0 trajectories generated, 12 problem runs reused/);
      const other = await runCli([...flags, "--repeats", "3", "--out", out]);
      assert.equal(other.code, 2, other.stderr);
      assert.match(other.stderr, /another config \(differing: repeats\)/);
    });

    it("a malformed line exits 2 naming the file and line, before any call", async () => {
      const broken = join(dir, "broken.jsonl");
      writeFileSync(broken, '{"problem": "What is 1+1?", "answer": "2"}\n{"problem": oops}\n');
      const { code, stderr } = await runCli(["bench", "--backend", "simulated", "--data", broken]);
      assert.equal(code, 2);
      assert.match(stderr, /broken\.jsonl line 2: not valid JSON/);
    });

    it("--task and --data together exit 2", async () => {
      const { code, stderr } = await runCli([...flags, "--task", "arith"]);
      assert.equal(code, 2);
      assert.match(stderr, /either `--task` or `--data`/);
    });
  });
});
