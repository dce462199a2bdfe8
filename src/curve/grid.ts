/**
 * The grid of a scaling curve: `single;self-consistency:4,16,64;pacore:4;pacore:16,4;sequential:4`.
 * Entries are separated by `;`. `self-consistency:4,16,64` (and `best-of-n:…`) is one point per
 * number; `pacore:16,4` is one point whose rounds are 16 then 4; `sequential:N` is N refinement
 * rounds of one trajectory (`sequential:1,1,1,1` is the same point); `rsa:16,4,3` is population,
 * subset and steps; `single` takes no numbers.
 */

import { STRATEGY_NAMES, type StrategyName } from "../cli/strategies.js";
import { ConfigError } from "../common/errors.js";

/** One point of the grid: a strategy with its numbers. */
export interface GridPoint {
  /** The point's canonical name, such as `self-consistency:16` or `pacore:16,4`. */
  readonly label: string;
  /** The line it belongs to in the chart: the strategy's name. */
  readonly family: StrategyName;
  readonly strategy: StrategyName;
  /** `--k` of the strategy (rounds for pacore and sequential, samples for the voting ones). */
  readonly k?: readonly number[];
  readonly population?: number;
  readonly subset?: number;
  readonly steps?: number;
}

/** The grid `pacore curve` runs when `--grid` is not given. */
export const DEFAULT_GRID =
  "single;self-consistency:4,16,64;pacore:4;pacore:16;pacore:16,4;sequential:4";

const NAMES: readonly StrategyName[] = STRATEGY_NAMES;

const EXAMPLE = "such as `single;self-consistency:4,16,64;pacore:16,4;sequential:4;rsa:16,4,3`";

function refuse(entry: string, why: string): never {
  throw new ConfigError(`\`--grid\` entry \`${entry}\`: ${why}; write the grid ${EXAMPLE}`);
}

function numbers(entry: string, text: string): number[] {
  const parts = text.split(",").map((part) => part.trim());
  const values = parts.map(Number);
  if (parts.some((part) => !/^\d+$/.test(part)) || values.some((value) => value < 1)) {
    refuse(entry, `expected positive integers after the colon, got \`${text}\``);
  }
  return values;
}

/**
 * Parses a grid strictly: an unknown strategy, a missing or malformed number, or an empty entry
 * throws a `ConfigError` naming the entry. Points that repeat are refused too.
 *
 * @example
 * ```ts
 * parseGrid("single;self-consistency:4,16").map((point) => point.label);
 * // ["single", "self-consistency:4", "self-consistency:16"]
 * ```
 */
export function parseGrid(grid: string): GridPoint[] {
  const points: GridPoint[] = [];
  const entries = grid.split(";").map((entry) => entry.trim());
  if (entries.length === 1 && entries[0] === "") {
    throw new ConfigError(`Expected \`--grid\` to list strategies ${EXAMPLE}, got an empty grid`);
  }
  entries.forEach((entry, position) => {
    if (entry === "") {
      throw new ConfigError(
        `\`--grid\` entry ${position + 1} is empty (two \`;\` in a row, or one at an end); write the grid ${EXAMPLE}`,
      );
    }
    const colon = entry.indexOf(":");
    const name = (colon < 0 ? entry : entry.slice(0, colon)).trim();
    if (!(NAMES as readonly string[]).includes(name)) {
      refuse(entry, `no strategy \`${name}\` (strategies: ${NAMES.join(", ")})`);
    }
    const strategy = name as StrategyName;
    const values = colon < 0 ? undefined : numbers(entry, entry.slice(colon + 1));
    switch (strategy) {
      case "single":
        if (values !== undefined) refuse(entry, "`single` takes no numbers");
        points.push({ label: "single", family: strategy, strategy });
        return;
      case "self-consistency":
      case "best-of-n":
        if (values === undefined) {
          refuse(entry, `\`${strategy}\` needs its numbers of samples, such as ${strategy}:4,16`);
        }
        for (const n of values) {
          points.push({ label: `${strategy}:${n}`, family: strategy, strategy, k: [n] });
        }
        return;
      case "pacore":
        if (values === undefined) refuse(entry, "`pacore` needs its rounds, such as pacore:16,4");
        points.push({ label: `pacore:${values.join(",")}`, family: strategy, strategy, k: values });
        return;
      case "sequential": {
        if (values === undefined) {
          refuse(entry, "`sequential` needs its number of rounds, such as sequential:4");
        }
        const ones = values.length > 1 || values[0] === 1;
        if (ones && !values.every((value) => value === 1)) {
          refuse(entry, "`sequential` takes a number of rounds (sequential:4) or all ones");
        }
        const rounds = ones ? values.length : values[0];
        points.push({
          label: `sequential:${rounds}`,
          family: strategy,
          strategy,
          k: new Array<number>(rounds).fill(1),
        });
        return;
      }
      case "rsa": {
        if (values === undefined || values.length !== 3) {
          refuse(entry, "`rsa` takes population, subset and steps, such as rsa:16,4,3");
        }
        const [population, subset, steps] = values;
        points.push({
          label: `rsa:${population},${subset},${steps}`,
          family: strategy,
          strategy,
          population,
          subset,
          steps,
        });
        return;
      }
    }
  });
  const seen = new Set<string>();
  for (const point of points) {
    if (seen.has(point.label)) {
      throw new ConfigError(
        `\`--grid\` lists \`${point.label}\` twice; list each point once ${EXAMPLE}`,
      );
    }
    seen.add(point.label);
  }
  return points;
}
