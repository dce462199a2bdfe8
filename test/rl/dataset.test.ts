import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { functionBackend } from "../../src/backends/function/index.js";
import { estimateTokens } from "../../src/common/estimate-tokens.js";
import { buildSynthesisDataset } from "../../src/rl/dataset.js";

// Half the samples are right; each message is long (a 60-line worked tail, then the answer).
const backend = (contextWindow: number) =>
  functionBackend(
    ({ seed }) => {
      const value = seed % 2 === 0 ? 42 : 41;
      const work = Array.from({ length: 60 }, (_, line) => `step ${line}: carry the ${line}`);
      return `${work.join("\n")}\nThe answer is ${value}.`;
    },
    { model: "long-messages", contextWindow, defaultMaxTokens: 256 },
  );

// One problem, 16 samples, one set of all 16, in a fresh cache.
const build = (window: number) =>
  buildSynthesisDataset({
    backend: backend(window),
    problems: [{ id: "p1", problem: "What is 6*7?", groundTruth: "42" }],
    cacheDir: mkdtempSync(join(tmpdir(), "pacore-dataset-")),
    samples: 16,
    setSize: [16, 16],
    band: [0, 1],
    options: { seed: 3 },
  });

describe("buildSynthesisDataset", () => {
  it("cuts a message set to the window as a synthesis round would, leaving room for the output", async () => {
    const window = 2048;
    const result = await build(window);
    assert.equal(result.records.length, 1);
    assert.equal(result.trimmedSets, 1);
    const [record] = result.records;
    const promptTokens = estimateTokens(record.synthesisPrompt);
    // The output the engine reserves by default: half the window at most the backend's default.
    assert.ok(promptTokens + 256 <= window, `${promptTokens} prompt tokens in a ${window} window`);
    // keep-tail (the default policy) keeps each message's end, where its answer is.
    assert.equal(record.responses.length, 16);
    for (const response of record.responses) assert.match(response, /The answer is 4[12]\.$/);
    const text = record.synthesisPrompt.at(-1)?.content as string;
    for (const response of record.responses) assert.ok(text.includes(response));
  });

  it("leaves a set whole where it fits", async () => {
    const result = await build(1_000_000);
    assert.equal(result.trimmedSets, 0);
    assert.ok(result.records[0].responses.every((response) => response.startsWith("step 0")));
  });
});
