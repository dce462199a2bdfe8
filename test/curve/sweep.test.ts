/**
 * The sweep: points share trajectories through the cache (the sweep's backend calls against the
 * sum of its points run alone), a cached replay equals each point run afresh, and a sweep killed
 * with kill -9 and started again regenerates nothing it finished and writes the same CSV.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { simulatedBackend } from "../../src/backends/simulated/index.js";
import { createStrategy } from "../../src/cli/strategies.js";
import { curveSvg } from "../../src/curve/chart.js";
import { parseGrid } from "../../src/curve/grid.js";
import { CSV_COLUMNS, curveCsv, curveMarkdown } from "../../src/curve/report.js";
import { type CurveRow, runCurve } from "../../src/curve/sweep.js";
import type { ModelBackend } from "../../src/spec/backend.js";
import { arithBenchmark } from "../../src/tasks/problem.js";

const CHILD = fileURLToPath(new URL("./curve-child.ts", import.meta.url));

function counted(backend: ModelBackend) {
  const counter = { samples: 0 };
  const wrapped: ModelBackend = {
    ...backend,
    generate: async (request) => {
      const result = await backend.generate(request);
      counter.samples += result.completions.length;
      return result;
    },
  };
  return { backend: wrapped, counter };
}

const problems = arithBenchmark({ seed: 2, count: 10, difficulty: 3 });

const sweepOf = (backend: ModelBackend, grid: string, cachePath?: string) =>
  runCurve({
    backend,
    points: parseGrid(grid),
    strategyOf: (point) => createStrategy({ ...point, template: "default" }),
    problems,
    task: "arith",
    options: { seed: 4, temperature: 1 },
    repeats: 2,
    ...(cachePath !== undefined && { cachePath }),
  });

/** A row without what depends on the invocation (timing, what was generated now). */
const result = ({ wallSeconds, generated, cached, calls, ...row }: CurveRow) => row;

describe("runCurve", () => {
  const GRID = "single;self-consistency:4,8;pacore:4;pacore:8;pacore:8,2;sequential:4";

  it("pays once per trajectory: the backend generates the sweep's calls, fewer than its points alone", async () => {
    const { backend, counter } = counted(simulatedBackend({ accuracy: 0.5 }));
    const { rows, sweep } = await sweepOf(backend, GRID);
    assert.equal(counter.samples, sweep.calls);
    assert.equal(sweep.generated, sweep.calls);
    assert.equal(
      sweep.callsAlone,
      rows.reduce((sum, row) => sum + row.trajectories, 0),
    );
    // 10 problems × 2 repeats; round 1 is shared by every point (8 samples); pacore:4 adds its
    // final, pacore:8 its final (round 2 index 0 of pacore:8,2), pacore:8,2 one more round-2
    // trajectory and its final; sequential:4 adds its four later rounds.
    assert.equal(sweep.calls, 20 * (8 + 1 + 1 + 2 + 4));
    assert.equal(sweep.callsAlone, 20 * (1 + 4 + 8 + 5 + 9 + 11 + 5));
    assert.deepEqual(
      rows.map((row) => row.calls),
      [20, 60, 80, 20, 20, 40, 80],
    );

    // Each point run alone, afresh: the backend pays its `trajectories`, and the results match.
    for (const row of rows) {
      const alone = counted(simulatedBackend({ accuracy: 0.5 }));
      const {
        rows: [fresh],
      } = await sweepOf(alone.backend, row.point);
      assert.equal(alone.counter.samples, row.trajectories, row.point);
      assert.deepEqual(result(fresh), result(row), row.point);
    }
  });

  it("reports accuracy as the mean over problems of the repeats' mean, with its standard error", async () => {
    const { rows } = await sweepOf(simulatedBackend({ accuracy: 0.5 }), "single");
    const [row] = rows;
    // Two repeats of 10 problems: per-problem scores are 0, 0.5 or 1.
    assert.equal(row.problems, 10);
    assert.equal(row.repeats, 2);
    assert.ok(row.accuracy > 0 && row.accuracy < 1, `accuracy ${row.accuracy}`);
    assert.ok(row.standardError > 0);
    assert.ok(Math.abs(Math.round(row.accuracy * 20) - row.accuracy * 20) < 1e-9);
  });

  it("writes a CSV, a table and an SVG chart with axes, title, legend and error bars", async () => {
    const { rows, sweep } = await sweepOf(simulatedBackend({ accuracy: 0.5 }), GRID);
    const csv = curveCsv(rows).trim().split("\n");
    assert.equal(csv[0], CSV_COLUMNS.join(","));
    assert.equal(csv.length, rows.length + 1);
    assert.match(csv[6], /^simulated,simulated-reasoner,arith,"pacore:8,2",pacore,"8,2,1",10,2,4,/);
    const table = curveMarkdown(rows, sweep);
    assert.match(table, /\| `pacore:8,2` \| \[8,2,1\] \|/);
    assert.match(
      table,
      /320 backend calls \(trajectories\) for the sweep against 860 for its points run alone/,
    );
    const svg = await curveSvg(rows);
    assert.match(svg, /^<svg/);
    for (const text of [
      "Effective tokens per problem (log scale)",
      "Accuracy",
      "Strategy",
      "self-consistency",
      "sequential",
      "Accuracy against test-time compute: simulated/simulated-reasoner",
      "sc:8",
    ]) {
      assert.ok(svg.includes(text), `the SVG lacks ${text}`);
    }
    // One line per strategy family, a dot, an error bar and a label per point, two axes, a legend.
    const count = (pattern: RegExp) => (svg.match(pattern) ?? []).length;
    assert.equal(count(/aria-roledescription="line mark"/g), 4);
    assert.equal(count(/aria-roledescription="point"/g), rows.length);
    assert.equal(count(/aria-roledescription="errorbar"/g), rows.length);
    assert.equal(count(/aria-roledescription="text mark"/g), rows.length);
    assert.equal(count(/aria-roledescription="axis"/g), 2);
    assert.equal(count(/class="mark-symbol role-legend-symbol"/g), 4);
  });
});

function runChild(out: string, killAfter?: number) {
  return new Promise<{ generated: number; last: string; killed: boolean }>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, out], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let generated = 0;
    let buffer = "";
    let last = "";
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split("\n");
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "generated") generated++;
        else last = line;
        if (killAfter !== undefined && generated >= killAfter) child.kill("SIGKILL");
      }
    });
    child.on("error", reject);
    child.on("close", (_code, signal) =>
      resolve({ generated, last, killed: signal === "SIGKILL" }),
    );
  });
}

const csvWithoutTiming = (out: string) =>
  readFileSync(join(out, "curve.csv"), "utf8")
    .trim()
    .split("\n")
    .map((line) => line.replace(/,[^,]*$/, "")); // wall_s is the last column

describe("a curve killed with kill -9", () => {
  it("started again regenerates no finished trajectory and writes the CSV of an uninterrupted sweep", async () => {
    const whole = mkdtempSync(join(tmpdir(), "pacore-curve-whole-"));
    const uninterrupted = await runChild(whole);
    const totals = JSON.parse(uninterrupted.last);
    assert.equal(uninterrupted.generated, totals.calls);

    const out = mkdtempSync(join(tmpdir(), "pacore-curve-killed-"));
    const first = await runChild(out, Math.floor(totals.calls / 2));
    assert.ok(first.killed, "the child was killed mid-sweep");
    assert.ok(existsSync(join(out, "curve.csv")), "points finished before the kill wrote files");
    // What the cache holds: whole lines, and a last line only if the kill left it whole.
    const lines = readFileSync(join(out, "cache.jsonl"), "utf8").split("\n");
    const last = lines.pop() ?? "";
    const isWhole = (line: string) => {
      try {
        return JSON.parse(line).type === "completion";
      } catch {
        return false;
      }
    };
    const kept = lines.filter((line) => line !== "").length + (isWhole(last) ? 1 : 0);
    assert.ok(kept > 0 && kept < totals.calls, `kept ${kept} of ${totals.calls}`);

    const second = await runChild(out);
    const resumed = JSON.parse(second.last);
    // Everything the first process wrote to the cache is reused, nothing more is generated.
    assert.equal(second.generated, totals.calls - kept);
    assert.equal(resumed.generated, totals.calls - kept);
    assert.equal(resumed.calls, totals.calls);
    assert.equal(resumed.callsAlone, totals.callsAlone);
    assert.deepEqual(csvWithoutTiming(out), csvWithoutTiming(whole));
  });
});
