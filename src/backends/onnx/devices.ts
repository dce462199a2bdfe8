/**
 * Opening a decoder session on a device. onnxruntime-node does not fall back by itself when
 * the CUDA provider libraries are missing, so `auto` tries CUDA and falls back to the CPU with
 * one warning, and `cuda` fails with an error that says how to get the libraries. The session
 * factory is injected so that provider selection can be tested without a GPU.
 *
 * What the tests verify: CPU sessions and the `auto` fallback run for real (on a machine without
 * the CUDA provider libraries); the CUDA options (`{ name: 'cuda', deviceId }`, one session per
 * listed device), the `cuda` error and the WebGPU options (`preferredOutputLocation:
 * 'gpu-buffer'`) are checked through an injected factory only, since no GPU is available there.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { InferenceSession } from "onnxruntime-node";
import { ConfigError } from "../../common/errors.js";
import type { DeviceTarget } from "./options.js";

/** Creates a session from a model path (`ort.InferenceSession.create`, or a fake in tests). */
export type SessionFactory<Session> = (
  modelPath: string,
  options: InferenceSession.SessionOptions,
) => Promise<Session>;

/** CPU thread settings of a session. */
export interface SessionThreads {
  readonly intraOp?: number;
  readonly interOp?: number;
}

/** Which provider a session ended up on. */
export type ProviderName = "cpu" | "cuda" | "webgpu";

/** A session and where it runs. */
export interface OpenedSession<Session> {
  readonly session: Session;
  readonly provider: ProviderName;
  readonly deviceId?: number;
  /** True when outputs stay on the device (`gpu-buffer`) and must be downloaded to be read. */
  readonly outputsOnDevice: boolean;
}

/** How to get CUDA support, for error and warning messages. */
export const CUDA_INSTALL_HINT =
  "onnxruntime-node ships CPU binaries only; install the CUDA 12 provider with `npm install onnxruntime-node --onnxruntime-node-install=cuda12` (or `npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12`; it downloads from NuGet, outside the npm registry) and put CUDA 12 and cuDNN 9 on the library path";

/**
 * The session options of a provider: execution provider, CPU threads, and for WebGPU outputs
 * kept on the GPU so that the KV cache need not cross to the host at each step.
 */
export function sessionOptionsFor(
  provider: ProviderName,
  deviceId: number | undefined,
  threads: SessionThreads,
): InferenceSession.SessionOptions {
  const common: InferenceSession.SessionOptions = {
    graphOptimizationLevel: "all",
    ...(threads.intraOp !== undefined && { intraOpNumThreads: threads.intraOp }),
    ...(threads.interOp !== undefined && { interOpNumThreads: threads.interOp }),
  };
  switch (provider) {
    case "cpu":
      return { ...common, executionProviders: ["cpu"] };
    case "cuda":
      return { ...common, executionProviders: [{ name: "cuda", deviceId: deviceId ?? 0 }] };
    case "webgpu":
      return {
        ...common,
        executionProviders: ["webgpu"],
        preferredOutputLocation: "gpu-buffer",
      };
  }
}

/** Where onnxruntime-node keeps its native libraries, or undefined when it cannot be found. */
export function nativeLibraryDir(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const entry = require.resolve("onnxruntime-node");
    return join(dirname(entry), "..", "bin", "napi-v6", process.platform, process.arch);
  } catch {
    return undefined;
  }
}

function cudaLibraryNote(): string {
  const dir = nativeLibraryDir();
  if (dir === undefined) return "";
  const file =
    process.platform === "win32"
      ? "onnxruntime_providers_cuda.dll"
      : "libonnxruntime_providers_cuda.so";
  return existsSync(join(dir, file)) ? "" : ` (${file} is not in ${dir})`;
}

function reason(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}

/**
 * Opens a session for one device target. `auto` tries CUDA device 0, and on failure calls
 * `warn` once and opens a CPU session; `cuda` and `webgpu` fail with a `ConfigError` that names
 * the fix.
 */
export async function openSession<Session>(
  factory: SessionFactory<Session>,
  modelPath: string,
  target: DeviceTarget,
  threads: SessionThreads,
  warn: (message: string) => void,
): Promise<OpenedSession<Session>> {
  const open = async (provider: ProviderName, deviceId?: number) => ({
    session: await factory(modelPath, sessionOptionsFor(provider, deviceId, threads)),
    provider,
    ...(deviceId !== undefined && { deviceId }),
    outputsOnDevice: provider === "webgpu",
  });
  switch (target.kind) {
    case "cpu":
      return open("cpu");
    case "auto":
      try {
        return await open("cuda", 0);
      } catch (error) {
        warn(
          `--device auto: CUDA is not usable (${reason(error)}${cudaLibraryNote()}), running on the CPU. For CUDA: ${CUDA_INSTALL_HINT}. Pass \`--device cpu\` to skip this check.`,
        );
        return open("cpu");
      }
    case "cuda":
      try {
        return await open("cuda", target.deviceId);
      } catch (error) {
        throw new ConfigError(
          `--device cuda:${target.deviceId}: the CUDA execution provider could not start (${reason(error)}${cudaLibraryNote()}). ${CUDA_INSTALL_HINT}; or pass \`--device cpu\``,
          { cause: error },
        );
      }
    case "webgpu":
      try {
        return await open("webgpu");
      } catch (error) {
        throw new ConfigError(
          `--device webgpu: the WebGPU execution provider could not start (${reason(error)}). It needs a GPU adapter: on Linux a Vulkan driver (libvulkan.so.1 and the GPU's ICD); or pass \`--device cpu\``,
          { cause: error },
        );
      }
  }
}
