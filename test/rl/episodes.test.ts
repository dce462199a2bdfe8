import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { functionBackend } from "../../src/backends/function/index.js";
import {
  createEpisodeRecorder,
  type Episode,
  episodeWriter,
  mathReward,
} from "../../src/rl/index.js";
import { pacore } from "../../strategies/pacore.js";

/** Round 1 answers 4 or 5 by seed; a synthesis round answers 4. */
const backend = functionBackend(
  ({ messages, seed }) => {
    const text = String(messages.at(-1)?.content);
    const answer = text.includes("Reference") ? 4 : seed % 2 === 0 ? 4 : 5;
    return {
      content: `The answer is \\boxed{${answer}}.`,
      tokenIds: [answer, 2],
      logprobs: [-0.5, -0.1],
    };
  },
  { model: "toy", maxSamplesPerCall: 4 },
);

test("episodes carry prompt, graded references, response, token ids, log-probs, reward and run facts", async () => {
  const episodes: Episode[] = [];
  const recorder = createEpisodeRecorder({
    reward: mathReward(),
    onEpisode: (e) => void episodes.push(e),
  });
  const result = await recorder.run(
    {
      backend,
      strategy: pacore({ k: [4] }),
      problem: "What is 2+2?",
      options: { seed: 3, temperature: 1, logprobs: true },
    },
    { problemId: "p1", groundTruth: "4" },
  );
  assert.equal(episodes.length, 5);
  const round1 = episodes.filter((e) => e.round === 1);
  const synthesis = episodes.find((e) => e.round === 2)!;
  assert.equal(round1.length, 4);
  assert.deepEqual(round1[0].references, []);
  assert.deepEqual(
    synthesis.references.map((r) => r.text),
    result.rounds[0].messages,
  );
  for (const reference of synthesis.references) {
    assert.equal(reference.correct, reference.text.includes("{4}"));
  }
  assert.deepEqual(synthesis.prompt, result.rounds[1].prompt);
  assert.equal(synthesis.response, "The answer is \\boxed{4}.");
  assert.deepEqual(synthesis.tokenIds, [4, 2]);
  assert.deepEqual(synthesis.logprobs, [-0.5, -0.1]);
  assert.deepEqual(synthesis.reward, { score: 1, parts: { math: 1 } });
  assert.equal(synthesis.k, 1);
  assert.equal(round1[0].k, 4);
  assert.equal(synthesis.rounds, 2);
  assert.equal(synthesis.backend, "function");
  assert.equal(synthesis.model, "toy");
  assert.deepEqual(synthesis.sampling, { temperature: 1 });
  assert.equal(synthesis.runSeed, 3);
  assert.equal(synthesis.seed, result.rounds[1].trajectories[0].seed);
  assert.equal(synthesis.problemId, "p1");
  for (const episode of round1) {
    assert.equal(episode.reward?.score, episode.response.includes("{4}") ? 1 : 0);
  }
});

test("backpressure: a slow hook holds back the next backend calls; the run ends after the last episode", async () => {
  let calls = 0;
  let handled = 0;
  let most = 0;
  const counted = functionBackend(() => {
    calls++;
    most = Math.max(most, calls - handled);
    return "<think>x</think>The answer is 4.";
  });
  const recorder = createEpisodeRecorder({
    maxPending: 2,
    onEpisode: async () => {
      await new Promise((resolve) => setTimeout(resolve, 15));
      handled++;
    },
  });
  const strategy = { ...pacore({ k: [1, 1, 1, 1, 1] }) };
  await recorder.run({ backend: counted, strategy, problem: "What is 2+2?" });
  assert.equal(handled, 6, "every episode handled before run() resolved");
  // Calls wait while 2 episodes are pending: never more than 2 unhandled (+1 in flight).
  assert.ok(most <= 3, `at most 3 calls ahead of the hook, got ${most}`);
});

test("a hook that throws stops the run with its error", async () => {
  const recorder = createEpisodeRecorder({
    maxPending: 1,
    onEpisode: () => {
      throw new Error("disk full");
    },
  });
  await assert.rejects(
    recorder.run({
      backend,
      strategy: pacore({ k: [2, 2] }),
      problem: "What is 2+2?",
      options: { retries: 0 },
    }),
    /disk full/,
  );
});

test("episodeWriter appends one JSON line per episode as it goes", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "pacore-episodes-")), "sub", "episodes.jsonl");
  const writer = episodeWriter(path);
  let linesSeen = 0;
  const recorder = createEpisodeRecorder({
    rounds: "synthesis",
    onEpisode: (episode) => {
      writer.write(episode);
      linesSeen = readFileSync(path, "utf8").split("\n").filter(Boolean).length;
    },
  });
  await recorder.run(
    { backend, strategy: pacore({ k: [3, 2] }), problem: "What is 2+2?" },
    { groundTruth: "4" },
  );
  writer.close();
  const lines = readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  assert.equal(lines.length, 3); // rounds 2 and 3 only: 2 + 1
  assert.equal(linesSeen, 3, "each line is on disk when the hook returns");
  assert.ok(lines.every((line) => line.round >= 2 && line.references.length > 0));
});
