/**
 * The pacore half of the on-policy synthesis loop (`models/arith/ppo-loop.sh`): samples G
 * responses to each synthesis prompt of a `pacore rl build` set (its `pacore-train.trl.jsonl`:
 * `prompt` as chat messages, `ground_truth`) on the ONNX backend, through pacore's episode
 * recorder, and writes the episodes (token ids, sampled-token log-probs, the math reward) as JSONL
 * for `ppo.py update`. With `--eval` it only prints the mean reward: the synthesis accuracy of a
 * model on a set of prompts.
 *
 *   node --import tsx models/arith/ppo-collect.ts --model DIR --prompts FILE --samples 8 \
 *     --seed 1 [--limit N] [--offset N] [--out episodes.jsonl] [--temperature 1]
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import pLimit from "p-limit";
import { onnxBackend } from "../../src/backends/onnx/index.js";
import { hashSeed } from "../../src/common/random.js";
import { createEpisodeRecorder, episodeWriter } from "../../src/rl/episodes.js";
import { mathReward } from "../../src/rl/rewards/verifiable.js";
import type { ChatMessage } from "../../src/spec/backend.js";
import { selfConsistency } from "../../strategies/self-consistency.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    prompts: { type: "string" },
    samples: { type: "string", default: "8" },
    seed: { type: "string", default: "0" },
    limit: { type: "string" },
    offset: { type: "string", default: "0" },
    out: { type: "string" },
    temperature: { type: "string", default: "1" },
    // Default: what the window leaves after the prompt (the engine's budget), as in a PaCoRe run.
    "max-tokens": { type: "string" },
    concurrency: { type: "string", default: "16" },
  },
});
if (values.model === undefined || values.prompts === undefined) {
  throw new Error("Pass --model DIR and --prompts FILE (a pacore-train.trl.jsonl)");
}

interface PromptRow {
  readonly prompt: ChatMessage[];
  readonly ground_truth: string;
  readonly extra_info?: { readonly problem_id?: string };
}

const offset = Number(values.offset);
const all = readFileSync(values.prompts, "utf8")
  .split("\n")
  .filter((line) => line.trim() !== "")
  .map((line) => JSON.parse(line) as PromptRow);
// `--limit` prompts from `--offset`, wrapping around the end: iterations cycle through the set.
const count = values.limit === undefined ? all.length : Math.min(Number(values.limit), all.length);
const rows = Array.from({ length: count }, (_, index) => all[(offset + index) % all.length]);

// The embedded model's settings (src/cli/backends.ts): CPU, 16 rows per batch.
const backend = await onnxBackend({ modelDir: values.model, device: "cpu", maxBatchSize: 16 });
const writer = values.out === undefined ? undefined : episodeWriter(values.out);
const rewards: number[] = [];
const recorder = createEpisodeRecorder({
  reward: mathReward(),
  maxPending: 64,
  onEpisode: (episode) => {
    rewards.push(episode.reward?.score ?? 0);
    writer?.write(episode);
  },
});
const started = performance.now();
const limit = pLimit(Number(values.concurrency));
await Promise.all(
  rows.map((row, index) =>
    limit(() =>
      recorder.run(
        {
          backend,
          strategy: selfConsistency({ n: Number(values.samples) }),
          problem: row.prompt,
          options: {
            seed: hashSeed(Number(values.seed), offset + index),
            temperature: Number(values.temperature),
            ...(values["max-tokens"] !== undefined && { maxTokens: Number(values["max-tokens"]) }),
            logprobs: true,
          },
        },
        { groundTruth: row.ground_truth, problemId: row.extra_info?.problem_id },
      ),
    ),
  ),
);
await recorder.drain();
writer?.close();
await backend.close?.();
const mean = rewards.reduce((sum, reward) => sum + reward, 0) / Math.max(1, rewards.length);
console.log(
  JSON.stringify({
    prompts: rows.length,
    episodes: rewards.length,
    meanReward: Number(mean.toFixed(4)),
    seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
  }),
);
