/**
 * The collector of the PPO loop writes what `models/arith/ppo.py update` reads: per episode the
 * prompt as chat messages, the generated token ids (end token included), one sampled-token
 * log-prob per id, and `reward.score`.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { startNode } from "../../helpers/cli.js";

const MODEL = fileURLToPath(new URL("../../../models/pacore-tiny", import.meta.url));
const SCRIPT = fileURLToPath(new URL("../../../models/arith/ppo-collect.ts", import.meta.url));

test("ppo-collect samples G episodes per prompt with ids, log-probs and rewards, cycling from --offset", async () => {
  const example = JSON.parse(readFileSync(join(MODEL, "synthesis-example.json"), "utf8"));
  const dir = mkdtempSync(join(tmpdir(), "pacore-ppo-collect-"));
  const prompts = join(dir, "prompts.jsonl");
  const row = (truth: string) =>
    JSON.stringify({ prompt: [{ role: "user", content: example.rendered }], ground_truth: truth });
  // The example's references say -420 (twice) and 5; the second row's truth is none of them.
  writeFileSync(prompts, `${row("-420")}\n${row("7")}\n`);
  const out = join(dir, "episodes.jsonl");
  const { done } = startNode(
    [
      "--import",
      "tsx",
      SCRIPT,
      "--model",
      MODEL,
      "--prompts",
      prompts,
      "--samples",
      "4",
      "--seed",
      "1",
      "--offset",
      "1",
      "--limit",
      "2",
      "--out",
      out,
    ],
    { timeoutMs: 60_000 },
  );
  const result = await done;
  assert.equal(result.code, 0, result.stderr);
  const summary = JSON.parse(result.stdout);
  assert.equal(summary.prompts, 2);
  assert.equal(summary.episodes, 8);
  const episodes = readFileSync(out, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line));
  assert.equal(episodes.length, 8);
  const config = JSON.parse(readFileSync(join(MODEL, "config.json"), "utf8"));
  for (const episode of episodes) {
    assert.deepEqual(episode.prompt, [{ role: "user", content: example.rendered }]);
    assert.ok(episode.tokenIds.length > 0);
    assert.equal(episode.tokenIds.at(-1), config.eos_token_id);
    assert.equal(episode.logprobs.length, episode.tokenIds.length);
    assert.ok(episode.logprobs.every((logprob: number) => logprob <= 0));
    assert.ok(episode.reward.score === 0 || episode.reward.score === 1);
  }
  // --offset 1 wraps: the "7" row first, then the "-420" row; nothing answers 7.
  const byTruth = (truth: string) => episodes.filter((episode) => episode.groundTruth === truth);
  assert.equal(byTruth("7").length, 4);
  assert.ok(byTruth("7").every((episode) => episode.reward.score === 0));
  assert.equal(byTruth("-420").length, 4);
  const meanReward = episodes.reduce((sum, episode) => sum + episode.reward.score, 0) / 8;
  assert.ok(Math.abs(summary.meanReward - meanReward) < 1e-4);
});
