/**
 * Decoding throughput of the embedded model by the ONNX backend's `maxBatchSize`, on the workload
 * of PaCoRe's first round: arith problems, 16 samples each at temperature 1, all submitted at
 * once (as `pacore bench` does with 32 problems in flight).
 *
 *   node --import tsx bench/onnx-batch-size.ts [--problems 32] [--difficulty 5] [--repeats 3]
 *     [--sizes 16,32,64] [--model DIR]
 *
 * Sizes alternate within each repeat so that machine noise hits all of them; prints tokens/s of
 * each against the embedded model's default (`EMBEDDED_MODEL_BATCH_SIZE`), measured in the same
 * run, and checks that every size produced the same token ids (a row's ids do not depend on its
 * batch).
 */
import { parseArgs } from "node:util";
import { EMBEDDED_MODEL_BATCH_SIZE, embeddedModelDir } from "../src/cli/embedded-model.js";
import { generateArith } from "../src/tasks/arith.js";
import { runFirstRound, SAMPLES } from "./first-round.js";

const { values } = parseArgs({
  options: {
    problems: { type: "string", default: "32" },
    difficulty: { type: "string", default: "5" },
    repeats: { type: "string", default: "3" },
    sizes: { type: "string", default: "16,32,64" },
    model: { type: "string" },
  },
});
const modelDir = values.model ?? embeddedModelDir();
if (modelDir === undefined) throw new Error("No model: pass --model DIR");
const problems = generateArith({
  seed: 1,
  count: Number(values.problems),
  difficulty: Number(values.difficulty),
});
const sizes = values.sizes.split(",").map(Number);
if (!sizes.includes(EMBEDDED_MODEL_BATCH_SIZE)) sizes.push(EMBEDDED_MODEL_BATCH_SIZE);

const totals = new Map(sizes.map((size) => [size, { seconds: 0, tokens: 0 }]));
let firstIds: string | undefined;
let sameIds = true;
for (let repeat = 0; repeat < Number(values.repeats); repeat++) {
  for (const size of sizes) {
    const result = await runFirstRound(modelDir, size, problems);
    const total = totals.get(size)!;
    total.seconds += result.seconds;
    total.tokens += result.tokens;
    const ids = result.ids.join(";");
    firstIds ??= ids;
    sameIds &&= ids === firstIds;
    process.stderr.write(
      `repeat ${repeat + 1}, batch ${size}: ${(result.tokens / result.seconds).toFixed(0)} tokens/s\n`,
    );
  }
}
const rate = (size: number) => totals.get(size)!.tokens / totals.get(size)!.seconds;
console.log(
  `\n${problems.length} arith problems of level ${values.difficulty} × ${SAMPLES} samples, ${values.repeats} repeats\n`,
);
console.log(`| maxBatchSize | tokens/s | vs ${EMBEDDED_MODEL_BATCH_SIZE} (the embedded default) |`);
console.log("|---:|---:|---:|");
for (const size of sizes) {
  console.log(
    `| ${size} | ${rate(size).toFixed(0)} | ×${(rate(size) / rate(EMBEDDED_MODEL_BATCH_SIZE)).toFixed(2)} |`,
  );
}
console.log(`\nsame token ids at every size: ${sameIds ? "yes" : "NO"}`);
if (!sameIds) process.exitCode = 1;
