/**
 * The caching interceptor: an n-sample call asks the backend only for the samples the cache
 * lacks, keyed by the exact request; the JSONL file survives a torn last line; a cached replay
 * through the engine equals a fresh run.
 */
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { cachedBackend, countingBackend, sampleKey } from "../../src/backends/cache/index.js";
import { simulatedBackend } from "../../src/backends/simulated/index.js";
import { run } from "../../src/core/engine.js";
import type { GenerateRequest } from "../../src/spec/backend.js";
import { pacore } from "../../strategies/pacore.js";
import { selfConsistency } from "../../strategies/self-consistency.js";
import { scriptedBackend } from "../helpers/scripted-backend.js";

const request = (seeds: number[], extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
  messages: [{ role: "user", content: "What is 2+3?" }],
  sampling: { temperature: 1, maxTokens: 64 },
  n: seeds.length,
  seeds,
  ...extra,
});

const tempFile = () => join(mkdtempSync(join(tmpdir(), "pacore-cache-")), "cache.jsonl");

describe("cachedBackend", () => {
  it("asks the backend only for the samples it lacks, in one call, keeping sample order", async () => {
    const inner = scriptedBackend();
    const backend = cachedBackend(inner);
    const first = await backend.generate(request([11, 12, 13, 14]));
    assert.equal(inner.requests.length, 1);
    const second = await backend.generate(request([13, 99, 11, 98, 12, 14]));
    assert.equal(inner.requests.length, 2);
    assert.equal(inner.requests[1].n, 2);
    assert.deepEqual(inner.requests[1].seeds, [99, 98]);
    assert.deepEqual(
      second.completions.map((completion) => completion.content),
      [
        first.completions[2].content,
        (await scriptedBackend().generate(request([99]))).completions[0].content,
        first.completions[0].content,
        (await scriptedBackend().generate(request([98]))).completions[0].content,
        first.completions[1].content,
        first.completions[3].content,
      ],
    );
    await backend.generate(request([14, 11]));
    assert.equal(inner.requests.length, 2, "a fully cached call never reaches the backend");
    assert.equal(backend.hits, 4 + 2);
    assert.equal(backend.misses, 4 + 2);
  });

  it("keys by the exact request: messages, each sampling field, seed and logprobs", () => {
    const base = sampleKey({ provider: "p", model: "m" }, request([1]), 0);
    const variants: GenerateRequest[] = [
      request([2]),
      request([1], { messages: [{ role: "user", content: "What is 2+4?" }] }),
      request([1], { sampling: { temperature: 0.5, maxTokens: 64 } }),
      request([1], { sampling: { temperature: 1, maxTokens: 65 } }),
      request([1], { sampling: { temperature: 1, maxTokens: 64, topP: 0.9 } }),
      request([1], { sampling: { temperature: 1, maxTokens: 64, stop: ["\n"] } }),
      request([1], { logprobs: true }),
    ];
    for (const variant of variants) {
      assert.notEqual(sampleKey({ provider: "p", model: "m" }, variant, 0), base);
    }
    assert.notEqual(sampleKey({ provider: "p", model: "other" }, request([1]), 0), base);
    // What does not change the output does not change the key.
    assert.equal(
      sampleKey({ provider: "p", model: "m" }, request([1], { timeoutMs: 5, n: 1 }), 0),
      base,
    );
  });

  it("persists every completion and serves it to a new process; a torn last line is cut off", async () => {
    const path = tempFile();
    const inner = scriptedBackend();
    const writer = cachedBackend(inner, { path });
    const made = await writer.generate(request([1, 2, 3]));
    writer.closeCache();
    assert.equal(readFileSync(path, "utf8").trim().split("\n").length, 3);
    appendFileSync(path, '{"type":"completion","key":"torn'); // kill -9 mid-write
    const again = scriptedBackend();
    const reader = cachedBackend(again, { path });
    assert.equal(reader.size, 3);
    const replay = await reader.generate(request([1, 2, 3, 4]));
    assert.equal(again.requests.length, 1);
    assert.equal(again.requests[0].n, 1);
    assert.deepEqual(
      replay.completions.slice(0, 3).map((c) => c.content),
      made.completions.map((c) => c.content),
    );
    reader.closeCache();
    const lines = readFileSync(path, "utf8").trim().split("\n");
    assert.equal(lines.length, 4);
    for (const line of lines) assert.equal(JSON.parse(line).type, "completion");
  });

  it("refuses a file with a corrupt line in the middle, naming the line", () => {
    const path = tempFile();
    writeFileSync(path, 'not json\n{"type":"completion","key":"a","completion":{}}\n');
    assert.throws(() => cachedBackend(scriptedBackend(), { path }), /corrupt line 1/);
  });

  it("through the engine: self-consistency@16 then @64 generates 64 samples, and the cached replay equals a fresh run", async () => {
    const problem = "What is 17*23+5?";
    const counter = countingBackend(simulatedBackend({ accuracy: 0.5 }));
    const backend = cachedBackend(counter);
    const options = { seed: 7, temperature: 1 };
    await run({ backend, strategy: selfConsistency({ n: 16 }), problem, options });
    assert.equal(counter.samples, 16);
    const swept = await run({ backend, strategy: selfConsistency({ n: 64 }), problem, options });
    assert.equal(counter.samples, 64);
    const fresh = await run({
      backend: simulatedBackend({ accuracy: 0.5 }),
      strategy: selfConsistency({ n: 64 }),
      problem,
      options,
    });
    const view = (result: typeof fresh) => ({
      answer: result.answer,
      usage: result.usage,
      rounds: result.rounds.map((round) => ({
        messages: round.messages,
        trajectories: round.trajectories.map(({ content, seed, usage }) => ({
          content,
          seed,
          usage,
        })),
      })),
    });
    assert.deepEqual(view(swept), view(fresh));
    // Round 1 of pacore:16 is round 1 of pacore:16,4: only the later rounds are new.
    await run({ backend, strategy: pacore({ k: [16] }), problem, options });
    assert.equal(counter.samples, 64 + 1);
    await run({ backend, strategy: pacore({ k: [16, 4] }), problem, options });
    assert.equal(counter.samples, 64 + 1 + 3 + 1);
  });
});
