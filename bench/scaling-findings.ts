/**
 * The PaCoRe paper's three findings, measured on the embedded model (or any backend the engine
 * flags name), whatever they show:
 *
 * 1. Parallel beats sequential at equal trajectories: `pacore:4` ([4,1]) against `sequential:4`
 *    ([1,1,1,1,1]), five trajectories each.
 * 2. PaCoRe against self-consistency at matched effective tokens: `pacore:4` against
 *    `self-consistency:5` and `pacore:8` against `self-consistency:9` (equal trajectories; the
 *    tokens of each are reported), with self-consistency@4 and @8 alongside.
 * 3. Accuracy when the context window binds: `pacore:8` with `--context` set so that the eight
 *    messages get about five tokens each (the embedded model's hold about thirteen), with the budget cut on
 *    (`keep-tail`: each message keeps its end, where the answer is) against messages dropped
 *    (`drop-longest`), next to the unconstrained run. Every round gets 512 output tokens, the
 *    model's own default, so round 1 is the same trajectories in all three.
 *
 * All points of all findings share one trajectory cache (`OUT/cache.jsonl`): a trajectory is
 * generated once, and a rerun generates nothing. `--cache FILE` first imports a curve's cache
 * (such as `pacore curve --out DIR`'s `DIR/cache.jsonl` under the same seed), so that round 1 is
 * not paid again.
 *
 *   node --import tsx bench/scaling-findings.ts [--limit 100] [--seed 1] [--out DIR]
 *        [--cache FILE] [--only 1,2,3] [engine flags such as --backend, --model, --temperature]
 *
 * Writes `OUT/findings.md` and each finding's curve files under `OUT/finding-N/`.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cachedBackend } from "../src/backends/cache/index.js";
import { createBackend } from "../src/cli/backends.js";
import { writeCurveFiles } from "../src/cli/curve-command.js";
import { createStrategy } from "../src/cli/strategies.js";
import { run } from "../src/core/engine.js";
import type { RunOptionsInput } from "../src/core/options.js";
import { type GridPoint, parseGrid } from "../src/curve/grid.js";
import { describeSaving } from "../src/curve/report.js";
import { type CurveRow, runCurve } from "../src/curve/sweep.js";
import type { ModelBackend } from "../src/spec/backend.js";
import { arithBenchmark } from "../src/tasks/problem.js";

const { values } = parseArgs({
  options: {
    limit: { type: "string", default: "100" },
    seed: { type: "string", default: "1" },
    temperature: { type: "string", default: "1" },
    difficulty: { type: "string", default: "5" },
    out: { type: "string", default: "bench-out/scaling-findings" },
    cache: { type: "string" },
    only: { type: "string", default: "1,2,3" },
    backend: { type: "string" },
    model: { type: "string" },
  },
});
const limit = Number(values.limit);
const seed = Number(values.seed);
const only = new Set(values.only.split(",").map(Number));
const out = values.out;
mkdirSync(out, { recursive: true });
const cachePath = join(out, "cache.jsonl");

/** Appends the completions of another cache file that this one lacks. */
function importCache(from: string): number {
  const have = new Set<string>();
  if (existsSync(cachePath)) {
    for (const line of readFileSync(cachePath, "utf8").split("\n")) {
      if (line.endsWith("}")) have.add(JSON.parse(line).key);
    }
  }
  const lines = readFileSync(from, "utf8")
    .split("\n")
    .filter((line) => line.endsWith("}") && !have.has(JSON.parse(line).key));
  if (lines.length > 0) appendFileSync(cachePath, `${lines.join("\n")}\n`);
  return lines.length;
}
if (values.cache !== undefined) {
  console.error(`imported ${importCache(values.cache)} completions from ${values.cache}`);
}

const backend = await createBackend({
  baseUrl: [],
  ...(values.backend !== undefined && { backend: values.backend as "onnx" }),
  ...(values.model !== undefined && { model: values.model }),
});
const problems = arithBenchmark({ seed, count: limit, difficulty: Number(values.difficulty) });
const base: RunOptionsInput = { seed, temperature: Number(values.temperature) };
const strategyOf = (point: GridPoint) => createStrategy({ ...point, template: "default" });
const report: string[] = [
  `# The paper's three findings on ${backend.provider}/${backend.model}`,
  "",
  `${problems.length} held-out arith problems (level ${values.difficulty}), seed ${seed}, temperature ${values.temperature}. Command: \`node --import tsx bench/scaling-findings.ts ${process.argv.slice(2).join(" ")}\`.`,
  "",
];

async function sweep(
  name: string,
  grid: string,
  options: RunOptionsInput,
): Promise<readonly CurveRow[]> {
  const dir = join(out, name);
  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  const { rows, sweep: totals } = await runCurve({
    backend,
    points: parseGrid(grid),
    strategyOf,
    problems,
    task: "arith",
    options,
    problemConcurrency: 64,
    cachePath,
    onPoint: (rows, totals) => writeCurveFiles(dir, rows, totals),
  });
  console.error(
    `${name}: ${grid} in ${((performance.now() - started) / 1000).toFixed(0)} s; ${describeSaving(totals)}; generated now ${totals.generated}`,
  );
  return rows;
}

const line = (row: CurveRow) =>
  `| \`${row.point}\` | [${row.plan.join(",")}] | ${row.accuracy.toFixed(3)} ± ${row.standardError.toFixed(3)} | ${row.answered.toFixed(3)} | ${Math.round(row.effectiveTokens).toLocaleString("en-US")} | ${row.trajectories / (row.problems * row.repeats)} |`;
const HEAD = [
  "| point | plan | accuracy ± s.e. | answered | effective tokens/problem | trajectories/problem |",
  "| --- | --- | ---: | ---: | ---: | ---: |",
];
const difference = (a: CurveRow, b: CurveRow) => {
  const gap = a.accuracy - b.accuracy;
  const se = Math.hypot(a.standardError, b.standardError);
  return `${gap >= 0 ? "+" : ""}${gap.toFixed(3)} (±${se.toFixed(3)}, unpaired)`;
};

if (only.has(1)) {
  const rows = await sweep("finding-1", "pacore:4;sequential:4", base);
  const [parallel, sequential] = rows;
  report.push(
    "## 1. Parallel against sequential at equal trajectories",
    "",
    ...HEAD,
    ...rows.map(line),
    "",
    `Parallel minus sequential: ${difference(parallel, sequential)}.`,
    "",
  );
}

if (only.has(2)) {
  const rows = await sweep("finding-2", "self-consistency:4,5,8,9;pacore:4;pacore:8", base);
  const by = new Map(rows.map((row) => [row.point, row]));
  const pair = (pacore: string, voting: string) =>
    `\`${pacore}\` against \`${voting}\`: ${difference(by.get(pacore)!, by.get(voting)!)} at ${Math.round(by.get(pacore)!.effectiveTokens)} against ${Math.round(by.get(voting)!.effectiveTokens)} effective tokens/problem.`;
  report.push(
    "## 2. PaCoRe against self-consistency at matched effective tokens",
    "",
    ...HEAD,
    ...rows.map(line),
    "",
    `- ${pair("pacore:4", "self-consistency:5")}`,
    `- ${pair("pacore:8", "self-consistency:9")}`,
    "",
  );
}

if (only.has(3)) {
  // The window that leaves the eight messages of pacore:8 about five tokens each.
  const strategy = await strategyOf(parseGrid("pacore:8")[0]);
  const counter = backend.countTokens?.bind(backend);
  if (counter === undefined) throw new Error("finding 3 needs a backend that counts tokens");
  let overhead = 0;
  for (const problem of problems) {
    const prompt = strategy.prompt({
      problem: [{ role: "user", content: problem.prompt as string }],
      round: 2,
      messages: new Array<string>(8).fill(""),
    });
    overhead = Math.max(overhead, await counter(prompt));
  }
  const maxTokens = 512;
  const perMessage = 5;
  const context = overhead + maxTokens + 8 * perMessage;
  const bound = { ...base, maxTokens, minMessageTokens: 4, context };
  const rows: CurveRow[] = [];
  const trims: string[] = [];
  for (const trim of ["keep-tail", "drop-longest"] as const) {
    const [row] = await sweep(`finding-3-${trim}`, "pacore:8", { ...bound, trim });
    rows.push({ ...row, point: `pacore:8 --trim ${trim}` });
    trims.push(`${trim}: ${await countTrims(backend, { ...bound, trim })}`);
  }
  const [free] = await sweep("finding-3-unbound", "pacore:8", { ...base, maxTokens });
  rows.unshift({ ...free, point: "pacore:8 (window 1,024: nothing cut)" });
  report.push(
    "## 3. When the context window binds: the budget cut on against messages dropped",
    "",
    `\`--context ${context}\` with \`--max-tokens ${maxTokens}\`: a synthesis prompt of eight empty messages takes up to ${overhead} tokens, which leaves ${8 * perMessage} tokens for the eight messages (minimum share 4 tokens; the trims below give their sizes).`,
    "",
    ...HEAD,
    ...rows.map(line),
    "",
    `Messages cut (the engine's message-trim events, over the ${problems.length} synthesis prompts): ${trims.join("; ")}.`,
    "",
    `- keep-tail minus drop-longest: ${difference(rows[1], rows[2])}`,
    `- unconstrained minus keep-tail: ${difference(rows[0], rows[1])}`,
    "",
  );
}

/** Replays pacore:8 from the cache (nothing is generated) and counts the messages cut. */
async function countTrims(model: ModelBackend, options: RunOptionsInput): Promise<string> {
  const cached = cachedBackend(model, { path: cachePath });
  const strategy = await strategyOf(parseGrid("pacore:8")[0]);
  let cut = 0;
  let dropped = 0;
  let kept = 0;
  let original = 0;
  try {
    for (const problem of problems) {
      await run(
        { backend: cached, strategy, problem: problem.prompt, options },
        {
          "message-trim": (event) => {
            cut++;
            if (event.keptTokens === 0) dropped++;
            kept += event.keptTokens;
            original += event.originalTokens;
          },
        },
      );
    }
  } finally {
    cached.closeCache();
  }
  if (cached.misses > 0) throw new Error(`the replay generated ${cached.misses} trajectories`);
  return `${cut} messages trimmed (${dropped} dropped whole), ${kept} of their ${original} tokens kept`;
}

writeFileSync(join(out, "findings.md"), `${report.join("\n")}\n`);
console.log(report.join("\n"));
await backend.close?.();
