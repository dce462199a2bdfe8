/**
 * Worker thread entry of the ONNX backend: opens one decoder session (onnxruntime's `run`
 * blocks the thread that calls it, so it must not be the main thread) and serves generation
 * jobs through a continuous-batching {@link GenerationEngine}.
 */
import { basename } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { ChatPrompter } from "./chat-prompt.js";
import { readDecoderSignature } from "./decoder-signature.js";
import { openSession } from "./devices.js";
import { type EngineSession, type EngineTensor, GenerationEngine } from "./generation-engine.js";
import { loadModelDirectory } from "./model-directory.js";
import {
  serializeError,
  type WorkerReply,
  type WorkerRequest,
  type WorkerSetup,
} from "./worker-protocol.js";

if (parentPort === null) throw new Error("generation-worker.ts runs only as a worker thread");
const port = parentPort;
const setup = workerData as WorkerSetup;
const post = (message: WorkerReply) => port.postMessage(message);

async function start(): Promise<void> {
  // A CommonJS package: named exports under Node's ESM loader, a `default` under some loaders.
  const imported = await import("onnxruntime-node");
  const ort = (
    "InferenceSession" in imported ? imported : (imported as { default: unknown }).default
  ) as typeof imported.default;
  // `auto` probes CUDA; onnxruntime logs the failed probe itself before throwing. The error
  // still reaches us as an exception, which becomes one warning.
  if (setup.target.kind === "auto") ort.env.logLevel = "fatal";
  const directory = await loadModelDirectory(setup.modelDir, setup.variant);
  const prompter = new ChatPrompter(directory);
  const file = `onnx/${basename(directory.modelFile.path)}`;
  const opened = await openSession(
    async (path, options) => {
      try {
        return await ort.InferenceSession.create(path, options);
      } catch (error) {
        const provider = JSON.stringify(options.executionProviders?.[0]);
        throw new Error(
          `onnxruntime could not load ${file} with ${provider}: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
    },
    directory.modelFile.path,
    setup.target,
    setup.threads,
    (message) => post({ type: "warning", message }),
  );
  const session = opened.session;
  const signature = readDecoderSignature(session, directory.config, file);
  const tokenizerSize = prompter.tokenIdLimit();
  if (signature.vocabSize !== undefined && tokenizerSize > signature.vocabSize) {
    throw new Error(
      `tokenizer.json has ids up to ${tokenizerSize - 1} but ${file} returns logits over ${signature.vocabSize} tokens: the tokenizer belongs to another model`,
    );
  }
  const engine = new GenerationEngine(
    session as unknown as EngineSession,
    (type, data, dims) =>
      new ort.Tensor(type as "float32", data as Float32Array, dims) as EngineTensor,
    {
      signature,
      eosTokenIds: directory.eosTokenIds,
      maxBatchSize: setup.maxBatchSize,
      contextWindow: setup.contextWindow,
      detokenize: (ids) => prompter.decode(ids),
      padTokenId: directory.eosTokenIds[0],
      ...(setup.prefixCacheBytes !== undefined && { prefixCacheBytes: setup.prefixCacheBytes }),
    },
  );
  const jobs = new Map<number, number>();
  port.on("message", async (message: WorkerRequest) => {
    switch (message.type) {
      case "generate": {
        const { id } = message;
        try {
          const jobId = engine.submit(message.job, {
            delta: (sample, text) => post({ type: "delta", id, sample, text }),
            done: (outcomes) => {
              jobs.delete(id);
              post({ type: "done", id, outcomes });
            },
            fail: (error) => {
              jobs.delete(id);
              post({ type: "failed", id, error: serializeError(error) });
            },
          });
          jobs.set(id, jobId);
        } catch (error) {
          post({ type: "failed", id, error: serializeError(error) });
        }
        return;
      }
      case "cancel": {
        const jobId = jobs.get(message.id);
        if (jobId !== undefined) engine.cancel(jobId);
        jobs.delete(message.id);
        return;
      }
      case "stats":
        post({ type: "stats", id: message.id, stats: engine.stats() });
        return;
      case "close":
        jobs.clear();
        await engine.close();
        await session.release();
        post({ type: "closed" });
        port.close();
        return;
    }
  });
  post({
    type: "ready",
    provider: opened.provider,
    ...(opened.deviceId !== undefined && { deviceId: opened.deviceId }),
    variant: directory.modelFile.variant,
    cacheType: signature.cacheType,
    outputsOnDevice: opened.outputsOnDevice,
  });
}

start().catch((error: unknown) => {
  post({ type: "setup-error", error: serializeError(error) });
  port.close();
});
