/**
 * Messages between the ONNX backend (main thread) and its generation workers. Plain data only:
 * everything crosses `postMessage` by structured clone.
 */
import type { EngineStats, GenerationJob, RowOutcome } from "./generation-engine.js";
import type { DeviceTarget } from "./options.js";

/** What a worker is started with (`workerData`). */
export interface WorkerSetup {
  readonly modelDir: string;
  readonly variant: string;
  readonly target: DeviceTarget;
  readonly threads: { readonly intraOp?: number; readonly interOp?: number };
  readonly maxBatchSize: number;
  readonly contextWindow: number;
  readonly prefixCacheBytes?: number;
}

/** An error as it crosses the thread boundary. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly retryable: boolean;
}

/** Main thread → worker. */
export type WorkerRequest =
  | { readonly type: "generate"; readonly id: number; readonly job: GenerationJob }
  | { readonly type: "cancel"; readonly id: number }
  | { readonly type: "stats"; readonly id: number }
  | { readonly type: "close" };

/** Where a worker's session runs, reported once it is ready. */
export interface WorkerReady {
  readonly type: "ready";
  readonly provider: "cpu" | "cuda" | "webgpu";
  readonly deviceId?: number;
  readonly variant: string;
  readonly cacheType: "float32" | "float16";
  readonly outputsOnDevice: boolean;
}

/** Worker → main thread. */
export type WorkerReply =
  | WorkerReady
  | { readonly type: "warning"; readonly message: string }
  | { readonly type: "setup-error"; readonly error: SerializedError }
  | { readonly type: "delta"; readonly id: number; readonly sample: number; readonly text: string }
  | { readonly type: "done"; readonly id: number; readonly outcomes: RowOutcome[] }
  | { readonly type: "failed"; readonly id: number; readonly error: SerializedError }
  | { readonly type: "stats"; readonly id: number; readonly stats: EngineStats }
  | { readonly type: "closed" };

/** Flattens any thrown value for `postMessage`. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const retryable = (error as { retryable?: unknown }).retryable;
    return {
      name: error.name,
      message: error.message,
      ...(typeof code === "string" && { code }),
      retryable: retryable === true,
    };
  }
  return { name: "Error", message: String(error), retryable: false };
}
