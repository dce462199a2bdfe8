/**
 * The ONNX backend end to end on the committed tiny-chat model: greedy ids must equal the torch
 * reference (full recomputation, no KV cache) token for token, alone and batched, on the fp32
 * and the fp16-KV variants; seeded sampling must not depend on batch company; the main thread
 * must stay free while a batch generates.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";
import { ChatPrompter } from "../../../src/backends/onnx/chat-prompt.js";
import { type OnnxBackend, onnxBackend } from "../../../src/backends/onnx/index.js";
import { loadModelDirectory } from "../../../src/backends/onnx/model-directory.js";
import { AbortError, ConfigError, ContextLengthError } from "../../../src/common/errors.js";
import type { GenerateRequest } from "../../../src/spec/backend.js";
import {
  DEFAULT_CASES,
  NO_THINKING_CASES,
  REFERENCE,
  type ReferenceCase,
  TINY_CHAT_DIR,
} from "./fixture.js";

const greedy = (item: ReferenceCase, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
  messages: item.messages,
  sampling: { temperature: 0, maxTokens: REFERENCE.maxNewTokens },
  n: 1,
  ...extra,
});

const longest = [...DEFAULT_CASES].sort((a, b) => b.greedyIds.length - a.greedyIds.length)[0];

describe("onnx backend: greedy decoding equals the torch reference", () => {
  let backend: OnnxBackend;
  const warnings: string[] = [];
  before(async () => {
    backend = await onnxBackend(
      { modelDir: TINY_CHAT_DIR, device: "auto", threads: { intraOp: 1 } },
      { onWarning: (message) => warnings.push(message) },
    );
  });
  after(() => backend.close());

  test("`auto` without CUDA libraries falls back to the CPU with exactly one warning", () => {
    assert.equal(backend.sessions.length, 1);
    assert.equal(backend.sessions[0].provider, "cpu");
    assert.equal(backend.sessions[0].cacheType, "float32");
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0], /CUDA is not usable/);
    assert.match(warnings[0], /--onnxruntime-node-install=cuda12/);
  });

  test("onnxruntime-node is not loaded on the main thread", () => {
    const require = createRequire(import.meta.url);
    const entry = require.resolve("onnxruntime-node");
    assert.equal(entry in require.cache, false);
  });

  test("one prompt: token ids, log-probs, usage", async () => {
    const { completions } = await backend.generate(greedy(longest, { logprobs: true }));
    const [completion] = completions;
    assert.deepEqual(completion.tokenIds, longest.greedyIds);
    assert.equal(completion.finishReason, longest.finishReason);
    assert.deepEqual(completion.usage, {
      promptTokens: longest.promptIds.length,
      completionTokens: longest.greedyIds.length,
      cachedTokens: 0,
    });
    assert.equal(completion.logprobs?.length, longest.greedyIds.length);
    completion.logprobs?.forEach((logprob, i) => {
      assert.ok(
        Math.abs(logprob - longest.greedyLogprobs[i]) < 1e-3,
        `log-prob ${i}: ${logprob} vs torch ${longest.greedyLogprobs[i]}`,
      );
    });
  });

  test("a batch of prompts of different lengths, rows finishing at different steps", async () => {
    const promptLengths = new Set(DEFAULT_CASES.map((item) => item.promptIds.length));
    const stopSteps = new Set(
      DEFAULT_CASES.filter((item) => item.finishReason === "stop").map(
        (item) => item.greedyIds.length,
      ),
    );
    assert.ok(promptLengths.size >= 3 && stopSteps.size >= 3, "the fixture must vary");
    const before = (await backend.stats())[0];
    const results = await Promise.all(DEFAULT_CASES.map((item) => backend.generate(greedy(item))));
    const after = (await backend.stats())[0];
    results.forEach(({ completions: [completion] }, i) => {
      const item = DEFAULT_CASES[i];
      assert.deepEqual(completion.tokenIds, item.greedyIds, item.name);
      assert.equal(completion.finishReason, item.finishReason, item.name);
    });
    assert.ok(after.maxBatchRows > 1, "rows were decoded together");
    const generated = DEFAULT_CASES.reduce((sum, item) => sum + item.greedyIds.length, 0);
    assert.ok(after.decodeRuns - before.decodeRuns < generated - DEFAULT_CASES.length);
  });

  test("n samples of one prompt share one prefill and all equal the reference", async () => {
    const before = (await backend.stats())[0];
    const { completions } = await backend.generate(greedy(longest, { n: 3 }));
    const after = (await backend.stats())[0];
    assert.equal(completions.length, 3);
    for (const completion of completions) assert.deepEqual(completion.tokenIds, longest.greedyIds);
    assert.deepEqual(
      completions.map((completion) => completion.usage.cachedTokens),
      [0, longest.promptIds.length, longest.promptIds.length],
    );
    assert.equal(after.prefillRuns - before.prefillRuns, 1);
    assert.equal(after.sharedPrefixRows - before.sharedPrefixRows, 2);
  });

  test("maxTokens cuts a row with finish reason `length`", async () => {
    const { completions } = await backend.generate({
      ...greedy(longest),
      sampling: { temperature: 0, maxTokens: 3 },
    });
    assert.deepEqual(completions[0].tokenIds, longest.greedyIds.slice(0, 3));
    assert.equal(completions[0].finishReason, "length");
  });

  test("a stop string ends the row; streamed deltas add up to the content", async () => {
    const lengthCase = longest;
    assert.ok(!lengthCase.greedyIds.includes(REFERENCE.thinkEndId));
    const directory = await loadModelDirectory(TINY_CHAT_DIR);
    const prompter = new ChatPrompter(directory);
    const full = prompter.decode(lengthCase.greedyIds);
    // A stop string taken from the middle of the reference text.
    const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 2);
    let tokens = 1;
    while (!prompter.decode(lengthCase.greedyIds.slice(0, tokens)).includes(stop)) tokens++;
    const deltas: string[] = [];
    const { completions } = await backend.generate({
      messages: lengthCase.messages,
      sampling: { temperature: 0, maxTokens: 16, stop: [stop] },
      n: 1,
      onDelta: ({ sample, text }) => {
        assert.equal(sample, 0);
        deltas.push(text);
      },
    });
    const [completion] = completions;
    assert.equal(completion.finishReason, "stop");
    assert.deepEqual(completion.tokenIds, lengthCase.greedyIds.slice(0, tokens));
    const expected = full.slice(0, full.indexOf(stop));
    assert.equal(completion.content, expected);
    assert.equal(completion.reasoning, undefined);
    assert.equal(deltas.join(""), expected);
  });

  test("an aborted call rejects with AbortError", async () => {
    const controller = new AbortController();
    const call = backend.generate(greedy(longest, { signal: controller.signal, n: 4 }));
    controller.abort();
    await assert.rejects(call, AbortError);
    const { completions } = await backend.generate(greedy(longest));
    assert.deepEqual(completions[0].tokenIds, longest.greedyIds, "the engine still works after");
  });

  test("image parts are refused: the model is text-only", async () => {
    await assert.rejects(
      backend.generate({
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "What is this?" },
              { type: "image", image: "data:image/png;base64,AAAA" },
            ],
          },
        ],
        sampling: { temperature: 0 },
        n: 1,
      }),
      (error: unknown) => error instanceof ConfigError && /text-only/.test(error.message),
    );
  });

  test("token counting and context window come from the tokenizer and config.json", async () => {
    assert.equal(await backend.contextWindow(), 256);
    assert.equal(await backend.countTokens(longest.messages), longest.promptIds.length);
    const [tokenizerCase] = REFERENCE.tokenizerCases;
    assert.equal(await backend.countTokens(tokenizerCase.text), tokenizerCase.ids.length);
  });
});

describe("onnx backend: options that change the prompt or the window", () => {
  test("enableThinking: false renders the empty think block; ids equal the reference", async () => {
    const backend = await onnxBackend({
      modelDir: TINY_CHAT_DIR,
      device: "cpu",
      enableThinking: false,
    });
    try {
      assert.ok(NO_THINKING_CASES.length > 0);
      const results = await Promise.all(
        NO_THINKING_CASES.map((item) => backend.generate(greedy(item))),
      );
      results.forEach(({ completions: [completion] }, i) => {
        const item = NO_THINKING_CASES[i];
        assert.deepEqual(completion.tokenIds, item.greedyIds, item.name);
        assert.equal(completion.usage.promptTokens, item.promptIds.length);
      });
      // A case whose generation holds `</think>`: reasoning and content split at the last one.
      const thinking = REFERENCE.cases.find(
        (item) => item.enableThinking === false && item.greedyIds.includes(REFERENCE.thinkEndId),
      );
      assert.ok(thinking, "the fixture has a case that generates </think>");
      const index = NO_THINKING_CASES.indexOf(thinking);
      const { content, reasoning } = results[index].completions[0];
      const prompter = new ChatPrompter(await loadModelDirectory(TINY_CHAT_DIR));
      const text = prompter.decode(thinking.greedyIds.slice(0, -1));
      const close = text.lastIndexOf("</think>");
      assert.equal(content, text.slice(close + "</think>".length));
      assert.equal(typeof reasoning, "string");
      assert.ok(!content.includes("</think>"));
    } finally {
      await backend.close();
    }
  });

  test("contextWindow: prompts that do not fit are refused; the rest are cut at the window", async () => {
    const window = longest.promptIds.length + 2;
    const backend = await onnxBackend({
      modelDir: TINY_CHAT_DIR,
      device: "cpu",
      contextWindow: window,
    });
    try {
      assert.equal(await backend.contextWindow(), window);
      const { completions } = await backend.generate(greedy(longest));
      assert.deepEqual(completions[0].tokenIds, longest.greedyIds.slice(0, 2));
      assert.equal(completions[0].finishReason, "length");
      const tooLong = REFERENCE.cases.find((item) => item.promptIds.length >= window);
      assert.ok(tooLong);
      await assert.rejects(backend.generate(greedy(tooLong)), ContextLengthError);
    } finally {
      await backend.close();
    }
  });
});

describe("onnx backend: fp16 KV cache variant", () => {
  test("reads the fp16 cache type from the session and matches the reference", async () => {
    const backend = await onnxBackend({ modelDir: TINY_CHAT_DIR, device: "cpu", variant: "fp16" });
    try {
      assert.equal(backend.sessions[0].variant, "fp16");
      assert.equal(backend.sessions[0].cacheType, "float16");
      const cases = DEFAULT_CASES.filter((item) => item.fp16KvSafe);
      assert.ok(cases.length >= 3);
      const results = await Promise.all(cases.map((item) => backend.generate(greedy(item))));
      results.forEach(({ completions: [completion] }, i) => {
        assert.deepEqual(completion.tokenIds, cases[i].greedyIds, cases[i].name);
      });
    } finally {
      await backend.close();
    }
  });
});

describe("onnx backend: seeded sampling", () => {
  let backend: OnnxBackend;
  before(async () => {
    backend = await onnxBackend({ modelDir: TINY_CHAT_DIR, device: "cpu", maxBatchSize: 8 });
  });
  after(() => backend.close());

  const sampled = (item: ReferenceCase, seeds: number[]): GenerateRequest => ({
    messages: item.messages,
    sampling: { temperature: 4, topP: 0.95, topK: 50, maxTokens: 12 },
    n: seeds.length,
    seeds,
    logprobs: true,
  });

  test("the same seeds give the same ids twice, and different seeds differ", async () => {
    const first = await backend.generate(sampled(longest, [1, 2, 3, 4]));
    const second = await backend.generate(sampled(longest, [1, 2, 3, 4]));
    assert.deepEqual(
      first.completions.map((completion) => completion.tokenIds),
      second.completions.map((completion) => completion.tokenIds),
    );
    const distinct = new Set(
      first.completions.map((completion) => JSON.stringify(completion.tokenIds)),
    );
    assert.ok(distinct.size > 1, "sampling at temperature 4 must vary across seeds");
    for (const completion of first.completions) {
      assert.equal(completion.logprobs?.length, completion.tokenIds?.length);
      for (const logprob of completion.logprobs ?? []) assert.ok(logprob <= 0);
    }
  });

  test("a row's ids do not depend on which rows share its batch", async () => {
    const seeds = [11, 12, 13];
    const batched = await Promise.all([
      backend.generate(sampled(longest, seeds)),
      ...DEFAULT_CASES.slice(0, 4).map((item, i) =>
        backend.generate(sampled(item, [100 + i, 200 + i])),
      ),
    ]);
    const alone = [];
    for (const seed of seeds) alone.push(await backend.generate(sampled(longest, [seed])));
    alone.forEach((result, i) => {
      assert.deepEqual(
        result.completions[0].tokenIds,
        batched[0].completions[i].tokenIds,
        `seed ${seeds[i]}`,
      );
    });
  });

  test("a 1 ms timer keeps firing while a batch generates", async () => {
    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(performance.now()), 1);
    const started = performance.now();
    await Promise.all(
      DEFAULT_CASES.map((item, i) =>
        backend.generate({
          messages: item.messages,
          sampling: { temperature: 1, maxTokens: 16 },
          n: 6,
          seeds: [1, 2, 3, 4, 5, 6].map((seed) => seed + 10 * i),
        }),
      ),
    );
    const elapsed = performance.now() - started;
    clearInterval(timer);
    let longestGap = 0;
    for (let i = 1; i < ticks.length; i++)
      longestGap = Math.max(longestGap, ticks[i] - ticks[i - 1]);
    assert.ok(ticks.length >= Math.min(20, elapsed / 5), `${ticks.length} ticks in ${elapsed} ms`);
    assert.ok(longestGap < 100, `longest gap between ticks: ${longestGap} ms`);
  });
});
