/**
 * Builds the backend a command asked for. Heavy backends are imported lazily so that
 * `--backend simulated` never loads onnxruntime or undici.
 */
import { ConfigError } from "../core/errors.js";
import type { ModelBackend } from "../spec/backend.js";

export const BACKEND_NAMES = ["simulated", "openai", "onnx"] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendChoice {
  readonly backend: BackendName;
  readonly model?: string;
  readonly baseUrl: readonly string[];
  /** Name of the environment variable that holds the API key (openai). */
  readonly apiKeyEnv?: string;
  readonly device?: string;
  readonly context?: number;
}

/** The backend for `--backend`, `--model`, `--base-url` and `--device`. */
export async function createBackend(choice: BackendChoice): Promise<ModelBackend> {
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
  if (choice.backend !== "onnx" && choice.device !== undefined) {
    throw new ConfigError(
      `\`--device\` is for \`--backend onnx\`, got \`--backend ${choice.backend}\``,
    );
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
      if (choice.model === undefined) {
        throw new ConfigError(
          "`--backend onnx` needs `--model DIR`: a model directory in the onnx-community layout",
        );
      }
      const { onnxBackend } = await import("../backends/onnx/index.js");
      return onnxBackend({
        modelDir: choice.model,
        ...(choice.device !== undefined && { device: choice.device }),
        ...(choice.context !== undefined && { contextWindow: choice.context }),
      });
    }
  }
}
