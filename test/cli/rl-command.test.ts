import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parquetReadObjects } from "hyparquet";
import { generateArith } from "../../src/tasks/arith.js";
import { paperTemplate } from "../../strategies/synthesis-template.js";
import { runCli } from "../helpers/cli.js";

const lines = (path: string) =>
  readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line));

test("pacore rl build --task arith --limit 100 --seed 1 writes every format, field by field", async () => {
  const out = mkdtempSync(join(tmpdir(), "pacore-rl-build-"));
  // The simulated reasoner is right 55% of the time: the band is widened so that problems pass.
  const args = [
    "rl",
    "build",
    "--task",
    "arith",
    "--limit",
    "100",
    "--seed",
    "1",
    "--out",
    out,
    "--backend",
    "simulated",
    "--band-max",
    "0.7",
    "--json",
  ];
  const first = await runCli(args, { timeoutMs: 120_000 });
  assert.equal(first.code, 0, first.stderr);
  const summary = JSON.parse(first.stdout);
  assert.equal(summary.problems, 100);
  assert.equal(summary.generated, 2400);
  assert.ok(summary.records > 10 && summary.records < 100, `records ${summary.records}`);
  assert.equal(summary.records, summary.inBand);

  const problems = new Map(
    generateArith({ seed: 1, count: 100, split: "train" }).map((p) => [p.prompt, p]),
  );
  const pacore = lines(join(out, "pacore-train.jsonl"));
  const openrlhf = lines(join(out, "pacore-train.openrlhf.jsonl"));
  const trl = lines(join(out, "pacore-train.trl.jsonl"));
  const bytes = readFileSync(join(out, "pacore-train.verl.parquet"));
  const verl = await parquetReadObjects({
    file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
  });
  assert.equal(pacore.length, summary.records);
  assert.equal(openrlhf.length, summary.records);
  assert.equal(trl.length, summary.records);
  assert.equal(verl.length, summary.records);

  for (let i = 0; i < pacore.length; i++) {
    // PaCoRe release format: exactly conversation, responses, ground_truth.
    const row = pacore[i];
    assert.deepEqual(Object.keys(row), ["conversation", "responses", "ground_truth"]);
    assert.equal(row.conversation.length, 1);
    assert.equal(row.conversation[0].role, "user");
    const problem = problems.get(row.conversation[0].content);
    assert.ok(problem, `a train-split arith problem: ${row.conversation[0].content}`);
    assert.equal(row.ground_truth, problem.answer);
    assert.ok(
      row.responses.length >= 16 && row.responses.length <= 24,
      `|M| = ${row.responses.length}`,
    );
    assert.ok(
      row.responses.every((message: unknown) => typeof message === "string" && message !== ""),
    );
    const prompt = [{ role: "user", content: paperTemplate(problem.prompt, row.responses) }];

    // verl: data_source, prompt (chat), ability, reward_model { style, ground_truth }, extra_info.
    const v = verl[i];
    assert.deepEqual(Object.keys(v), [
      "data_source",
      "prompt",
      "ability",
      "reward_model",
      "extra_info",
    ]);
    assert.equal(v.data_source, "pacore/arith");
    assert.deepEqual(v.prompt, prompt);
    assert.equal(v.ability, "math");
    assert.deepEqual(v.reward_model, { style: "rule", ground_truth: problem.answer });
    assert.equal(v.extra_info.split, "train");
    assert.equal(v.extra_info.index, BigInt(i));
    assert.equal(v.extra_info.problem_id, problem.id);
    assert.equal(v.extra_info.references, BigInt(row.responses.length));
    assert.ok(v.extra_info.message_accuracy > 0 && v.extra_info.message_accuracy < 0.7);

    // OpenRLHF: --input_key input (chat, --apply_chat_template), --label_key label.
    assert.deepEqual(openrlhf[i], {
      input: prompt,
      label: problem.answer,
      datasource: "pacore/arith",
    });
    // TRL: prompt (conversational) and the columns reward functions receive as kwargs.
    assert.deepEqual(trl[i], {
      prompt,
      ground_truth: problem.answer,
      ability: "math",
      data_source: "pacore/arith",
    });
  }

  // A rerun resumes from the cache: nothing generated, the same records.
  const again = await runCli(args, { timeoutMs: 120_000 });
  assert.equal(again.code, 0, again.stderr);
  const second = JSON.parse(again.stdout);
  assert.equal(second.generated, 0);
  assert.equal(second.resumed, 2400);
  assert.deepEqual(lines(join(out, "pacore-train.jsonl")), pacore);
});

test("pacore rl build: the paper's default band keeps none of the simulated reasoner's easy problems, and says so", async () => {
  const out = mkdtempSync(join(tmpdir(), "pacore-rl-band-"));
  const result = await runCli([
    "rl",
    "build",
    "--limit",
    "5",
    "--seed",
    "2",
    "--out",
    out,
    "--backend",
    "simulated",
    "--samples",
    "8",
    "--set-size-min",
    "4",
    "--set-size-max",
    "8",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /5 problems × 8 samples .* 0 in the band \(0\.000, 0\.375\), 0 records/,
  );
  assert.equal(readFileSync(join(out, "pacore-train.jsonl"), "utf8"), "");
});

test("pacore rl build: bad input exits 2 naming the fix", async () => {
  const out = mkdtempSync(join(tmpdir(), "pacore-rl-bad-"));
  const sizes = await runCli([
    "rl",
    "build",
    "--out",
    out,
    "--backend",
    "simulated",
    "--samples",
    "8",
  ]);
  assert.equal(sizes.code, 2);
  assert.match(sizes.stderr, /set-size-max/);
  const both = await runCli(["rl", "build", "--out", out, "--task", "arith", "--data", "x.jsonl"]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /drop one/);
  const sub = await runCli(["rl", "train"]);
  assert.equal(sub.code, 2);
  assert.match(sub.stderr, /rl build.*serve-rewards/);
});
