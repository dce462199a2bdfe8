/**
 * The files of a curve: `curve.csv`, `curve.jsonl` (one row per point), `curve.md` (a table and
 * the sweep's cost) and `curve.svg` (the chart, `./chart.ts`).
 */
import type { CurveRow, SweepTotals } from "./sweep.js";

const round = (value: number, digits: number) => {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
};

/**
 * CSV columns, in order. `wall_s` is the only timing column; `generated`/`cached` (what this
 * invocation made or reused) are in the JSONL and the table, not here, so that a sweep resumed
 * after a kill writes the same CSV as one that ran through.
 */
export const CSV_COLUMNS = [
  "backend",
  "model",
  "task",
  "point",
  "strategy",
  "plan",
  "problems",
  "repeats",
  "seed",
  "accuracy",
  "standard_error",
  "answered",
  "failed",
  "effective_tokens",
  "trajectories",
  "calls",
  "wall_s",
] as const;

function csvField(value: string | number): string {
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The rows as CSV (a header line, then one line per point). */
export function curveCsv(rows: readonly CurveRow[]): string {
  const lines = rows.map((row) =>
    [
      row.backend,
      row.model,
      row.task,
      row.point,
      row.strategy,
      row.plan.join(","),
      row.problems,
      row.repeats,
      row.seed,
      round(row.accuracy, 6),
      round(row.standardError, 6),
      round(row.answered, 6),
      row.failed,
      round(row.effectiveTokens, 2),
      row.trajectories,
      row.calls,
      round(row.wallSeconds, 2),
    ]
      .map(csvField)
      .join(","),
  );
  return `${[CSV_COLUMNS.join(","), ...lines].join("\n")}\n`;
}

/** One JSON object per point. */
export function curveJsonl(rows: readonly CurveRow[]): string {
  return rows.map((row) => `${JSON.stringify(row)}\n`).join("");
}

const integer = (value: number) => Math.round(value).toLocaleString("en-US");

/** The shared-work saving in one sentence. */
export function describeSaving(sweep: SweepTotals): string {
  const saved = sweep.callsAlone === 0 ? 0 : 1 - sweep.calls / sweep.callsAlone;
  return `${integer(sweep.calls)} backend calls (trajectories) for the sweep against ${integer(sweep.callsAlone)} for its points run alone: ${(100 * saved).toFixed(1)}% saved (${(sweep.callsAlone / Math.max(1, sweep.calls)).toFixed(2)}× fewer)`;
}

/** A Markdown table of the points, and what the sweep cost. */
export function curveMarkdown(rows: readonly CurveRow[], sweep: SweepTotals): string {
  const first = rows[0];
  const heading = first
    ? `# Scaling curve: ${first.backend}/${first.model} on ${first.task}\n\n${first.problems} problems × ${first.repeats} repeat${first.repeats === 1 ? "" : "s"}, seed ${first.seed}${first.repeats > 1 ? `…${first.seed + first.repeats - 1}` : ""}. Accuracy ± one standard error over problems; effective tokens are all tokens generated per problem, every round.\n`
    : "# Scaling curve\n";
  const table = [
    "| point | plan | accuracy | ± s.e. | answered | effective tokens/problem | trajectories | calls | generated now | wall s |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (row) =>
        `| \`${row.point}\` | [${row.plan.join(",")}] | ${row.accuracy.toFixed(3)} | ${row.standardError.toFixed(3)} | ${row.answered.toFixed(3)} | ${integer(row.effectiveTokens)} | ${integer(row.trajectories)} | ${integer(row.calls)} | ${integer(row.generated)} | ${row.wallSeconds.toFixed(1)} |`,
    ),
  ].join("\n");
  const failed = rows.filter((row) => row.failed > 0);
  return `${heading}
${table}

- **Shared work**: ${describeSaving(sweep)}. \`trajectories\` is what a point costs run alone; \`calls\` what it added to the sweep (trajectories no earlier point had used).
- This invocation generated ${integer(sweep.generated)} trajectories in ${integer(sweep.requests)} backend requests and took ${integer(sweep.cached)} from the cache, in ${sweep.wallSeconds.toFixed(1)} s.
${failed.length > 0 ? `- Failed runs (counted as wrong): ${failed.map((row) => `\`${row.point}\` ${row.failed}`).join(", ")}.\n` : ""}`;
}
