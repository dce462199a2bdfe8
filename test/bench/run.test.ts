import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { functionBackend } from "../../src/backends/function/index.js";
import { simulatedBackend } from "../../src/backends/simulated/index.js";
import { type BenchmarkSummary, repeatSeed, runBenchmark } from "../../src/bench/run.js";
import { hashSeed } from "../../src/common/random.js";
import { gradedProblem } from "../../src/tasks/problem.js";
import { pacore } from "../../strategies/pacore.js";
import { single } from "../../strategies/single.js";
import { type CliResult, startNode } from "../helpers/cli.js";

const dir = mkdtempSync(join(tmpdir(), "pacore-bench-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const close = (actual: number | null, expected: number, what: string) =>
  assert.ok(
    actual !== null && Math.abs(actual - expected) < 1e-12,
    `${what}: expected ${expected}, got ${actual}`,
  );

/** The same summary, timing and this invocation's work aside. */
function results(summary: BenchmarkSummary) {
  const { elapsedMs, timing, work, problems, ...rest } = summary;
  return { ...rest, problems: problems.map(({ elapsedMs: _, ...run }) => run) };
}

describe("runBenchmark", () => {
  it("accuracy, both standard errors, pass@k, maj@k and mean@k on a hand-computed table", async () => {
    // Answers by problem and repeat (one trajectory per run, run one at a time, in order).
    const table: Record<string, string[]> = {
      p1: ["7", "5", "7", "5"], // truth 5: wrong, right, wrong, right
      p2: ["1", "2", "1", "3"], // truth 9: all wrong
      p3: ["4", "4", "4", "4"], // truth 4: all right
    };
    const truths: Record<string, string> = { p1: "5", p2: "9", p3: "4" };
    const calls: Record<string, number> = { p1: 0, p2: 0, p3: 0 };
    const backend = functionBackend(({ messages }) => {
      const id = String(messages.at(-1)?.content).slice(0, 2);
      return `<think>working</think>The answer is ${table[id][calls[id]++]}.`;
    });
    const problems = Object.keys(table).map((id) => gradedProblem(id, `${id}: what?`, truths[id]));
    const summary = await runBenchmark({
      backend,
      strategy: single(),
      problems,
      repeats: 4,
      problemConcurrency: 1,
      options: { seed: 3, concurrency: 1 },
    });
    assert.deepEqual(
      summary.problems.map((run) => [run.id, run.repeat, run.answer, run.correct]),
      Object.keys(table).flatMap((id) =>
        table[id].map((answer, repeat) => [id, repeat, answer, answer === truths[id]]),
      ),
    );
    assert.deepEqual(
      summary.problems.slice(0, 4).map((run) => run.seed),
      [3, hashSeed(3, "repeat", 1), hashSeed(3, "repeat", 2), hashSeed(3, "repeat", 3)],
      "repeat 0 runs under the seed itself, later repeats under hashes of it",
    );
    assert.equal(repeatSeed(3, 2), hashSeed(3, "repeat", 2));
    // Per-problem means 0.5, 0, 1.
    close(summary.accuracy, 0.5, "accuracy");
    close(summary.accuracyStandardError, 0.5 / Math.sqrt(3), "SE across problems");
    // Per-repeat accuracies 1/3, 2/3, 1/3, 2/3: sd √(1/27), over √4.
    close(summary.accuracyStandardErrorOverRepeats, Math.sqrt(1 / 27) / 2, "SE over repeats");
    assert.deepEqual(Object.keys(summary.passAtK), ["1", "2", "4"]);
    close(summary.passAtK["1"], 0.5, "pass@1");
    close(summary.passAtK["2"], (1 - 1 / 6 + 0 + 1) / 3, "pass@2"); // p1: 1 − C(2,2)/C(4,2)
    close(summary.passAtK["4"], 2 / 3, "pass@4");
    // maj@k: p1 votes 7 first (ties go to the earliest), p2 never right, p3 always.
    close(summary.majAtK["1"], 1 / 3, "maj@1");
    close(summary.majAtK["2"], 1 / 3, "maj@2");
    close(summary.majAtK["4"], 1 / 3, "maj@4");
    close(summary.meanAtK["1"], 1 / 3, "mean@1");
    close(summary.meanAtK["2"], 0.5, "mean@2");
    close(summary.meanAtK["4"], 0.5, "mean@4");
    assert.equal(summary.correct, 6);
    assert.equal(summary.answeredRate, 1);
    assert.equal(summary.runs, 12);
    assert.equal(summary.work.calls, 12);
    assert.equal(summary.tokens.completion.mean, summary.usage.completionTokens / 12);
  });

  it("per round: the share of messages graded right and the share agreeing with the plurality", async () => {
    let round1 = 0;
    const backend = functionBackend(({ messages }) => {
      const text = String(messages.at(-1)?.content);
      if (/Reference/i.test(text)) return "<think>reading</think>The answer is 5.";
      return `<think>solving</think>The answer is ${["5", "5", "6"][round1++ % 3]}.`;
    });
    const summary = await runBenchmark({
      backend,
      strategy: pacore({ k: [3] }),
      problems: [gradedProblem("q", "What is 2+3?", "5")],
    });
    assert.deepEqual(summary.problems[0].rounds, [
      { round: 1, k: 3, messages: 3, correct: 2, answered: 3, agreeing: 2 },
      { round: 2, k: 1, messages: 1, correct: 1, answered: 1, agreeing: 1 },
    ]);
    close(summary.rounds[0].accuracy, 2 / 3, "round 1 accuracy");
    close(summary.rounds[0].agreement, 2 / 3, "round 1 agreement");
    close(summary.rounds[1].accuracy, 1, "round 2 accuracy");
    assert.equal(summary.accuracy, 1);
  });

  it("--out refuses another config and names the differing keys", async () => {
    const out = join(dir, "refuse");
    const problems = [gradedProblem("a", "What is 1+1?", "2")];
    const backend = simulatedBackend();
    await runBenchmark({ backend, strategy: single(), problems, out, options: { seed: 1 } });
    assert.ok(existsSync(join(out, "summary.json")));
    assert.ok(existsSync(join(out, "config.json")));
    await assert.rejects(
      runBenchmark({
        backend,
        strategy: pacore({ k: [2] }),
        problems,
        out,
        options: { seed: 2, temperature: 0.5 },
      }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, "PACORE_ERR_CONFIG");
        assert.match(
          error.message,
          /another config \(differing: options\.seed, options\.temperature, plan, strategy\)\. Fix: /,
        );
        return true;
      },
    );
    const again = await runBenchmark({
      backend,
      strategy: single(),
      problems,
      out,
      options: { seed: 1, concurrency: 3 },
    });
    assert.deepEqual(again.work, { calls: 0, resumed: 0, reused: 1 }, "concurrency is not config");
  });

  it("a bench killed with SIGKILL and started again regenerates nothing that finished and ends as an uninterrupted run", async () => {
    const data = join(dir, "arith.jsonl");
    writeFileSync(
      data,
      Array.from({ length: 20 }, (_, i) =>
        JSON.stringify({
          id: `p${i}`,
          problem: `What is ${i + 3}*${i + 7}-${i}?`,
          answer: String((i + 3) * (i + 7) - i),
        }),
      ).join("\n"),
    );
    const fresh = await runChild(data, join(dir, "fresh"), 0);
    assert.equal(fresh.code, 0, fresh.stderr);
    const uninterrupted: BenchmarkSummary = JSON.parse(fresh.stdout);
    assert.equal(uninterrupted.runs, 40);
    assert.equal(uninterrupted.work.calls, 40 * 5, "pacore [4]: 5 trajectories a run");

    const out = join(dir, "killed");
    const killed = await runChild(data, out, 40, async () => {
      // Kill once some problem runs are written and others are under way.
      await waitFor(() => lines(join(out, "problems.jsonl")) >= 8);
    });
    assert.equal(killed.signal, "SIGKILL");
    const writtenBefore = lines(join(out, "problems.jsonl"));
    const trajectoriesBefore = readdirSync(join(out, "logs")).reduce(
      (sum, name) =>
        sum +
        readFileSync(join(out, "logs", name), "utf8")
          .split("\n")
          .filter((line) => line.includes('"type":"trajectory"')).length,
      0,
    );
    assert.ok(
      writtenBefore >= 8 && writtenBefore < 40,
      `${writtenBefore} runs written before the kill`,
    );

    const resumed = await runChild(data, out, 0);
    assert.equal(resumed.code, 0, resumed.stderr);
    const summary: BenchmarkSummary = JSON.parse(resumed.stdout);
    console.log(
      `killed after ${writtenBefore} of 40 problem runs, ${trajectoriesBefore} trajectories logged; rerun generated ${summary.work.calls}, resumed ${summary.work.resumed} from logs, reused ${summary.work.reused} runs; uninterrupted: ${uninterrupted.work.calls}`,
    );
    assert.ok(summary.work.reused >= writtenBefore);
    assert.equal(
      summary.work.calls + trajectoriesBefore,
      uninterrupted.work.calls,
      "every trajectory finished before the kill is reused, none generated twice",
    );
    assert.deepEqual(results(summary), results(uninterrupted));
    assert.deepEqual(
      JSON.parse(readFileSync(join(out, "summary.json"), "utf8")).accuracy,
      uninterrupted.accuracy,
    );
  });
});

const CHILD = fileURLToPath(new URL("./helpers/bench-child.ts", import.meta.url));

function lines(path: string): number {
  if (!existsSync(path)) return 0;
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "").length;
}

async function waitFor(condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function runChild(
  data: string,
  out: string,
  latencyMs: number,
  killWhen?: () => Promise<void>,
): Promise<CliResult> {
  const { child, done } = startNode(["--import", "tsx", CHILD, data, out, String(latencyMs)]);
  const killed = killWhen?.().finally(() => child.kill("SIGKILL"));
  const [result] = await Promise.all([done, killed]);
  return result;
}
