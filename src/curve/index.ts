/**
 * Scaling curves: a grid of strategies on one set of problems under one seed, accuracy against
 * effective tokens, with the trajectories points share generated once (`cachedBackend`).
 */
export { curveSpec, curveSvg } from "./chart.js";
export { DEFAULT_GRID, type GridPoint, parseGrid } from "./grid.js";
export { CSV_COLUMNS, curveCsv, curveJsonl, curveMarkdown, describeSaving } from "./report.js";
export {
  type CurveInput,
  type CurveResult,
  type CurveRow,
  runCurve,
  type SweepTotals,
} from "./sweep.js";
