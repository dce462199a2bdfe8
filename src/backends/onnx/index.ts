/**
 * The ONNX backend: decoder LLMs in the onnx-community / Optimum layout on onnxruntime-node.
 * The only module of pacore that imports onnxruntime-node, and only when a backend is opened
 * (inside its worker threads).
 */
export { ChatPrompter, type ChatPrompterOptions, messageText } from "./chat-prompt.js";
export {
  CUDA_INSTALL_HINT,
  type OpenedSession,
  openSession,
  type ProviderName,
  type SessionFactory,
  type SessionThreads,
  sessionOptionsFor,
} from "./devices.js";
export type { EngineStats, RowOutcome } from "./generation-engine.js";
export {
  type DecoderConfig,
  type GenerationDefaults,
  loadModelDirectory,
  type ModelDirectory,
  type ModelFileChoice,
} from "./model-directory.js";
/** Same as {@link onnxBackend}: opens a model directory and returns an ONNX backend. */
export {
  type OnnxBackend,
  type OnnxBackendHooks,
  type OnnxSessionInfo,
  onnxBackend,
  onnxBackend as createOnnxBackend,
} from "./onnx-backend.js";
export {
  type DeviceTarget,
  type OnnxBackendOptions,
  OnnxBackendOptionsSchema,
  parseDevice,
  type ResolvedOnnxBackendOptions,
} from "./options.js";
export { type RowSampling, type SampledToken, TokenSampler } from "./sampling.js";
