import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { flagName } from "../../src/cli/flags.js";
import { RUN_FLAGS } from "../../src/cli/run-command.js";
import { runCli } from "../helpers/cli.js";

describe("pacore run: flags", () => {
  it("has the flags of the documented contract", () => {
    const flags = Object.keys(RUN_FLAGS).map(flagName);
    for (const flag of [
      "file",
      "image",
      "strategy",
      "k",
      "backend",
      "model",
      "base-url",
      "temperature",
      "top-p",
      "top-k",
      "max-tokens",
      "seed",
      "context",
      "concurrency",
      "template",
      "json",
      "system",
    ]) {
      assert.ok(flags.includes(flag), `--${flag} is missing`);
    }
  });

  it("`pacore CMD --help` prints that command's flags; after `--` it is a prompt", async () => {
    for (const command of ["run", "bench", "demo"]) {
      const { code, stdout } = await runCli([command, "--help"]);
      assert.equal(code, 0);
      assert.match(stdout, new RegExp(`^Usage:\n  pacore ${command} `));
      assert.match(stdout, /--seed N/);
    }
    const prompt = await runCli(["run", "--backend", "simulated", "--json", "--", "--help"]);
    assert.equal(prompt.code, 0);
    assert.match(JSON.parse(prompt.stdout).content, /no arithmetic problem/);
  });
});

describe("pacore run: simulated backend", () => {
  it("--k 4,2 --json prints 3 rounds (k 4, 2, 1) and calls = 7", async () => {
    const { code, stdout, stderr } = await runCli([
      "run",
      "--backend",
      "simulated",
      "--strategy",
      "pacore",
      "--k",
      "4,2",
      "--json",
      "What is 17*23+5?",
    ]);
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout);
    assert.equal(result.backend, "simulated");
    assert.equal(result.strategy, "pacore");
    assert.equal(typeof result.model, "string");
    assert.deepEqual(
      result.rounds.map((round: { k: number }) => round.k),
      [4, 2, 1],
    );
    assert.equal(result.calls, 7);
    assert.equal(result.rounds[0].trajectories.length, 4);
    const trajectory = result.rounds[0].trajectories[0];
    for (const key of ["content", "reasoning", "finishReason", "usage", "attempts"]) {
      assert.ok(key in trajectory, `trajectory.${key}`);
    }
    assert.deepEqual(Object.keys(trajectory.usage).sort(), [
      "cachedTokens",
      "completionTokens",
      "promptTokens",
    ]);
    assert.ok(!("error" in trajectory), "error only on a failed trajectory");
    assert.ok(Array.isArray(result.rounds[0].messages));
    assert.equal(
      result.usage.totalTokens,
      result.usage.promptTokens + result.usage.completionTokens,
    );
    assert.equal(typeof result.elapsedMs, "number");
    assert.ok(result.answer === null || typeof result.answer === "string");
    assert.match(result.content, /simulated/i, "simulated outputs say so");
  });

  it("reads the problem from --file and from stdin; the same seed gives the same answer", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pacore-cli-"));
    const file = join(dir, "problem.txt");
    await writeFile(file, "What is (47*8+129)-36*3?");
    const fromFile = await runCli([
      "run",
      "--backend",
      "simulated",
      "--file",
      file,
      "--k",
      "3",
      "--seed",
      "5",
      "--json",
    ]);
    const fromStdin = await runCli(
      ["run", "--backend", "simulated", "--k", "3", "--seed", "5", "--json"],
      {
        stdin: "What is (47*8+129)-36*3?",
      },
    );
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    const a = JSON.parse(fromFile.stdout);
    const b = JSON.parse(fromStdin.stdout);
    assert.deepEqual(a.rounds[0].messages, b.rounds[0].messages);
    assert.equal(a.content, b.content);
  });

  it("prints the final text on stdout and a summary on stderr without --json", async () => {
    const { code, stdout, stderr } = await runCli([
      "run",
      "--backend",
      "simulated",
      "--strategy",
      "single",
      "What is 6*7?",
    ]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /\\boxed\{|answer/i);
    assert.match(stderr, /answer: .* · single \[1\] on simulated/);
  });

  it("bad input: exit 2 and one line that names the fix", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pacore-input-"));
    const broken = join(dir, "broken.jinja");
    await writeFile(broken, "{% for m in %}x");
    const unrenderable = join(dir, "call.jinja");
    await writeFile(unrenderable, "{{ problem.nope() }}");
    const blank = join(dir, "blank.txt");
    await writeFile(blank, " \n\n");
    const cases: [string[], RegExp][] = [
      [["run", ""], /empty prompt/],
      [["run", "  \n "], /empty prompt/],
      [["run", "--file", blank], /`--file .*blank\.txt` is empty/],
      [["run", "--template", broken, "2+2?"], /`--template .*broken\.jinja`: .*does not parse/],
      [
        ["run", "--template", unrenderable, "2+2?"],
        /`--template .*call\.jinja`: .*does not render/,
      ],
      [["run", "--k", "100000", "2+2?"], /cannot fit its context window.*Fix: /],
      [["run", "--k", "4,x", "2+2?"], /--k.*comma-separated list of integers/],
      [["run", "--k", "4,0", "2+2?"], /positive integers|too small/i],
      [["run", "--strategy", "single", "--k", "4", "2+2?"], /takes no `--k`/],
      [["run", "--top-p", "2", "2+2?"], /--top-p/],
      [["run", "--frobnicate", "2+2?"], /frobnicate/],
      [["run", "--backend", "openai", "2+2?"], /--base-url/],
      [["run", "--template", "/no/such/file.jinja", "2+2?"], /--template/],
      [
        ["run", "--context", "512", "--max-tokens", "500", "--k", "8", "2+2?"],
        /cannot fit.*--max-tokens/,
      ],
      [["run"], /Expected a problem/],
    ];
    for (const [args, pattern] of cases) {
      const backend = args.includes("--backend") ? [] : ["--backend", "simulated"];
      const { code, stderr, stdout } = await runCli([...args, ...backend]);
      assert.equal(code, 2, `${args.join(" ")} is bad input: ${stderr}`);
      assert.equal(
        stderr.trim().split("\n").length,
        1,
        `one line for ${args.join(" ")}: ${stderr}`,
      );
      assert.match(stderr, pattern);
      assert.equal(stdout, "");
    }
  });

  it("--min-message-tokens lets a plan fit that the default share refuses", async () => {
    const args = ["run", "--backend", "simulated", "--context", "2048", "--k", "64"];
    const plan = [...args, "--max-tokens", "256", "What is 2+2?"];
    const refused = await runCli(plan);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /64 messages need at least 32 tokens each.*--min-message-tokens/);
    const fits = await runCli([...plan, "--min-message-tokens", "8", "--json"]);
    assert.equal(fits.code, 0, fits.stderr);
    assert.equal(JSON.parse(fits.stdout).answer, "4");
  });

  it("runs every strategy from its flags", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pacore-cli-"));
    const verifier = join(dir, "verifier.mjs");
    await writeFile(verifier, "export default ({ answer }) => (answer === '396' ? 1 : 0);\n");
    const cases: [string[], number[]][] = [
      [["--strategy", "self-consistency", "--k", "5"], [5]],
      [["--strategy", "best-of-n", "--k", "3", "--verifier", verifier], [3]],
      [
        ["--strategy", "sequential", "--k", "1,1"],
        [1, 1, 1],
      ],
      [
        ["--strategy", "rsa", "--population", "4", "--subset", "2", "--steps", "2"],
        [4, 4],
      ],
    ];
    for (const [flags, plan] of cases) {
      const { code, stdout, stderr } = await runCli([
        "run",
        ...flags,
        "--json",
        "What is 17*23+5?",
      ]);
      assert.equal(code, 0, stderr);
      const result = JSON.parse(stdout);
      assert.deepEqual(
        result.rounds.map((round: { k: number }) => round.k),
        plan,
      );
      assert.equal(result.strategy, flags[1]);
    }
  });

  it("--log keeps the finished trajectories; a rerun resumes them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pacore-cli-"));
    const log = join(dir, "run.jsonl");
    const args = [
      "run",
      "--backend",
      "simulated",
      "--k",
      "4,2",
      "--log",
      log,
      "--json",
      "17*23+5?",
    ];
    const first = JSON.parse((await runCli(args)).stdout);
    const second = JSON.parse((await runCli(args)).stdout);
    assert.deepEqual([first.calls, first.resumed], [7, 0]);
    assert.deepEqual([second.calls, second.resumed], [0, 7]);
    assert.equal(second.content, first.content);
    const other = await runCli([
      "run",
      "--backend",
      "simulated",
      "--k",
      "4,2",
      "--seed",
      "9",
      "--log",
      log,
      "2+2?",
    ]);
    assert.equal(other.code, 2, "a log of another run is bad input");
    assert.match(other.stderr, /written by another run/);
  });
});
