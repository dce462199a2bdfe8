/**
 * Decoding throughput of the ONNX backend against the floor and against transformers.js, on one
 * prompt with `n` greedy samples (issue 21).
 *
 *   /usr/bin/python3 models/fixtures/make_bench_model.py     # the ~41M model, once (~30 s)
 *   (cd bench/transformers-js && npm ci)                      # the peer, optional
 *   node --import tsx bench/onnx-throughput.ts [--sizes 1,4,16,64] [--repeats 3]
 *     [--model DIR] [--threads N] [--no-transformers]
 *
 * For each n, in one run and alternating so that machine noise hits all three:
 * - the floor: a bare loop of `session.run` in this process (prompt prefilled once, its KV cache
 *   replicated to n rows, argmax of each row, presents fed back as pasts);
 * - the backend: one `generate` call with `n` samples (worker thread, continuous batching);
 * - transformers.js `generate` with the prompt duplicated n times (its own package and process).
 * One 256-token prompt, 128 new tokens per sample. Prints tokens/s and the backend's ratio to
 * the floor per repeat (range) and of the best times; checks that the three agree on the ids.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import ort from "onnxruntime-node";
import { ChatPrompter } from "../src/backends/onnx/chat-prompt.js";
import { onnxBackend } from "../src/backends/onnx/index.js";
import { loadModelDirectory } from "../src/backends/onnx/model-directory.js";
import type { ChatMessage } from "../src/spec/backend.js";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "1,4,16,64" },
    repeats: { type: "string", default: "3" },
    model: {
      type: "string",
      default: fileURLToPath(new URL("results/onnx-throughput-model/", import.meta.url)),
    },
    threads: { type: "string" },
    "prompt-tokens": { type: "string", default: "256" },
    "new-tokens": { type: "string", default: "128" },
    "no-transformers": { type: "boolean", default: false },
  },
});
const modelDir = values.model.replace(/\/$/, "");
if (!existsSync(`${modelDir}/onnx/model.onnx`)) {
  console.error(
    `No model at ${modelDir}: run /usr/bin/python3 models/fixtures/make_bench_model.py first`,
  );
  process.exit(2);
}
const sizes = values.sizes.split(",").map(Number);
const repeats = Number(values.repeats);
const promptTokens = Number(values["prompt-tokens"]);
const newTokens = Number(values["new-tokens"]);
const threads = values.threads === undefined ? undefined : Number(values.threads);

// One prompt of exactly `promptTokens` tokens through the chat template: grow a text one
// character at a time (each adds at most one token).
const directory = await loadModelDirectory(modelDir);
const prompter = new ChatPrompter(directory);
const alphabet = "the quick brown fox jumps over the lazy dog ";
let messages: ChatMessage[] = [];
let promptIds: number[] = [];
for (let i = 0; promptIds.length < promptTokens; i++) {
  messages = [{ role: "user", content: alphabet.repeat(1 + i / alphabet.length).slice(0, i + 1) }];
  promptIds = prompter.encodeMessages(messages);
}
if (promptIds.length !== promptTokens) throw new Error("Could not hit the prompt length");

// ---------------------------------------------------------------- the floor

const session = await ort.InferenceSession.create(`${modelDir}/onnx/model.onnx`, {
  ...(threads !== undefined && { intraOpNumThreads: threads }),
});
const layers = session.inputNames.filter((name) => name.startsWith("past_key_values.")).length / 2;
const kvHeads = directory.config.numKeyValueHeads;
const headDim = directory.config.headDim;
const keepLogits = session.inputNames.includes("num_logits_to_keep");

function argmaxRow(data: Float32Array, offset: number, vocabulary: number): number {
  let best = 0;
  let bestValue = data[offset];
  for (let i = 1; i < vocabulary; i++) {
    const value = data[offset + i];
    if (value > bestValue) {
      bestValue = value;
      best = i;
    }
  }
  return best;
}

async function floor(n: number): Promise<{ seconds: number; tokens: number; firstIds: number[] }> {
  const started = performance.now();
  const length = promptIds.length;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor("int64", BigInt64Array.from(promptIds, BigInt), [1, length]),
    attention_mask: new ort.Tensor("int64", new BigInt64Array(length).fill(1n), [1, length]),
    position_ids: new ort.Tensor(
      "int64",
      BigInt64Array.from({ length }, (_, i) => BigInt(i)),
      [1, length],
    ),
  };
  if (keepLogits) feeds.num_logits_to_keep = new ort.Tensor("int64", BigInt64Array.of(1n), []);
  for (let i = 0; i < layers; i++) {
    for (const kind of ["key", "value"]) {
      feeds[`past_key_values.${i}.${kind}`] = new ort.Tensor("float32", new Float32Array(0), [
        1,
        kvHeads,
        0,
        headDim,
      ]);
    }
  }
  let outputs = await session.run(feeds);
  // Replicate the prompt's cache to n rows.
  const past: ort.Tensor[] = [];
  for (let i = 0; i < layers; i++) {
    for (const kind of ["key", "value"]) {
      const one = outputs[`present.${i}.${kind}`].data as Float32Array;
      const many = new Float32Array(one.length * n);
      for (let row = 0; row < n; row++) many.set(one, row * one.length);
      past.push(new ort.Tensor("float32", many, [n, kvHeads, length, headDim]));
    }
  }
  let logits = outputs.logits;
  const vocabulary = logits.dims[2];
  const first = argmaxRow(
    logits.data as Float32Array,
    (logits.dims[1] - 1) * vocabulary,
    vocabulary,
  );
  const tokens = new BigInt64Array(n).fill(BigInt(first));
  const firstIds = [first];
  for (let step = 1; step < newTokens; step++) {
    const total = length + step;
    const stepFeeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor("int64", tokens, [n, 1]),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(n * total).fill(1n), [n, total]),
      position_ids: new ort.Tensor("int64", new BigInt64Array(n).fill(BigInt(total - 1)), [n, 1]),
    };
    if (keepLogits) {
      stepFeeds.num_logits_to_keep = new ort.Tensor("int64", BigInt64Array.of(1n), []);
    }
    for (let i = 0; i < layers; i++) {
      stepFeeds[`past_key_values.${i}.key`] = past[2 * i];
      stepFeeds[`past_key_values.${i}.value`] = past[2 * i + 1];
    }
    outputs = await session.run(stepFeeds);
    for (let i = 0; i < layers; i++) {
      past[2 * i] = outputs[`present.${i}.key`];
      past[2 * i + 1] = outputs[`present.${i}.value`];
    }
    logits = outputs.logits;
    const data = logits.data as Float32Array;
    for (let row = 0; row < n; row++) {
      tokens[row] = BigInt(argmaxRow(data, row * vocabulary, vocabulary));
    }
    firstIds.push(Number(tokens[0]));
  }
  return { seconds: (performance.now() - started) / 1000, tokens: n * newTokens, firstIds };
}

// ---------------------------------------------------------------- the backend

const backend = await onnxBackend({
  modelDir,
  device: "cpu",
  maxBatchSize: Math.max(...sizes),
  ...(threads !== undefined && { threads: { intraOp: threads } }),
});

async function backendRun(
  n: number,
): Promise<{ seconds: number; tokens: number; firstIds: number[] }> {
  const started = performance.now();
  const { completions } = await backend.generate({
    messages,
    sampling: { temperature: 0, maxTokens: newTokens },
    n,
  });
  const seconds = (performance.now() - started) / 1000;
  let tokens = 0;
  for (const completion of completions) tokens += completion.usage.completionTokens;
  return { seconds, tokens, firstIds: [...(completions[0].tokenIds ?? [])] };
}

// ---------------------------------------------------------------- transformers.js

type Runner = (n: number) => Promise<{ seconds: number; tokens: number; firstIds: number[] }>;

async function startTransformers(): Promise<{ run: Runner; stop: () => void } | string> {
  const folder = fileURLToPath(new URL("transformers-js/", import.meta.url));
  if (!existsSync(`${folder}node_modules/@huggingface/transformers`)) {
    return "not installed (cd bench/transformers-js && npm ci)";
  }
  const child = spawn(
    process.execPath,
    [`${folder}generate.mjs`, modelDir, ...(threads !== undefined ? [String(threads)] : [])],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const line = await lines.next();
    if (line.done) throw new Error("transformers.js exited");
    return JSON.parse(line.value);
  };
  await next();
  return {
    run: async (n) => {
      child.stdin.write(`${JSON.stringify({ n, promptIds, maxNewTokens: newTokens })}\n`);
      return next();
    },
    stop: () => child.stdin.end(),
  };
}

const transformers = values["no-transformers"] ? "skipped" : await startTransformers();

// ---------------------------------------------------------------- the run

type Name = "floor" | "backend" | "transformers.js";
const runners: [Name, Runner][] = [
  ["floor", floor],
  ["backend", backendRun],
];
if (typeof transformers !== "string") runners.push(["transformers.js", transformers.run]);
const results = new Map<string, { seconds: number; tokens: number }[]>();
let agree = true;

console.log(
  `model ${modelDir}: prompt ${promptIds.length} tokens, ${newTokens} new per sample, greedy; ` +
    `sizes ${sizes.join(", ")}; ${repeats} repeats; threads ${threads ?? "default"}` +
    (typeof transformers === "string" ? `; transformers.js ${transformers}` : ""),
);
// Warm every path once (session allocations, JIT) before timing.
for (const [, run] of runners) await run(Math.min(4, Math.max(...sizes)));
for (let repeat = 0; repeat < repeats; repeat++) {
  for (const n of sizes) {
    // Rotate the order each repeat so that no runner always goes first.
    const order = runners.map((_, i) => runners[(i + repeat) % runners.length]);
    let reference: number[] | undefined;
    for (const [name, run] of order) {
      const result = await run(n);
      console.log(
        `  repeat ${repeat + 1} n=${n} ${name}: ${(result.tokens / result.seconds).toFixed(1)} tok/s (${result.seconds.toFixed(1)} s)`,
      );
      const key = `${name}:${n}`;
      results.set(key, [...(results.get(key) ?? []), result]);
      reference ??= result.firstIds;
      if (result.firstIds.join() !== reference.join()) {
        agree = false;
        console.log(`  ids differ: ${name} n=${n}`);
      }
    }
  }
}
await backend.close();
if (typeof transformers !== "string") transformers.stop();

const rate = (item: { seconds: number; tokens: number }) => item.tokens / item.seconds;
const best = (list: { seconds: number; tokens: number }[]) => Math.max(...list.map(rate));
const range = (values: number[]) =>
  `${Math.min(...values).toFixed(3)}–${Math.max(...values).toFixed(3)}`;
console.log(
  "n    floor tok/s  backend tok/s  transformers.js tok/s  backend/floor (best; per repeat)  backend/transformers.js",
);
for (const n of sizes) {
  const floorList = results.get(`floor:${n}`)!;
  const backendList = results.get(`backend:${n}`)!;
  const peerList = results.get(`transformers.js:${n}`);
  const perRepeat = backendList.map((item, i) => rate(item) / rate(floorList[i]));
  console.log(
    [
      String(n).padEnd(4),
      best(floorList).toFixed(0).padStart(11),
      best(backendList).toFixed(0).padStart(14),
      (peerList ? best(peerList).toFixed(0) : "-").padStart(22),
      `${(best(backendList) / best(floorList)).toFixed(3)}; ${range(perRepeat)}`.padStart(33),
      (peerList ? `${(best(backendList) / best(peerList)).toFixed(2)}×` : "-").padStart(25),
    ].join(" "),
  );
}
console.log(agree ? "ids: all runners agree" : "ids: runners DISAGREE (see above)");
