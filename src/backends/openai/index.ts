/**
 * The OpenAI-compatible backend (vLLM, SGLang, llama.cpp, Ollama, and clusters of them).
 * The only module that imports undici.
 */
export { EndpointRouter, type EndpointStats, type RequestOutcome } from "./endpoint-router.js";
export { AttemptError, parseRetryAfterMs } from "./http-attempt.js";
export type { TokenCountSource } from "./model-info.js";
export {
  type OpenAIBackend,
  type OpenAIBackendStats,
  type OpenAIEndpointStats,
  openaiBackend,
} from "./openai-backend.js";
export {
  DEFAULT_TIMEOUT_MS,
  type EndpointAddress,
  NModeSchema,
  normalizeBaseUrl,
  type OpenAIBackendOptions,
  type OpenAIBackendOptionsInput,
  OpenAIBackendOptionsSchema,
  parseOpenAIBackendOptions,
} from "./options.js";
