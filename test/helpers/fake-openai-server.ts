/**
 * A fake OpenAI-compatible server on a real `node:http` socket (port 0), for tests and
 * benchmarks. It plays back the quirks of vLLM, SGLang and llama.cpp (where the reasoning goes,
 * whether `n` is honoured, how usage and server-sent events look, which info routes exist), can
 * inject faults on a schedule, and records every request it received.
 *
 * @example
 * ```ts
 * const server = await startFakeOpenAIServer({ flavour: "llamacpp", faults: [{ kind: "reset" }] });
 * const backend = openaiBackend({ baseUrls: [server.baseUrl], model: server.model });
 * // … generate: the first call fails (PACORE_ERR_UNREACHABLE), the next one succeeds …
 * assert.equal(server.chatRequests().length, 2);
 * await server.close();
 * ```
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** Which server to imitate. */
export type FakeFlavour = "vllm" | "sglang" | "llamacpp";

/** Where a flavour puts the reasoning of a `<think>` model. */
export type ReasoningPlacement = "reasoning" | "reasoning_content" | "inline";

/** A fault injected into one chat-completion request. */
export type Fault =
  /** Answer with this status (and a JSON error body), optionally with a `Retry-After` header. */
  | { readonly kind: "status"; readonly status: number; readonly retryAfter?: string }
  /** Close the connection without any response. */
  | { readonly kind: "reset" }
  /**
   * Send the headers and part of the body, then close the connection: `afterEvents` events of a
   * stream (default 2), or half of a whole JSON body.
   */
  | { readonly kind: "reset-mid-stream"; readonly afterEvents?: number }
  /** Wait `delayMs` before sending the headers, then answer normally. */
  | { readonly kind: "slow-headers"; readonly delayMs: number }
  /** A 200 whose body is not valid JSON (a cut JSON document, or a broken event). */
  | { readonly kind: "malformed" }
  /** A 200 stream that ends cleanly but early: no finish reason and no `[DONE]`. */
  | { readonly kind: "truncated" }
  /** A 400 "prompt too long" error worded as the flavour words it. */
  | { readonly kind: "context-length" }
  /** Send the 200 headers, then nothing, ever (a hung server). */
  | { readonly kind: "stall" }
  /**
   * A slow generation: the reply of sample 0 in `events` pieces, one every `intervalMs`
   * (streamed; without streaming, the whole answer once they have all "arrived").
   */
  | { readonly kind: "trickle"; readonly intervalMs: number; readonly events: number };

/** One request the server received, in arrival order. */
export interface ReceivedRequest {
  /** 0-based position among all requests. */
  readonly index: number;
  /** 0-based position among chat-completion requests (undefined for other routes). */
  readonly chatIndex?: number;
  readonly method: string;
  /** Path with query, such as `/v1/chat/completions`. */
  readonly path: string;
  readonly headers: IncomingMessage["headers"];
  /** The raw body text, byte for byte as received. */
  readonly rawBody: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly body: Record<string, unknown> | undefined;
  /** Milliseconds since the server started when the request arrived. */
  readonly receivedAtMs: number;
  /** The fault injected into it, if any. */
  readonly fault?: Fault;
}

/** What the reply function is given for each sample. */
export interface ReplyContext {
  readonly request: ReceivedRequest;
  /** Index of the choice within the response. */
  readonly sample: number;
  /** The request's `seed`, if any. */
  readonly seed?: number;
}

/** Options of {@link startFakeOpenAIServer}. */
export interface FakeOpenAIServerOptions {
  /** Server to imitate. Default `vllm`. */
  readonly flavour?: FakeFlavour;
  /** Model id served. Default `fake-model`. */
  readonly model?: string;
  /**
   * Context window: `max_model_len` in `/v1/models` (vLLM, SGLang), `n_ctx` in `/props`
   * (llama.cpp), and the limit behind 400 "prompt too long" answers. Default 32768.
   */
  readonly maxModelLen?: number;
  /** Serve `/v1/models` with the window. Default true. */
  readonly modelsRoute?: boolean;
  /** Serve `/tokenize` (vLLM and SGLang only). Default true for them. */
  readonly tokenizeRoute?: boolean;
  /** Where reasoning goes. Default: vLLM `reasoning`, SGLang `reasoning_content`, llama.cpp inline. */
  readonly reasoning?: ReasoningPlacement;
  /** Milliseconds before each chat completion is answered. Default 0. */
  readonly latencyMs?: number;
  /**
   * The raw model output of one sample (reasoning in `<think>…</think>`, then the answer).
   * Default: `<think>Reasoning of seed S, sample I.</think>The answer is 4.`
   */
  readonly reply?: (context: ReplyContext) => string;
  /**
   * Faults by chat-request index (a list; entries past its end and `undefined` entries mean no
   * fault), or a function of the request.
   */
  readonly faults?:
    | readonly (Fault | undefined)[]
    | ((request: ReceivedRequest) => Fault | undefined);
  /** `prompt_tokens_details.cached_tokens` to report (llama.cpp: `timings.cache_n`). Default 0. */
  readonly cachedTokens?: number;
  /** Characters of generated text per streamed event. Default 8 (two fake tokens). */
  readonly streamChunkChars?: number;
  /** Line ending of server-sent events. Default `\n`. */
  readonly lineEnding?: "\n" | "\r\n";
  /** Write every event in two pieces, so that frames arrive split. Default false. */
  readonly splitEvents?: boolean;
}

/** A running fake server. */
export interface FakeOpenAIServer {
  /** Base URL including `/v1`, such as `http://127.0.0.1:53211/v1`. */
  readonly baseUrl: string;
  readonly port: number;
  readonly model: string;
  readonly flavour: FakeFlavour;
  /** Every request received, in order. */
  readonly requests: readonly ReceivedRequest[];
  /** The chat-completion requests only, in order. */
  chatRequests(): ReceivedRequest[];
  /** Chat completions being answered now. */
  readonly inFlight: number;
  /** Most chat completions answered at once so far. */
  readonly peakInFlight: number;
  /** Stops listening and destroys open connections. */
  close(): Promise<void>;
}

/**
 * The fake server's token count of a text: one token per 4 characters, rounded up. Usage,
 * `/tokenize`, log-probs and the context check all use it, so tests can predict every count.
 */
export function fakeTokenCount(text: string): number {
  return Math.ceil(text.length / 4);
}

/** The fake's tokens of a text: 4-character pieces. */
export function fakeTokens(text: string): string[] {
  const tokens: string[] = [];
  for (let i = 0; i < text.length; i += 4) tokens.push(text.slice(i, i + 4));
  return tokens;
}

/** Log-probability the fake reports for the `j`-th sampled token. */
export function fakeLogprob(j: number): number {
  return -((j % 7) + 1) / 10;
}

/** The default reply of sample `sample` with seed `seed`. */
export function defaultReply(context: ReplyContext): string {
  return `<think>Reasoning of seed ${context.seed ?? "none"}, sample ${context.sample}.</think>The answer is 4.`;
}

/** A base URL where nothing listens (a port just released), for dead-endpoint tests. */
export async function deadBaseUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/v1`;
}

/** Text of the prompt as the fake counts it: every message's text parts joined. */
function promptText(messages: unknown): string {
  if (!Array.isArray(messages)) return "";
  return messages
    .map((message) => {
      const content = (message as { content?: unknown }).content;
      if (typeof content === "string") return content;
      if (!Array.isArray(content)) return "";
      return content
        .map((part) =>
          (part as { type?: string }).type === "text" ? (part as { text: string }).text : "[image]",
        )
        .join("");
    })
    .join("\n");
}

interface Sample {
  readonly reasoning?: string;
  readonly content: string;
  readonly raw: string;
  readonly finishReason: "stop" | "length";
}

/**
 * Starts a fake server on `127.0.0.1`, port 0. Routes: `POST /v1/chat/completions`,
 * `GET /v1/models`, `POST /tokenize` (vLLM, SGLang), `GET /props` (llama.cpp).
 */
export async function startFakeOpenAIServer(
  options: FakeOpenAIServerOptions = {},
): Promise<FakeOpenAIServer> {
  const flavour = options.flavour ?? "vllm";
  const model = options.model ?? "fake-model";
  const maxModelLen = options.maxModelLen ?? 32_768;
  const placement =
    options.reasoning ??
    (flavour === "vllm" ? "reasoning" : flavour === "sglang" ? "reasoning_content" : "inline");
  const tokenizeRoute = options.tokenizeRoute ?? flavour !== "llamacpp";
  const modelsRoute = options.modelsRoute ?? true;
  const reply = options.reply ?? defaultReply;
  const chunkChars = options.streamChunkChars ?? 8;
  const eol = options.lineEnding ?? "\n";
  const startedAt = Date.now();
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  let chatCount = 0;
  let inFlight = 0;
  let peakInFlight = 0;

  const faultFor = (request: ReceivedRequest): Fault | undefined => {
    const { faults } = options;
    if (!faults) return undefined;
    if (typeof faults === "function") return faults(request);
    return request.chatIndex === undefined ? undefined : faults[request.chatIndex];
  };

  const sendJson = (response: ServerResponse, status: number, body: unknown, headers = {}) => {
    const text = JSON.stringify(body);
    response.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
      ...headers,
    });
    response.end(text);
  };

  const errorBody = (status: number, message: string) =>
    flavour === "llamacpp"
      ? {
          error: {
            code: status,
            message,
            type: status === 400 ? "invalid_request_error" : "server_error",
          },
        }
      : {
          object: "error",
          message,
          type: status === 400 ? "BadRequestError" : "InternalServerError",
          param: null,
          code: status,
        };

  const contextLengthBody = (promptTokens: number, requested: number) => {
    if (flavour === "vllm") {
      return errorBody(
        400,
        `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${requested} tokens (${promptTokens} in the messages, ${requested - promptTokens} in the completion). Please reduce the length of the messages or completion.`,
      );
    }
    if (flavour === "sglang") {
      return errorBody(
        400,
        `The input (${promptTokens} tokens) is longer than the model's context length (${maxModelLen} tokens).`,
      );
    }
    return {
      error: {
        code: 400,
        message: "the request exceeds the available context size, try increasing it",
        type: "exceed_context_size_error",
        n_prompt_tokens: promptTokens,
        n_ctx: maxModelLen,
      },
    };
  };

  const makeSample = (
    request: ReceivedRequest,
    sample: number,
    seed: number | undefined,
    maxTokens: number | undefined,
  ): Sample => {
    let raw = reply({ request, sample, seed });
    let finishReason: Sample["finishReason"] = "stop";
    if (maxTokens !== undefined && fakeTokenCount(raw) > maxTokens) {
      raw = raw.slice(0, maxTokens * 4);
      finishReason = "length";
    }
    if (placement === "inline") return { content: raw, raw, finishReason };
    const close = raw.lastIndexOf("</think>");
    if (close < 0) return { content: raw, raw, finishReason };
    const open = raw.indexOf("<think>");
    const start = open >= 0 && open < close ? open + "<think>".length : 0;
    return {
      reasoning: raw.slice(start, close),
      content: raw.slice(close + "</think>".length),
      raw,
      finishReason,
    };
  };

  const usageOf = (promptTokens: number, samples: readonly Sample[]) => {
    const completionTokens = samples.reduce((sum, sample) => sum + fakeTokenCount(sample.raw), 0);
    const cached = options.cachedTokens ?? 0;
    return {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      ...(flavour !== "llamacpp" && cached > 0
        ? { prompt_tokens_details: { cached_tokens: cached } }
        : {}),
    };
  };

  const logprobsOf = (text: string, offset = 0) => ({
    content: fakeTokens(text).map((token, j) => ({
      token,
      logprob: fakeLogprob(offset + j),
      bytes: null,
      top_logprobs: [],
    })),
  });

  const tokenIdsOf = (text: string) => fakeTokens(text).map((token) => token.charCodeAt(0));

  const trickle = async (
    request: ReceivedRequest,
    response: ServerResponse,
    socket: Socket,
    fault: { readonly intervalMs: number; readonly events: number },
  ) => {
    const raw = reply({ request, sample: 0, seed: request.body?.seed as number | undefined });
    const size = Math.ceil(raw.length / fault.events);
    const pieces = Array.from({ length: fault.events }, (_, i) =>
      raw.slice(i * size, (i + 1) * size),
    );
    const promptTokens = fakeTokenCount(promptText(request.body?.messages));
    const usage = usageOf(promptTokens, [{ content: raw, raw, finishReason: "stop" }]);
    const wait = () => new Promise((resolve) => setTimeout(resolve, fault.intervalMs));
    const base = { id: `chatcmpl-${request.index}`, created: 0, model };
    if (request.body?.stream !== true) {
      for (const _ of pieces) await wait();
      if (socket.destroyed) return;
      sendJson(response, 200, {
        ...base,
        object: "chat.completion",
        choices: [
          { index: 0, message: { role: "assistant", content: raw }, finish_reason: "stop" },
        ],
        usage,
      });
      return;
    }
    response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    response.flushHeaders();
    const event = (data: unknown) =>
      response.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}${eol}${eol}`);
    const chunk = (choices: unknown[], extra = {}) => ({
      ...base,
      object: "chat.completion.chunk",
      choices,
      ...extra,
    });
    for (const piece of pieces) {
      await wait();
      if (socket.destroyed) return;
      event(chunk([{ index: 0, delta: { content: piece }, finish_reason: null }]));
    }
    event(chunk([{ index: 0, delta: {}, finish_reason: "stop" }]));
    event(chunk([], { usage }));
    event("[DONE]");
    response.end();
  };

  const handleChat = async (request: ReceivedRequest, response: ServerResponse, socket: Socket) => {
    const body = request.body ?? {};
    const fault = request.fault;
    if (fault?.kind === "reset") {
      socket.destroy();
      return;
    }
    if (options.latencyMs) await new Promise((resolve) => setTimeout(resolve, options.latencyMs));
    if (fault?.kind === "slow-headers")
      await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (socket.destroyed) return;
    if (fault?.kind === "status") {
      sendJson(
        response,
        fault.status,
        errorBody(fault.status, `injected fault ${fault.status}`),
        fault.retryAfter === undefined ? {} : { "retry-after": fault.retryAfter },
      );
      return;
    }
    if (fault?.kind === "stall") {
      response.writeHead(200, {
        "content-type": body.stream === true ? "text/event-stream" : "application/json",
      });
      response.flushHeaders();
      await new Promise((resolve) => socket.once("close", resolve));
      return;
    }
    if (fault?.kind === "trickle") {
      await trickle(request, response, socket, fault);
      return;
    }
    const promptTokens = fakeTokenCount(promptText(body.messages));
    const maxTokens = typeof body.max_tokens === "number" ? body.max_tokens : undefined;
    if (fault?.kind === "context-length" || promptTokens + (maxTokens ?? 0) > maxModelLen) {
      sendJson(response, 400, contextLengthBody(promptTokens, promptTokens + (maxTokens ?? 0)));
      return;
    }
    const requested = typeof body.n === "number" ? body.n : 1;
    const n = flavour === "llamacpp" ? 1 : requested;
    const seed = typeof body.seed === "number" ? body.seed : undefined;
    const samples = Array.from({ length: n }, (_, i) => makeSample(request, i, seed, maxTokens));
    const wantLogprobs = body.logprobs === true;
    const wantTokenIds = flavour === "vllm" && body.return_token_ids === true;
    const id = `chatcmpl-${request.index}`;
    const created = Math.floor(Date.now() / 1000);

    if (body.stream === true) {
      const events: string[] = [];
      const event = (data: unknown) =>
        events.push(`data: ${typeof data === "string" ? data : JSON.stringify(data)}${eol}${eol}`);
      const chunk = (choices: unknown[], extra = {}) => ({
        id,
        object: "chat.completion.chunk",
        created,
        model,
        choices,
        ...extra,
      });
      if (flavour === "sglang") events.push(`: ping${eol}${eol}`);
      samples.forEach((_, index) => {
        event(
          chunk([
            {
              index,
              delta: { role: "assistant", content: "" },
              logprobs: null,
              finish_reason: null,
            },
          ]),
        );
      });
      const offsets = samples.map(() => 0);
      const pieces = samples.map((sample) => {
        const list: { field: string; text: string }[] = [];
        const push = (field: string, text: string) => {
          for (let i = 0; i < text.length; i += chunkChars)
            list.push({ field, text: text.slice(i, i + chunkChars) });
        };
        if (sample.reasoning !== undefined) push(placement, sample.reasoning);
        push("content", sample.content);
        return list;
      });
      const longest = Math.max(...pieces.map((list) => list.length));
      for (let step = 0; step < longest; step++) {
        samples.forEach((_, index) => {
          const piece = pieces[index][step];
          if (!piece) return;
          const choice: Record<string, unknown> = {
            index,
            delta: { [piece.field]: piece.text },
            finish_reason: null,
          };
          if (wantLogprobs) {
            choice.logprobs = logprobsOf(piece.text, offsets[index]);
            offsets[index] += fakeTokenCount(piece.text);
          }
          if (wantTokenIds) choice.token_ids = tokenIdsOf(piece.text);
          event(chunk([choice]));
        });
      }
      const usage = usageOf(promptTokens, samples);
      samples.forEach((sample, index) => {
        const finish: Record<string, unknown> = {
          index,
          delta: {},
          finish_reason: sample.finishReason,
        };
        if (flavour === "llamacpp") {
          event(chunk([finish], { usage, timings: { cache_n: options.cachedTokens ?? 0 } }));
        } else {
          event(chunk([finish]));
        }
      });
      const streamOptions = body.stream_options as { include_usage?: boolean } | undefined;
      if (flavour !== "llamacpp" && streamOptions?.include_usage) event(chunk([], { usage }));
      event("[DONE]");
      response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      let limit = events.length;
      if (fault?.kind === "reset-mid-stream")
        limit = Math.min(events.length, fault.afterEvents ?? 2);
      if (fault?.kind === "truncated") limit = Math.max(1, Math.floor(events.length / 2));
      if (fault?.kind === "malformed") {
        events.splice(
          1,
          0,
          `data: {"id":"${id}","choices":[{"index":0,"delta":{"content":"brok${eol}${eol}`,
        );
      }
      for (let i = 0; i < limit; i++) {
        const text = events[i];
        if (options.splitEvents) {
          const middle = Math.floor(text.length / 2);
          response.write(text.slice(0, middle));
          await new Promise((resolve) => setImmediate(resolve));
          response.write(text.slice(middle));
        } else {
          response.write(text);
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (fault?.kind === "reset-mid-stream") {
        socket.destroy();
        return;
      }
      response.end();
      return;
    }

    const json = {
      id,
      object: "chat.completion",
      created,
      model,
      choices: samples.map((sample, index) => {
        const message: Record<string, unknown> = { role: "assistant", content: sample.content };
        if (sample.reasoning !== undefined) message[placement] = sample.reasoning;
        const choice: Record<string, unknown> = {
          index,
          message,
          finish_reason: sample.finishReason,
        };
        choice.logprobs = wantLogprobs ? logprobsOf(sample.raw) : null;
        if (wantTokenIds) choice.token_ids = tokenIdsOf(sample.raw);
        return choice;
      }),
      usage: usageOf(promptTokens, samples),
      ...(flavour === "llamacpp" ? { timings: { cache_n: options.cachedTokens ?? 0 } } : {}),
    };
    const text = JSON.stringify(json);
    if (fault?.kind === "malformed" || fault?.kind === "truncated") {
      const cut = text.slice(0, Math.floor(text.length / 2));
      response.writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(cut),
      });
      response.end(cut);
      return;
    }
    if (fault?.kind === "reset-mid-stream") {
      response.writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(text),
      });
      response.write(text.slice(0, Math.floor(text.length / 2)));
      await new Promise((resolve) => setImmediate(resolve));
      socket.destroy();
      return;
    }
    response.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
    });
    response.end(text);
  };

  const server = createServer((incoming, response) => {
    const chunks: Buffer[] = [];
    incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
    incoming.on("end", () => {
      const rawBody = Buffer.concat(chunks).toString("utf8");
      let body: Record<string, unknown> | undefined;
      try {
        body = rawBody ? JSON.parse(rawBody) : undefined;
      } catch {
        body = undefined;
      }
      const path = incoming.url ?? "/";
      const isChat = incoming.method === "POST" && path === "/v1/chat/completions";
      const base = {
        index: requests.length,
        chatIndex: isChat ? chatCount++ : undefined,
        method: incoming.method ?? "GET",
        path,
        headers: incoming.headers,
        rawBody,
        body,
        receivedAtMs: Date.now() - startedAt,
      };
      const record: ReceivedRequest = isChat ? { ...base, fault: faultFor(base) } : base;
      requests.push(record);
      const socket = incoming.socket;
      if (isChat) {
        inFlight++;
        peakInFlight = Math.max(peakInFlight, inFlight);
        handleChat(record, response, socket)
          .catch(() => socket.destroy())
          .finally(() => {
            inFlight--;
          });
        return;
      }
      if (incoming.method === "GET" && path === "/v1/models" && modelsRoute) {
        const entry: Record<string, unknown> = {
          id: model,
          object: "model",
          created: 0,
          owned_by: flavour,
        };
        if (flavour === "llamacpp") entry.meta = { n_ctx_train: maxModelLen * 4 };
        else entry.max_model_len = maxModelLen;
        sendJson(response, 200, { object: "list", data: [entry] });
        return;
      }
      if (incoming.method === "GET" && path === "/props" && flavour === "llamacpp") {
        sendJson(response, 200, { default_generation_settings: { n_ctx: maxModelLen } });
        return;
      }
      if (incoming.method === "POST" && path === "/tokenize" && tokenizeRoute) {
        if (body?.messages !== undefined && flavour === "sglang") {
          sendJson(response, 400, errorBody(400, "messages are not supported by /tokenize"));
          return;
        }
        const text =
          body?.messages !== undefined ? promptText(body.messages) : String(body?.prompt ?? "");
        const tokens = fakeTokens(text).map((token) => token.charCodeAt(0));
        sendJson(response, 200, { count: tokens.length, max_model_len: maxModelLen, tokens });
        return;
      }
      sendJson(response, 404, errorBody(404, `no route ${incoming.method} ${path}`));
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    model,
    flavour,
    requests,
    chatRequests: () => requests.filter((request) => request.chatIndex !== undefined),
    get inFlight() {
      return inFlight;
    },
    get peakInFlight() {
      return peakInFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The flags that point `pacore` at a fake server: `--backend openai --base-url … --model …`. */
export function openaiFlags(server: {
  readonly baseUrl: string;
  readonly model: string;
}): string[] {
  return ["--backend", "openai", "--base-url", server.baseUrl, "--model", server.model];
}
