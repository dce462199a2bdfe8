/**
 * Decoding throughput of two exports of the same weights, on the workload of PaCoRe's first
 * round: arith problems, 16 samples each at temperature 1, all submitted at once. Written for the
 * grouped-query attention graph of models/common/tinylm.py (the cache is no longer expanded to
 * every query head at each step), against an export of the same checkpoint with the old graph:
 * a copy of models/pacore-tiny whose onnx/model.onnx is `git show fde5394~1:models/pacore-tiny/onnx/model.onnx`.
 *
 *   node --import tsx bench/onnx-export-graph.ts --models BASELINE_DIR,CANDIDATE_DIR
 *     [--problems 16] [--difficulty 5] [--repeats 3] [--batch 16]
 *
 * `--batch` defaults to the embedded model's rows per batch (`EMBEDDED_MODEL_BATCH_SIZE`).
 *
 * The models alternate within each repeat so that machine noise hits both; prints tokens/s of
 * each against the first, measured in the same run, and the share of samples whose token ids
 * are the same in both (the graphs sum in another order, so a near-tie may sample differently).
 */
import { parseArgs } from "node:util";
import { EMBEDDED_MODEL_BATCH_SIZE } from "../src/cli/embedded-model.js";
import { generateArith } from "../src/tasks/arith.js";
import { runFirstRound, SAMPLES } from "./first-round.js";

const { values } = parseArgs({
  options: {
    models: { type: "string" },
    problems: { type: "string", default: "16" },
    difficulty: { type: "string", default: "5" },
    repeats: { type: "string", default: "3" },
    batch: { type: "string", default: String(EMBEDDED_MODEL_BATCH_SIZE) },
  },
});
const models = values.models?.split(",") ?? [];
if (models.length < 2) throw new Error("Pass --models BASELINE_DIR,CANDIDATE_DIR");
const problems = generateArith({
  seed: 1,
  count: Number(values.problems),
  difficulty: Number(values.difficulty),
});
const totals = new Map(models.map((model) => [model, { seconds: 0, tokens: 0 }]));
const firstIds = new Map<string, readonly string[]>();
for (let repeat = 0; repeat < Number(values.repeats); repeat++) {
  for (const model of models) {
    const result = await runFirstRound(model, Number(values.batch), problems);
    const total = totals.get(model)!;
    total.seconds += result.seconds;
    total.tokens += result.tokens;
    if (!firstIds.has(model)) firstIds.set(model, result.ids);
    process.stderr.write(
      `repeat ${repeat + 1}, ${model}: ${(result.tokens / result.seconds).toFixed(0)} tokens/s\n`,
    );
  }
}
const rate = (model: string) => totals.get(model)!.tokens / totals.get(model)!.seconds;
const baseline = models[0];
console.log(
  `\n${problems.length} arith problems of level ${values.difficulty} × ${SAMPLES} samples, ${values.repeats} repeats, ${values.batch} rows per batch\n`,
);
console.log(`| model | tokens/s | vs ${baseline} | same ids as ${baseline} |`);
console.log("|---|---:|---:|---:|");
for (const model of models) {
  const base = firstIds.get(baseline)!;
  const same = firstIds.get(model)!.filter((ids, i) => ids === base[i]).length;
  console.log(
    `| ${model} | ${rate(model).toFixed(0)} | ×${(rate(model) / rate(baseline)).toFixed(2)} | ${same}/${base.length} |`,
  );
}
