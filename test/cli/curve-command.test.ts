/**
 * `pacore curve` as a user runs it: the four files at the top of `--out`, a rerun that generates
 * nothing, `--data` files, and bad input (a grid entry, a flag for the other source) exiting 2.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CSV_COLUMNS } from "../../src/curve/report.js";
import { runCli } from "../helpers/cli.js";

const temp = () => mkdtempSync(join(tmpdir(), "pacore-curve-cli-"));
const GRID = "single;self-consistency:2,4;pacore:2;sequential:2";

describe("pacore curve", () => {
  it("writes curve.csv, curve.jsonl, curve.md and curve.svg; the same command again generates nothing", async () => {
    const out = join(temp(), "out");
    const args = ["curve", "--backend", "simulated", "--limit", "8", "--seed", "3"];
    const first = await runCli([...args, "--grid", GRID, "--out", out]);
    assert.equal(first.code, 0, first.stderr);
    for (const file of ["curve.csv", "curve.jsonl", "curve.md", "curve.svg", "cache.jsonl"]) {
      assert.ok(existsSync(join(out, file)), file);
    }
    const csv = readFileSync(join(out, "curve.csv"), "utf8").trim().split("\n");
    assert.equal(csv[0], CSV_COLUMNS.join(","));
    assert.deepEqual(
      csv.slice(1).map((line) => line.split(",")[3]),
      ["single", "self-consistency:2", "self-consistency:4", "pacore:2", "sequential:2"],
    );
    const rows = readFileSync(join(out, "curve.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    assert.equal(rows.length, 5);
    for (const row of rows) {
      assert.equal(row.backend, "simulated");
      assert.equal(row.model, "simulated-reasoner");
      assert.equal(row.problems, 8);
      for (const key of ["accuracy", "standardError", "effectiveTokens", "calls", "wallSeconds"]) {
        assert.equal(typeof row[key], "number", key);
      }
    }
    // 8 problems: round 1 is 4 shared samples; pacore:2 adds 1 final, sequential:2 two rounds.
    assert.match(
      first.stdout,
      /56 backend calls \(trajectories\) for the sweep against 104 for its points run alone/,
    );
    assert.match(readFileSync(join(out, "curve.md"), "utf8"), /\| `pacore:2` \| \[2,1\] \|/);
    assert.match(
      readFileSync(join(out, "curve.svg"), "utf8"),
      /^<svg[\s\S]*Effective tokens per problem \(log scale\)/,
    );

    const again = await runCli([...args, "--grid", GRID, "--out", out]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /this invocation generated 0 and reused 104/);
    const strip = (text: string) => text.replace(/,[^,\n]*$/gm, "");
    assert.equal(strip(readFileSync(join(out, "curve.csv"), "utf8")), strip(`${csv.join("\n")}\n`));
  });

  it("`pacore curve --help` lists --grid, --data, --repeats and the engine flags, not --k or --strategy", async () => {
    const { code, stdout } = await runCli(["curve", "--help"]);
    assert.equal(code, 0);
    assert.match(stdout, /^Usage:\n {2}pacore curve /);
    for (const flag of [
      "--grid GRID",
      "--data FILE",
      "--repeats N",
      "--out DIR",
      "--seed N",
      "--context N",
    ]) {
      assert.ok(stdout.includes(flag), flag);
    }
    assert.doesNotMatch(stdout, /--k |--strategy |--population /);
  });

  it("reads a --data file as pacore bench does, naming it in the rows", async () => {
    const dir = temp();
    const data = join(dir, "mini.jsonl");
    writeFileSync(
      data,
      `${[3, 4, 5].map((n) => JSON.stringify({ problem: `What is ${n}+${n}?`, answer: String(2 * n) })).join("\n")}\n`,
    );
    const out = join(dir, "out");
    const { code, stderr } = await runCli([
      "curve",
      "--backend",
      "simulated",
      "--data",
      data,
      "--grid",
      "single;pacore:2",
      "--out",
      out,
    ]);
    assert.equal(code, 0, stderr);
    const [row] = readFileSync(join(out, "curve.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(row.task, "mini.jsonl");
    assert.equal(row.problems, 3);
  });

  for (const [name, args, message] of [
    ["a bad grid entry", ["--grid", "single;pacore:4,x"], /`--grid` entry `pacore:4,x`/],
    ["an unknown strategy", ["--grid", "majority:4"], /no strategy `majority`/],
    ["--k, which the grid replaces", ["--k", "4"], /--k/],
    ["a --data field without --data", ["--field-id", "id"], /`--field-id` is for `--data FILE`/],
  ] as const) {
    it(`exits 2 before any call on ${name}, naming it`, async () => {
      const out = join(temp(), "out");
      const { code, stderr } = await runCli([
        "curve",
        "--backend",
        "simulated",
        ...args,
        "--out",
        out,
      ]);
      assert.equal(code, 2, stderr);
      assert.match(stderr, message);
      assert.ok(!existsSync(out), "nothing was written");
    });
  }
});
