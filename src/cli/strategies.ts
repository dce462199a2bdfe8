/** Builds the strategy a command asked for from its flags. */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { bestOfN, type Verifier } from "../../strategies/best-of-n.js";
import { pacore } from "../../strategies/pacore.js";
import { rsa } from "../../strategies/rsa.js";
import { selfConsistency } from "../../strategies/self-consistency.js";
import { sequential } from "../../strategies/sequential.js";
import { single } from "../../strategies/single.js";
import { TEMPLATE_NAMES, type TemplateName } from "../../strategies/synthesis-template.js";
import { ConfigError } from "../common/errors.js";
import type { Strategy } from "../spec/strategy.js";

export const STRATEGY_NAMES = [
  "pacore",
  "single",
  "self-consistency",
  "best-of-n",
  "sequential",
  "rsa",
] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

export interface StrategyChoice {
  readonly strategy: StrategyName;
  readonly k?: readonly number[];
  readonly template: string;
  readonly verifier?: string;
  readonly population?: number;
  readonly subset?: number;
  readonly steps?: number;
}

/** Default fan-out of `--strategy pacore`: the paper's "low" preset. */
export const DEFAULT_PACORE_K = [4];
const RSA_FLAGS = ["population", "subset", "steps"] as const;

function refuse(choice: StrategyChoice, flag: string, why: string): never {
  throw new ConfigError(`\`--strategy ${choice.strategy}\` ${why}, got \`--${flag}\``);
}

/** `--k N` for strategies that take one number. */
function oneNumber(choice: StrategyChoice, fallback: number): number {
  if (choice.k === undefined) return fallback;
  if (choice.k.length !== 1) {
    throw new ConfigError(
      `\`--strategy ${choice.strategy}\` takes one number of samples, such as --k 16, got \`--k ${choice.k.join(",")}\``,
    );
  }
  return choice.k[0];
}

export async function createStrategy(choice: StrategyChoice): Promise<Strategy> {
  if (choice.strategy !== "rsa") {
    for (const flag of RSA_FLAGS) {
      if (choice[flag] !== undefined) refuse(choice, flag, "takes no RSA flags");
    }
  }
  if (choice.strategy !== "best-of-n" && choice.verifier !== undefined) {
    refuse(choice, "verifier", "takes no verifier (it is for best-of-n)");
  }
  const template = await loadTemplate(choice.template);
  try {
    return await buildStrategy(choice, template);
  } catch (error) {
    // A Jinja file that does not parse or render: say which flag and file.
    if (typeof template === "object" && error instanceof ConfigError) {
      throw new ConfigError(`\`--template ${choice.template}\`: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
}

async function buildStrategy(
  choice: StrategyChoice,
  template: TemplateName | { jinja: string },
): Promise<Strategy> {
  switch (choice.strategy) {
    case "single":
      if (choice.k !== undefined) refuse(choice, "k", "runs one trajectory and takes no `--k`");
      return single();
    case "pacore":
      return pacore({ k: choice.k ?? DEFAULT_PACORE_K, template });
    case "sequential":
      return sequential({ k: choice.k ?? [1, 1, 1, 1], template });
    case "self-consistency":
      return selfConsistency({ n: oneNumber(choice, 16) });
    case "best-of-n": {
      if (choice.verifier === undefined) {
        throw new ConfigError(
          "`--strategy best-of-n` needs `--verifier PATH`: a JS module exporting a function (candidate) => score",
        );
      }
      return bestOfN({ n: oneNumber(choice, 16), verifier: await loadVerifier(choice.verifier) });
    }
    case "rsa": {
      if (choice.k !== undefined) refuse(choice, "k", "takes --population, --subset and --steps");
      return rsa({
        population: choice.population ?? 16,
        subset: choice.subset ?? 4,
        steps: choice.steps ?? 3,
      });
    }
  }
}

/** `default`, `paper`, or a path to a Jinja file. */
async function loadTemplate(template: string): Promise<TemplateName | { jinja: string }> {
  if ((TEMPLATE_NAMES as readonly string[]).includes(template)) return template as TemplateName;
  try {
    return { jinja: await readFile(template, "utf8") };
  } catch (error) {
    throw new ConfigError(
      `Expected \`--template\` to be ${TEMPLATE_NAMES.join(", ")} or a readable Jinja file, got \`${template}\` (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      { cause: error },
    );
  }
}

/** A JS module whose default export (or `verifier` export) is the verifier function. */
async function loadVerifier(path: string): Promise<Verifier> {
  let module: { default?: unknown; verifier?: unknown };
  try {
    module = await import(pathToFileURL(resolve(path)).href);
  } catch (error) {
    throw new ConfigError(`Cannot load \`--verifier ${path}\`: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const verifier = module.verifier ?? module.default;
  if (typeof verifier !== "function") {
    throw new ConfigError(
      `Expected \`--verifier ${path}\` to export a function (default or \`verifier\`), got \`${typeof verifier}\``,
    );
  }
  return verifier as Verifier;
}
