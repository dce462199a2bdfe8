/**
 * Builds the backend a command asked for. Heavy backends are imported lazily so that
 * `--backend simulated` never loads onnxruntime or undici.
 */
import { ConfigError } from "../common/errors.js";
import type { ModelBackend } from "../spec/backend.js";
import { EMBEDDED_MODEL_BATCH_SIZE, embeddedModelDir } from "./embedded-model.js";

export const BACKEND_NAMES = ["simulated", "openai", "onnx"] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendChoice {
  /** Default: `onnx` on the embedded model. */
  readonly backend?: BackendName;
  readonly model?: string;
  readonly baseUrl: readonly string[];
  /** Name of the environment variable that holds the API key (openai). */
  readonly apiKeyEnv?: string;
  readonly device?: string;
  /** Rows the ONNX backend decodes together per device. */
  readonly maxBatchSize?: number;
  readonly context?: number;
}

/** Backend warnings (a CUDA fallback) as one stderr line each, unless a command collects them. */
const printWarning = (message: string) => process.stderr.write(`warning: ${message}\n`);

/**
 * The backend for `--backend`, `--model`, `--base-url` and `--device`. Warnings the backend
 * gives while it loads go to `onWarning` (a command puts them among its run's warnings).
 */
export async function createBackend(
  given: BackendChoice,
  onWarning: (message: string) => void = printWarning,
): Promise<ModelBackend> {
  const hooks = { onWarning };
  const choice = { ...given, backend: given.backend ?? "onnx" };
  if (choice.backend !== "openai" && choice.baseUrl.length > 0) {
    throw new ConfigError(
      `\`--base-url\` is for \`--backend openai\`, got \`--backend ${choice.backend}\``,
    );
  }
  if (choice.backend !== "openai" && choice.apiKeyEnv !== undefined) {
    throw new ConfigError(
      `\`--api-key-env\` is for \`--backend openai\`, got \`--backend ${choice.backend}\``,
    );
  }
  for (const [flag, value] of [
    ["device", choice.device],
    ["max-batch-size", choice.maxBatchSize],
  ] as const) {
    if (choice.backend !== "onnx" && value !== undefined) {
      throw new ConfigError(
        `\`--${flag}\` is for \`--backend onnx\`, got \`--backend ${choice.backend}\``,
      );
    }
  }
  switch (choice.backend) {
    case "simulated": {
      const { simulatedBackend } = await import("../backends/simulated/index.js");
      return simulatedBackend({
        ...(choice.model !== undefined && { model: choice.model }),
        ...(choice.context !== undefined && { contextWindow: choice.context }),
      });
    }
    case "openai": {
      if (choice.baseUrl.length === 0 || choice.model === undefined) {
        throw new ConfigError(
          "`--backend openai` needs `--base-url URL` (repeatable, e.g. http://127.0.0.1:8000/v1) and `--model NAME`",
        );
      }
      const { openaiBackend } = await import("../backends/openai/index.js");
      return openaiBackend({
        baseUrls: [...choice.baseUrl],
        model: choice.model,
        ...(choice.apiKeyEnv !== undefined && { apiKeyEnv: choice.apiKeyEnv }),
        ...(choice.context !== undefined && { contextWindow: choice.context }),
      });
    }
    case "onnx": {
      const embedded = choice.model === undefined ? embeddedModelDir() : undefined;
      const modelDir = choice.model ?? embedded;
      if (modelDir === undefined) {
        throw new ConfigError(
          "The embedded model is missing (models/pacore-tiny); pass `--model DIR` (a model directory in the onnx-community layout) or `--backend simulated`",
        );
      }
      const { onnxBackend } = await import("../backends/onnx/index.js");
      const maxBatchSize =
        choice.maxBatchSize ?? (embedded !== undefined ? EMBEDDED_MODEL_BATCH_SIZE : undefined);
      // The embedded model is so small that a CPU serves it best: no CUDA probe for it.
      const device = choice.device ?? (embedded !== undefined ? "cpu" : undefined);
      return onnxBackend(
        {
          modelDir,
          ...(device !== undefined && { device }),
          ...(maxBatchSize !== undefined && { maxBatchSize }),
          ...(choice.context !== undefined && { contextWindow: choice.context }),
        },
        hooks,
      );
    }
  }
}
