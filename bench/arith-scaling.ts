/**
 * Test-time scaling of the embedded model: the measurements of the embedded-model issue, each
 * through the `pacore bench` command a user would type, on the same held-out problems.
 *
 *   node --import tsx bench/arith-scaling.ts [--limit 300] [--seed 1] [--difficulty N]
 *     [--model DIR [--max-batch-size 16]]
 *
 * `--difficulty` defaults to the task's default level. With `--model`, the ONNX backend batches 8
 * rows unless `--max-batch-size` says otherwise (the embedded model gets 16), so give a tiny
 * model's directory 16 to time it as it would run embedded.
 *
 * Runs, at temperature 1: a single sample; PaCoRe [16,4]; self-consistency with as many samples
 * as match PaCoRe [16,4]'s generated tokens per problem; parallel [4] against sequential
 * [1,1,1,1] (5 generations each, the final synthesis included). Prints one table with each
 * strategy's accuracy and its difference from the single sample measured in the same run, and
 * writes every bench object to bench/results/arith-scaling.json.
 */
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    limit: { type: "string", default: "300" },
    seed: { type: "string", default: "1" },
    difficulty: { type: "string" },
    model: { type: "string" },
    "max-batch-size": { type: "string" },
  },
});
const BIN = fileURLToPath(new URL("../bin/pacore.js", import.meta.url));

interface BenchResult {
  readonly strategy: string;
  readonly plan: readonly number[];
  readonly accuracy: number;
  readonly effectiveTokensPerProblem: number;
  readonly elapsedMs: number;
  readonly [key: string]: unknown;
}

function bench(flags: readonly string[]): Promise<BenchResult> {
  const args = [
    BIN,
    "bench",
    "--task",
    "arith",
    "--limit",
    values.limit,
    "--seed",
    values.seed,
    "--temperature",
    "1",
    "--json",
    ...(values.difficulty === undefined ? [] : ["--difficulty", values.difficulty]),
    ...(values.model === undefined ? [] : ["--model", values.model]),
    ...(values["max-batch-size"] === undefined
      ? []
      : ["--max-batch-size", values["max-batch-size"]]),
    ...flags,
  ];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 1 << 28 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`pacore bench ${flags.join(" ")} failed: ${stderr || error}`));
      else resolve(JSON.parse(stdout) as BenchResult);
    });
  });
}

const rows: { label: string; result: BenchResult }[] = [];
async function measure(label: string, flags: readonly string[]): Promise<BenchResult> {
  const result = await bench(flags);
  rows.push({ label, result });
  process.stderr.write(
    `${label}: accuracy ${result.accuracy.toFixed(3)}, ${Math.round(result.effectiveTokensPerProblem)} tokens/problem, ${(result.elapsedMs / 1000).toFixed(0)} s\n`,
  );
  return result;
}

const single = await measure("single", ["--strategy", "single"]);
const paCoRe = await measure("pacore [16,4]", ["--strategy", "pacore", "--k", "16,4"]);
// Self-consistency at PaCoRe's generated tokens: samples = its tokens / one sample's tokens.
const samples = Math.max(
  1,
  Math.round(paCoRe.effectiveTokensPerProblem / single.effectiveTokensPerProblem),
);
await measure(`self-consistency [${samples}]`, [
  "--strategy",
  "self-consistency",
  "--k",
  String(samples),
]);
await measure("parallel [4]", ["--strategy", "pacore", "--k", "4"]);
await measure("sequential [1,1,1,1]", ["--strategy", "pacore", "--k", "1,1,1,1"]);

const level = values.difficulty === undefined ? "" : ` of level ${values.difficulty}`;
console.log(
  `\n${values.limit} held-out arith problems${level}, seed ${values.seed}, temperature 1\n`,
);
console.log("| strategy | accuracy | vs single | tokens/problem | time |");
console.log("|---|---:|---:|---:|---:|");
for (const { label, result } of rows) {
  const delta = result.accuracy - single.accuracy;
  console.log(
    `| ${label} | ${result.accuracy.toFixed(3)} | ${delta >= 0 ? "+" : ""}${delta.toFixed(3)} | ${Math.round(result.effectiveTokensPerProblem)} | ${(result.elapsedMs / 1000).toFixed(0)} s |`,
  );
}
const out = fileURLToPath(new URL("./results/", import.meta.url));
mkdirSync(out, { recursive: true });
writeFileSync(
  `${out}arith-scaling.json`,
  `${JSON.stringify(
    rows.map(({ label, result: { problems: _problems, ...result } }) => ({ label, ...result })),
    null,
    1,
  )}\n`,
);
