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
  let makeEngine: (maxBatchSize: number) => GenerationEngine;
  let runs: number[];

  before(async () => {
    const directory = await loadModelDirectory(TINY_CHAT_DIR);
    const prompter = new ChatPrompter(directory);
    session = await ort.InferenceSession.create(directory.modelFile.path, { intraOpNumThreads: 1 });
    const signature = readDecoderSignature(session, directory.config, "onnx/model.onnx");
    makeEngine = (maxBatchSize) => {
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
        },
      );
    };
  });
  after(() => session.release());

  const job = (item: ReferenceCase, n = 1): GenerationJob => ({
    promptIds: item.promptIds,
    n,
    seeds: Array.from({ length: n }, (_, i) => i),
    sampling: { temperature: 0, topP: 1, topK: 0 },
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
