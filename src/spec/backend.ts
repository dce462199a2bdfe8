/**
 * The model-backend contract: one interface for every model (local ONNX, OpenAI-compatible
 * servers, plain async functions, the simulator). Types only.
 *
 * A backend takes one chat request and returns `n` completions of it. Asking for `n > 1` in one
 * call lets a backend share the prompt's prefix (OpenAI `n`, KV-cache reuse in the ONNX engine).
 */

/** A text part of a message's content. */
export interface TextPart {
  readonly type: "text";
  readonly text: string;
}

/**
 * An image part of a message's content.
 * `image` is a URL (`https://…`), a data URL (`data:image/png;base64,…`) or a local file path;
 * backends that send images elsewhere turn local paths into data URLs.
 */
export interface ImagePart {
  readonly type: "image";
  readonly image: string;
  /** IANA media type, such as `image/png`, when known. */
  readonly mediaType?: string;
}

export type ContentPart = TextPart | ImagePart;

export type ChatRole = "system" | "user" | "assistant";

/** One chat turn. `content` is plain text or a list of text and image parts. */
export interface ChatMessage {
  readonly role: ChatRole;
  readonly content: string | readonly ContentPart[];
}

/** Sampling settings of one request. Omitted fields take the backend's defaults. */
export interface SamplingOptions {
  /** 0 means greedy decoding. The PaCoRe paper samples at 1.0. */
  readonly temperature?: number;
  /** Nucleus sampling mass in (0, 1]. */
  readonly topP?: number;
  /** Keep only the k most likely tokens; 0 or undefined means no limit. */
  readonly topK?: number;
  /** Most tokens to generate per completion (reasoning included). */
  readonly maxTokens?: number;
  /** Strings that end a completion; the stop string itself is not part of the content. */
  readonly stop?: readonly string[];
}

/** Why a completion ended. */
export type FinishReason = "stop" | "length" | "abort" | "error" | "other";

/** Token accounting of one completion. */
export interface Usage {
  /** Tokens in the prompt, as the backend counted them. */
  readonly promptTokens: number;
  /** Tokens generated, reasoning included. */
  readonly completionTokens: number;
  /** Prompt tokens served from a prefix cache (0 when unknown). */
  readonly cachedTokens: number;
}

/** Streaming callback: `sample` is the index of the completion within the request. */
export type DeltaListener = (delta: { readonly sample: number; readonly text: string }) => void;

/** One call to a backend: `n` samples of the same prompt. */
export interface GenerateRequest {
  readonly messages: readonly ChatMessage[];
  readonly sampling: SamplingOptions;
  /** Number of completions wanted, at least 1. */
  readonly n: number;
  /**
   * One seed per completion (length `n`). A backend that can seed each sample uses these, so a
   * trajectory's randomness depends only on its own seed, never on what shares its call.
   */
  readonly seeds?: readonly number[];
  /** Ask for the log-probability of each sampled token, where the backend can give it. */
  readonly logprobs?: boolean;
  /** Aborting stops the call; the backend rejects with an abort error. */
  readonly signal?: AbortSignal;
  /**
   * Most milliseconds the call may go without progress (a byte from a server, a token from a
   * model) before it fails with `PACORE_ERR_TIMEOUT` (retryable). Silence, not length, ends a
   * call: a long generation that keeps streaming is never cut. A backend that cannot observe
   * progress applies it to the whole call. Undefined: the backend's own default.
   */
  readonly timeoutMs?: number;
  /** Called with generated text as it arrives, where the backend streams. */
  readonly onDelta?: DeltaListener;
}

/** One completion of a request. */
export interface Completion {
  /** The answer text: everything after the reasoning. Verbatim, never trimmed. */
  readonly content: string;
  /** The reasoning text, when the model or server separates it (`<think>…</think>`). */
  readonly reasoning?: string;
  readonly finishReason: FinishReason;
  readonly usage: Usage;
  /** Generated token ids only (special tokens such as `</think>` included, no prompt ids). */
  readonly tokenIds?: readonly number[];
  /** Log-probability of each sampled token, aligned with `tokenIds`. */
  readonly logprobs?: readonly number[];
}

export interface GenerateResult {
  /** Exactly `n` completions, in sample order. */
  readonly completions: readonly Completion[];
}

/**
 * A model backend. Write one by implementing `generate`; wrap a plain async function with
 * `functionBackend` instead.
 */
export interface ModelBackend {
  /** Contract version: a breaking change to this interface bumps it. */
  readonly specificationVersion: "v1";
  /** Backend kind, such as `onnx`, `openai`, `function`, `simulated`. */
  readonly provider: string;
  /** Model name as reported in results. */
  readonly model: string;
  /** Most calls this backend accepts at once; the engine enforces it across all runs. */
  readonly maxConcurrency?: number;
  /** Most samples one call may ask for (`n`); the engine splits larger fan-outs. Default 1. */
  readonly maxSamplesPerCall?: number;
  /** Generates `request.n` completions of one prompt. Rejects with a `BackendError` on failure. */
  generate(request: GenerateRequest): Promise<GenerateResult>;
  /**
   * The model's own output budget per call, used when a run sets no `maxTokens` (an ONNX model
   * directory's `generation_config.json` `max_new_tokens`). Small-window models need it: without
   * it the engine gives the output all the room that the references do not strictly need.
   */
  readonly defaultMaxTokens?: number;
  /** The context window in tokens (prompt plus output), when the backend knows it. */
  contextWindow?(): Promise<number | undefined>;
  /**
   * Counts tokens: of a plain string, or of a message list as the model would see it (chat
   * template included).
   */
  countTokens?(input: string | readonly ChatMessage[]): Promise<number>;
  /**
   * Why `countTokens` answered with an estimate, for a backend that falls back to one (a server
   * without a tokenize route); undefined while its counts are exact. A fact, not a warning: the
   * engine warns once, into the run's `warnings`.
   */
  estimatedTokenCounts?(): string | undefined;
  /** Releases sessions, sockets and workers. */
  close?(): Promise<void>;
}
