/**
 * The OpenAI-compatible server: strategies behind a model name (`pacore-high`, `pacore:16,4`,
 * `self-consistency:8`, …). `createHandler` mounts in any `node:http` server; `createServer`
 * wraps it in one.
 */
export { HttpError, type OpenAIErrorType, toHttpError } from "./errors.js";
export {
  createHandler,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_CONCURRENT_REQUESTS,
  DEFAULT_MAX_TRAJECTORIES,
  type ServeHandler,
  type ServeOptions,
} from "./handler.js";
export {
  listedModels,
  PRESET_MODELS,
  parseModelName,
  resolveStrategy,
  type StrategyDefaults,
  type StrategySettings,
  UnknownModelError,
} from "./models.js";
export { type ChatCompletionRequest, ChatCompletionRequestSchema } from "./request.js";
export { createServer, type PacoreServer } from "./server.js";
