// transformers.js `generate` for bench/onnx-throughput.ts, in its own process and package (its
// onnxruntime-node copy never meets pacore's). Reads one JSON request per stdin line
// ({ n, promptIds, maxNewTokens }), answers one JSON line ({ seconds, tokens, firstIds }).
//
//   node bench/transformers-js/generate.mjs MODEL_DIR [INTRA_OP_THREADS]
import { basename, dirname } from "node:path";
import { createInterface } from "node:readline";
import { AutoModelForCausalLM, env, Tensor } from "@huggingface/transformers";

const [modelDir, threads] = process.argv.slice(2);
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = `${dirname(modelDir)}/`;
const model = await AutoModelForCausalLM.from_pretrained(basename(modelDir), {
  dtype: "fp32",
  device: "cpu",
  ...(threads && { session_options: { intraOpNumThreads: Number(threads) } }),
});
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);

for await (const line of createInterface({ input: process.stdin })) {
  const { n, promptIds, maxNewTokens } = JSON.parse(line);
  const length = promptIds.length;
  const ids = new BigInt64Array(n * length);
  for (let row = 0; row < n; row++) {
    for (let i = 0; i < length; i++) ids[row * length + i] = BigInt(promptIds[i]);
  }
  const started = performance.now();
  const output = await model.generate({
    input_ids: new Tensor("int64", ids, [n, length]),
    attention_mask: new Tensor("int64", new BigInt64Array(n * length).fill(1n), [n, length]),
    max_new_tokens: maxNewTokens,
    do_sample: false,
  });
  const seconds = (performance.now() - started) / 1000;
  const [rows, total] = output.dims;
  const data = output.data;
  const firstIds = Array.from(data.subarray(length, total), Number);
  process.stdout.write(
    `${JSON.stringify({ seconds, tokens: rows * (total - length), firstIds })}\n`,
  );
}
