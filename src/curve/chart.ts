/**
 * The curve's chart: accuracy against effective tokens per problem on a log axis, one line per
 * strategy family, ±1 standard error bars, each point labelled. A Vega-Lite spec compiled to Vega
 * and rendered to SVG in Node (no browser, no canvas). vega and vega-lite load on first use only.
 */
import type { CurveRow } from "./sweep.js";

/** The Vega-Lite spec of the chart (also useful to render elsewhere). */
export function curveSpec(rows: readonly CurveRow[]): Record<string, unknown> {
  const first = rows[0];
  const values = rows.map((row) => ({
    point: row.point,
    strategy: row.strategy,
    tokens: Math.max(1, row.effectiveTokens),
    accuracy: row.accuracy,
    low: Math.max(0, row.accuracy - row.standardError),
    high: Math.min(1, row.accuracy + row.standardError),
    label: row.point.replace(/^self-consistency:/, "sc:"),
  }));
  const x = {
    field: "tokens",
    type: "quantitative",
    scale: { type: "log" },
    axis: { title: "Effective tokens per problem (log scale)", grid: true },
  };
  const color = {
    field: "strategy",
    type: "nominal",
    legend: { title: "Strategy", orient: "bottom-right" },
  };
  const title = first
    ? {
        text: `Accuracy against test-time compute: ${first.backend}/${first.model}`,
        subtitle: `${first.task}, ${first.problems} problems × ${first.repeats} repeat${first.repeats === 1 ? "" : "s"}, seed ${first.seed}; bars: ±1 standard error`,
      }
    : { text: "Accuracy against test-time compute" };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title,
    width: 640,
    height: 400,
    background: "white",
    data: { values },
    encoding: { x, color },
    layer: [
      {
        mark: { type: "line", point: { filled: true, size: 60 } },
        encoding: {
          y: {
            field: "accuracy",
            type: "quantitative",
            scale: { zero: false, nice: true },
            axis: { title: "Accuracy", format: ".2f" },
          },
          order: { field: "tokens", type: "quantitative" },
        },
      },
      {
        mark: { type: "errorbar", ticks: { size: 8 } },
        encoding: {
          y: { field: "low", type: "quantitative", title: "Accuracy" },
          y2: { field: "high" },
        },
      },
      {
        mark: { type: "text", align: "left", dx: 6, dy: -8, fontSize: 10 },
        encoding: {
          y: { field: "accuracy", type: "quantitative" },
          text: { field: "label" },
        },
      },
    ],
    config: { font: "sans-serif" },
  };
}

/**
 * Renders the chart to an SVG document.
 *
 * @example
 * ```ts
 * await writeFile("curve.svg", await curveSvg(rows));
 * ```
 */
export async function curveSvg(rows: readonly CurveRow[]): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")]);
  const compiled = vegaLite.compile(
    curveSpec(rows) as unknown as Parameters<typeof vegaLite.compile>[0],
  );
  const view = new vega.View(vega.parse(compiled.spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
