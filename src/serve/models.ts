/**
 * Model names of the server: each names a strategy and its settings, so that a client picks the
 * test-time compute by changing `model` alone.
 */
import { PACORE_PRESETS } from "../../strategies/pacore.js";
import { STRATEGY_NAMES, type StrategyChoice, type StrategyName } from "../cli/strategies.js";
import { ConfigError } from "../common/errors.js";

/** A strategy and its settings, as a model name or a request's `pacore` field gives them. */
export interface StrategySettings {
  readonly strategy?: StrategyName;
  readonly k?: readonly number[];
  readonly population?: number;
  readonly subset?: number;
  readonly steps?: number;
  /** A named synthesis template (`default`, `paper`). */
  readonly template?: string;
}

/** The server's defaults: what the model `pacore` runs, and the template and verifier of all. */
export type StrategyDefaults = Omit<StrategyChoice, "strategy"> & {
  readonly strategy: StrategyName;
};

/** The named presets of the paper, as model names. */
export const PRESET_MODELS = {
  "pacore-low": PACORE_PRESETS.low,
  "pacore-medium": PACORE_PRESETS.medium,
  "pacore-high": PACORE_PRESETS.high,
} as const;

/** Thrown for a model name the server does not know: a 404 `model_not_found`. */
export class UnknownModelError extends ConfigError {}

function unknown(name: string, why: string): never {
  throw new UnknownModelError(
    `The model \`${name}\` does not exist: ${why}. Models: \`pacore\` (the server's default), \`pacore-low\`, \`pacore-medium\`, \`pacore-high\`, \`pacore:16,4\`, \`self-consistency:8\`, \`single\`, \`sequential:1,1,1\`, \`rsa:16,4,3\` (population, subset, steps), \`best-of-n:8\` (where the server has a verifier); GET /v1/models lists them`,
  );
}

function integers(name: string, text: string): number[] {
  const parts = text.split(",");
  const values = parts.map((part) => Number(part.trim()));
  if (
    parts.some((part) => part.trim() === "") ||
    !values.every((v) => Number.isInteger(v) && v > 0)
  ) {
    unknown(name, `expected positive integers after the colon, such as 16,4, got \`${text}\``);
  }
  return values;
}

/**
 * Reads a model name: `pacore` (the server's defaults), a preset (`pacore-low`, `pacore-medium`,
 * `pacore-high`: the paper's `[4]`, `[16]`, `[32,4]`), or `STRATEGY[:N,…]` (`pacore:16,4`,
 * `self-consistency:8`, `single`, `sequential:1,1,1`, `rsa:16,4,3`, `best-of-n:8`). Throws an
 * `UnknownModelError` for anything else.
 */
export function parseModelName(name: string): StrategySettings {
  if (name === "pacore") return {};
  if (Object.hasOwn(PRESET_MODELS, name)) {
    return { strategy: "pacore", k: PRESET_MODELS[name as keyof typeof PRESET_MODELS] };
  }
  const colon = name.indexOf(":");
  const head = colon < 0 ? name : name.slice(0, colon);
  if (!(STRATEGY_NAMES as readonly string[]).includes(head)) unknown(name, "no such strategy");
  const strategy = head as StrategyName;
  if (colon < 0) return { strategy };
  const values = integers(name, name.slice(colon + 1));
  switch (strategy) {
    case "single":
      return unknown(name, "`single` takes no numbers");
    case "rsa": {
      if (values.length !== 3)
        unknown(name, "`rsa` takes population, subset and steps: rsa:16,4,3");
      const [population, subset, steps] = values;
      return { strategy, population, subset, steps };
    }
    case "self-consistency":
    case "best-of-n":
      if (values.length !== 1) unknown(name, `\`${strategy}\` takes one number of samples`);
      return { strategy, k: values };
    default:
      return { strategy, k: values };
  }
}

/**
 * The full strategy choice of a request: the server's defaults, then the model name's settings,
 * then the request's own `pacore` field. A named strategy other than the default's drops the
 * default's numbers (they belong to another strategy).
 */
export function resolveStrategy(
  defaults: StrategyDefaults,
  ...layers: readonly StrategySettings[]
): StrategyChoice {
  let choice: StrategyChoice = defaults;
  for (const layer of layers) {
    if (layer.strategy !== undefined && layer.strategy !== choice.strategy) {
      choice = {
        strategy: layer.strategy,
        template: choice.template,
        ...(choice.verifier !== undefined && { verifier: choice.verifier }),
      };
    }
    choice = {
      ...choice,
      ...(layer.k !== undefined && { k: layer.k }),
      ...(layer.population !== undefined && { population: layer.population }),
      ...(layer.subset !== undefined && { subset: layer.subset }),
      ...(layer.steps !== undefined && { steps: layer.steps }),
      ...(layer.template !== undefined && { template: layer.template }),
    };
  }
  return choice;
}

/** The model names `GET /v1/models` lists (parameterized forms such as `pacore:16,4` work too). */
export function listedModels(defaults: StrategyDefaults): string[] {
  return [
    "pacore",
    ...Object.keys(PRESET_MODELS),
    ...STRATEGY_NAMES.filter(
      (name) => name !== "pacore" && (name !== "best-of-n" || defaults.verifier !== undefined),
    ),
  ];
}
