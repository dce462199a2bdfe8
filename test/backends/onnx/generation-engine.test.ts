/**
 * The continuous-batching engine driven in-process on a real onnxruntime session of the
 * fixture, where the batch composition is deterministic: jobs submitted together share one
 * prefill, rows join a running batch, rows leave it when done, and every row still equals the
 * torch reference.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import ort from "onnxruntime-node";
import { ChatPrompter } from "../../../src/backends/onnx/chat-prompt.js";
import { readDecoderSignature } from "../../../src/backends/onnx/decoder-signature.js";
import {
  type EngineSession,
  type EngineTensor,
  GenerationEngine,
  type GenerationJob,
  type RowOutcome,
} from "../../../src/backends/onnx/generation-engine.js";
import { loadModelDirectory } from "../../../src/backends/onnx/model-directory.js";
import { REFERENCE, type ReferenceCase, TINY_CHAT_DIR } from "./fixture.js";

describe("generation engine", () => {
  let session: ort.InferenceSession;
  let makeEngine: (maxBatchSize: number, prefixCacheBytes?: number) => GenerationEngine;
  let runs: number[];

  before(async () => {
    const directory = await loadModelDirectory(TINY_CHAT_DIR);
    const prompter = new ChatPrompter(directory);
    session = await ort.InferenceSession.create(directory.modelFile.path, { intraOpNumThreads: 1 });
    const signature = readDecoderSignature(session, directory.config, "onnx/model.onnx");
    makeEngine = (maxBatchSize, prefixCacheBytes) => {
      runs = [];
      const counting: EngineSession = {
        run: (feeds) => {
          runs.push(feeds.input_ids.dims[0]);
          return session.run(feeds as never) as unknown as Promise<Record<string, EngineTensor>>;
        },
      };
      return new GenerationEngine(
        counting,
        (type, data, dims) => new ort.Tensor(type as "float32", data as Float32Array, dims),
        {
          signature,
          eosTokenIds: directory.eosTokenIds,
          maxBatchSize,
          contextWindow: 256,
          detokenize: (ids) => prompter.decode(ids),
          padTokenId: 0,
          ...(prefixCacheBytes !== undefined && { prefixCacheBytes }),
        },
      );
    };
  });
  after(() => session.release());

  const job = (item: ReferenceCase, n = 1, temperature = 0): GenerationJob => ({
    promptIds: item.promptIds,
    n,
    seeds: Array.from({ length: n }, (_, i) => 100 + i),
    sampling: { temperature, topP: 1, topK: 0 },
    maxTokens: REFERENCE.maxNewTokens,
    stop: [],
    stream: true,
  });

  const submit = (engine: GenerationEngine, item: ReferenceCase, onDelta?: () => void) =>
    new Promise<RowOutcome[]>((resolve, reject) => {
      engine.submit(job(item), { done: resolve, fail: reject, delta: onDelta });
    });

  test("jobs submitted together: one prefill, one batch that shrinks as rows finish", async () => {
    const engine = makeEngine(16);
    const cases = REFERENCE.cases;
    const outcomes = await Promise.all(cases.map((item) => submit(engine, item)));
    outcomes.forEach(([outcome], i) => {
      assert.deepEqual(outcome.tokenIds, cases[i].greedyIds, cases[i].name);
      assert.equal(outcome.finishReason, cases[i].finishReason);
    });
    const stats = engine.stats();
    assert.equal(stats.prefillRuns, 1);
    assert.equal(stats.maxBatchRows, cases.length);
    const longest = Math.max(...cases.map((item) => item.greedyIds.length));
    assert.equal(stats.decodeRuns, longest - 1, "one decode run per step for the whole batch");
    // Batch sizes never grow after the prefill, and shrink exactly when rows finish.
    const decodeSizes = runs.slice(1);
    for (let step = 0; step < decodeSizes.length; step++) {
      const alive = cases.filter((item) => item.greedyIds.length > step + 1).length;
      assert.equal(decodeSizes[step], alive, `rows decoded at step ${step + 1}`);
    }
  });

  test("a job submitted while a batch runs joins it at a step boundary", async () => {
    const engine = makeEngine(8);
    const [first, second] = [...REFERENCE.cases].sort(
      (a, b) => b.greedyIds.length - a.greedyIds.length,
    );
    let late: Promise<RowOutcome[]> | undefined;
    let deltas = 0;
    const early = submit(engine, first, () => {
      deltas++;
      if (deltas === 3) late = submit(engine, second);
    });
    const [earlyOutcome] = await early;
    assert.ok(late);
    const [lateOutcome] = await late;
    assert.deepEqual(earlyOutcome.tokenIds, first.greedyIds);
    assert.deepEqual(lateOutcome.tokenIds, second.greedyIds);
    assert.equal(engine.stats().prefillRuns, 2);
    assert.equal(
      engine.stats().maxBatchRows,
      2,
      "the late job decoded together with the early one",
    );
  });

  test("rows beyond maxBatchSize wait for a free slot and still match", async () => {
    const engine = makeEngine(2);
    const cases = REFERENCE.cases.slice(0, 5);
    const outcomes = await Promise.all(cases.map((item) => submit(engine, item)));
    outcomes.forEach(([outcome], i) => {
      assert.deepEqual(outcome.tokenIds, cases[i].greedyIds);
    });
    assert.equal(engine.stats().maxBatchRows, 2);
  });

  const submitJob = (engine: GenerationEngine, request: GenerationJob) =>
    new Promise<RowOutcome[]>((resolve, reject) => {
      engine.submit(request, { done: resolve, fail: reject });
    });

  test("a job admitted in two waves (n above the free slots) is prefilled once", async () => {
    const item = [...REFERENCE.cases].sort((a, b) => b.greedyIds.length - a.greedyIds.length)[0];
    const engine = makeEngine(2);
    const outcomes = await submitJob(engine, job(item, 5));
    for (const outcome of outcomes) assert.deepEqual(outcome.tokenIds, item.greedyIds);
    const stats = engine.stats();
    assert.equal(stats.prefillRuns, 1, "the later rows took the held prompt cache");
    assert.equal(stats.heldPrefixRows, 3);
    assert.equal(stats.maxBatchRows, 2);
    assert.deepEqual(
      outcomes.map((outcome) => outcome.cachedTokens),
      [0, 1, 1, 1, 1].map((shared) => shared * item.promptIds.length),
    );
    assert.equal(stats.heldPrefixes, 0, "released once the last row joined");
    assert.equal(stats.heldPrefixBytes, 0);
  });

  test("held prompt caches are accounted and capped", async () => {
    const item = REFERENCE.cases[0];
    const engine = makeEngine(1);
    let held = 0;
    const done = submitJob(engine, job(item, 3));
    // Sample the counters while the first row generates and the others wait.
    while (engine.stats().prefillRuns === 0) await new Promise((resolve) => setImmediate(resolve));
    held = engine.stats().heldPrefixBytes;
    await done;
    // 2 layers × (key, value) × 2 KV heads × prompt × 16 × 4 bytes, plus 512 fp32 logits.
    assert.equal(held, 2 * 2 * 2 * item.promptIds.length * 16 * 4 + 512 * 4);
    assert.equal(engine.stats().prefillRuns, 1);
    const capped = makeEngine(1, held - 1);
    const outcomes = await submitJob(capped, job(item, 3));
    assert.equal(capped.stats().prefillRuns, 3, "over the cap, every wave is prefilled again");
    assert.equal(capped.stats().prefixesOverCap, 2, "the last wave holds nothing");
    assert.deepEqual(
      outcomes.map((outcome) => outcome.cachedTokens),
      [0, 0, 0],
    );
    for (const outcome of outcomes) assert.deepEqual(outcome.tokenIds, item.greedyIds);
  });

  test("seeded rows sample the same tokens in one wave or several", async () => {
    const item = REFERENCE.cases[1];
    const together = await submitJob(makeEngine(8), job(item, 6, 1));
    const waves = await submitJob(makeEngine(4), job(item, 6, 1));
    const trickle = await submitJob(makeEngine(1), job(item, 6, 1));
    assert.deepEqual(
      waves.map((outcome) => outcome.tokenIds),
      together.map((outcome) => outcome.tokenIds),
    );
    assert.deepEqual(
      trickle.map((outcome) => outcome.tokenIds),
      together.map((outcome) => outcome.tokenIds),
    );
    assert.ok(
      new Set(together.map((outcome) => outcome.tokenIds.join())).size > 1,
      "the seeds give different samples, so the comparison can fail",
    );
  });

  test("close() cancels the jobs and waits for the running step", async () => {
    const engine = makeEngine(4);
    let settled = false;
    submit(engine, REFERENCE.cases[0]).then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    await engine.close();
    assert.equal(engine.busy, false);
    assert.equal(settled, false, "a cancelled job hears nothing more");
    assert.throws(() => engine.submit(job(REFERENCE.cases[0]), { done() {}, fail() {} }), /closed/);
  });
});
