/**
 * The OpenAI-compatible backend (vLLM, SGLang, llama.cpp, Ollama, and clusters of them).
 * The only module that imports undici.
 */
export { EndpointRouter, type EndpointStats, type RequestOutcome } from "./endpoint-router.js";
export {
  type AttemptFailureReport,
  type OpenAIBackend,
  type OpenAIBackendHooks,
  type OpenAIBackendStats,
  type OpenAIEndpointStats,
  openaiBackend,
} from "./openai-backend.js";
export {
  BackoffSchema,
  type EndpointAddress,
  NModeSchema,
  normalizeBaseUrl,
  type OpenAIBackendOptions,
  type OpenAIBackendOptionsInput,
  OpenAIBackendOptionsSchema,
  parseOpenAIBackendOptions,
  TimeoutsSchema,
} from "./options.js";
export { backoffDelayMs, parseRetryAfterMs, RETRYABLE_STATUSES } from "./retry-policy.js";
