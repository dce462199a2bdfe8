/**
 * A backend for engine tests: outputs derived from each sample's seed, optional latency and
 * injected failures, and a record of every call and of the most calls in flight at once.
 */
import { AbortError, BackendError } from "../../src/common/errors.js";
import { estimateTokens } from "../../src/common/estimate-tokens.js";
import { messageText } from "../../src/core/tokens.js";
import type {
  ChatMessage,
  Completion,
  GenerateRequest,
  ModelBackend,
} from "../../src/spec/backend.js";

export interface ScriptedOptions {
  /** Delay of each call in ms (a number, or a function of the call number). */
  readonly latencyMs?: number | ((call: number) => number);
  /** Decides, per call, whether it fails and how. */
  readonly fail?: (call: number, request: GenerateRequest) => Error | undefined;
  /** The text a sample produces (default: reasoning, then an answer from the seed). */
  readonly text?: (seed: number, request: GenerateRequest) => string;
  readonly maxConcurrency?: number;
  readonly maxSamplesPerCall?: number;
  readonly contextWindow?: number;
  readonly defaultMaxTokens?: number;
  /** Count tokens with the estimate (default true). */
  readonly countTokens?: boolean;
}

export interface ScriptedBackend extends ModelBackend {
  /** Every request, in the order calls started. */
  readonly requests: GenerateRequest[];
  /** Calls started, failed ones included. */
  calls: number;
  inFlight: number;
  maxInFlight: number;
}

export function defaultText(seed: number): string {
  return `<think>thinking about ${seed}</think>The answer is ${seed % 7}.`;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError());
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortError());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export function scriptedBackend(options: ScriptedOptions = {}): ScriptedBackend {
  const text = options.text ?? defaultText;
  const backend: ScriptedBackend = {
    specificationVersion: "v1",
    provider: "scripted",
    model: "scripted-model",
    maxConcurrency: options.maxConcurrency,
    maxSamplesPerCall: options.maxSamplesPerCall,
    requests: [],
    calls: 0,
    inFlight: 0,
    maxInFlight: 0,
    async generate(request) {
      const call = backend.calls++;
      backend.requests.push(request);
      backend.inFlight++;
      backend.maxInFlight = Math.max(backend.maxInFlight, backend.inFlight);
      try {
        const latency =
          typeof options.latencyMs === "function" ? options.latencyMs(call) : options.latencyMs;
        if (latency) await sleep(latency, request.signal);
        else await Promise.resolve();
        const failure = options.fail?.(call, request);
        if (failure) throw failure;
        const promptTokens = estimateTokens(request.messages);
        const completions: Completion[] = [];
        for (let sample = 0; sample < request.n; sample++) {
          const full = text(request.seeds?.[sample] ?? sample, request);
          const end = full.lastIndexOf("</think>");
          completions.push({
            content: end === -1 ? full : full.slice(end + 8),
            ...(end !== -1 && { reasoning: full.slice(7, end) }),
            finishReason: "stop",
            usage: { promptTokens, completionTokens: estimateTokens(full), cachedTokens: 0 },
          });
        }
        return { completions };
      } finally {
        backend.inFlight--;
      }
    },
    ...(options.contextWindow !== undefined && {
      contextWindow: async () => options.contextWindow,
    }),
    ...(options.defaultMaxTokens !== undefined && { defaultMaxTokens: options.defaultMaxTokens }),
    ...(options.countTokens !== false && {
      countTokens: async (input: string | readonly ChatMessage[]) => estimateTokens(input),
    }),
  };
  return backend;
}

export function transientError(): BackendError {
  return new BackendError("injected transient failure", { retryable: true, status: 503 });
}

/** Text of the last user turn of a request. */
export function lastUserText(request: GenerateRequest): string {
  const turns = request.messages.filter((message) => message.role === "user");
  return messageText(turns[turns.length - 1]);
}
