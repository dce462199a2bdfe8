/**
 * The OpenAI-compatible request handler: `POST /v1/chat/completions` (plain and streaming),
 * `GET /v1/models`, `GET /health`. A plain `(req, res) => void`, so it mounts in any `node:http`
 * server; `createServer` wraps it in one.
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createStrategy } from "../cli/strategies.js";
import { AbortError } from "../common/errors.js";
import { Run } from "../core/engine.js";
import type { RunOptionsInput } from "../core/options.js";
import type { ModelBackend } from "../spec/backend.js";
import type { RunEvents, RunResult } from "../spec/run.js";
import type { Strategy } from "../spec/strategy.js";
import { HttpError, toHttpError } from "./errors.js";
import { listedModels, parseModelName, resolveStrategy, type StrategyDefaults } from "./models.js";
import {
  type ChatCompletionRequest,
  conversationOf,
  parseChatRequest,
  promptTextOf,
  runOptionsOf,
  strategySettingsOf,
} from "./request.js";
import {
  type CompletionIdentity,
  chatCompletion,
  chunk,
  deltaChoice,
  finalTrajectory,
  openaiFinishReason,
  openaiUsage,
  pacoreField,
  splitDeltas,
} from "./response.js";

/** Default body limit: 4 MiB (a long conversation with an inline image or two). */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Default limit on requests in flight at once, across all clients. */
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 64;
/** Default limit on the trajectories one request may ask for (`pacore:32,4` is 37). */
export const DEFAULT_MAX_TRAJECTORIES = 1024;
/** Streams send an SSE comment this often while a run works, so proxies keep them open. */
const HEARTBEAT_MS = 15_000;

/** Options of `createHandler` and `createServer`. */
export interface ServeOptions {
  /**
   * The model backend, or a promise of it: a model that loads in the background (`/health`
   * answers 503 `loading` meanwhile; chat requests wait for it). The caller owns it and closes it.
   */
  readonly backend: ModelBackend | Promise<ModelBackend>;
  /**
   * What the model name `pacore` runs, and the template and verifier of every strategy
   * (default: `pacore` with `k` [4], the `default` template, no verifier).
   */
  readonly strategy?: Partial<StrategyDefaults>;
  /** Run options every request starts from (sampling, concurrency per request, retries, …). */
  readonly runOptions?: RunOptionsInput;
  /** When set, requests must send `Authorization: Bearer <apiKey>` (compared in constant time). */
  readonly apiKey?: string;
  /** Most chat requests in flight at once; more get 429 (default 64). */
  readonly maxConcurrentRequests?: number;
  /** Most bytes of a request body; more get 413 (default 4 MiB). */
  readonly maxBodyBytes?: number;
  /** Most trajectories one request may ask for; more get 400 (default 1024). */
  readonly maxTrajectories?: number;
  /**
   * Where the one line per request goes (default: stderr); `false` for none. The line never holds
   * the key, nor the prompt unless `logPrompts`.
   */
  readonly log?: ((line: string) => void) | false;
  /** Add the last user turn's text to each log line. */
  readonly logPrompts?: boolean;
}

/** A `node:http` request listener with a graceful close. */
export interface ServeHandler {
  (request: IncomingMessage, response: ServerResponse): void;
  /** Chat requests in flight now. */
  readonly inFlight: number;
  /**
   * Refuses new chat requests (503), lets those in flight finish for `graceMs` (default 10 s),
   * then aborts the rest (their backend calls stop) and resolves once all have ended.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** What the log line of one request says; the route fills it in. */
interface RequestRecord {
  model: string;
  rounds: number;
  tokens: number;
  /** The error code of a request that failed (a stream that failed still has status 200). */
  error?: string;
  prompt?: string;
}

type Json = Record<string, unknown>;

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (response.headersSent || response.destroyed) return;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

function sendError(request: IncomingMessage, response: ServerResponse, error: HttpError): void {
  const headers: Record<string, string> = { ...error.headers };
  // A body we did not read keeps the connection from being reused.
  if (!request.complete) headers.connection = "close";
  sendJson(response, error.status, error.body(), headers);
}

/** A log field that came from a client: printable, short, never able to start a new line. */
function clean(text: string, max = 80): string {
  const printable = text.replace(/[^\x20-\x7e]/g, "?");
  return printable.length > max ? `${printable.slice(0, max)}…` : printable;
}

/**
 * Reads a body up to `limit` bytes. A longer one is drained (up to 16 times the limit, so the
 * client gets to read its 413 rather than a reset) and rejected with 413.
 */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () =>
    new HttpError(
      413,
      "invalid_request_error",
      `The request body is larger than the server's limit of ${limit} bytes (\`--max-body-bytes\`)`,
      { code: "request_too_large" },
    );
  const declared = Number(request.headers["content-length"]);
  if (Number.isFinite(declared) && declared > 16 * limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (data: Buffer) => {
      size += data.length;
      if (size <= limit) chunks.push(data);
      else if (size > 16 * limit) {
        request.destroy();
        reject(tooLarge());
      }
    });
    request.on("end", () => (size > limit ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
    request.on("error", reject);
    request.on("close", () => {
      if (!request.complete) reject(new AbortError("The client closed the request"));
    });
  });
}

function sumPlan(strategy: Strategy): number {
  return strategy.plan.reduce((sum, k) => sum + k, 0);
}

/**
 * Creates the request handler.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { createHandler, simulatedBackend } from "pacore";
 *
 * const handler = createHandler({ backend: simulatedBackend() });
 * createServer(handler).listen(8000, "127.0.0.1");
 * // POST http://127.0.0.1:8000/v1/chat/completions  { "model": "pacore:16,4", "messages": [...] }
 * ```
 */
export function createHandler(options: ServeOptions): ServeHandler {
  const defaults: StrategyDefaults = {
    template: "default",
    ...options.strategy,
    strategy: options.strategy?.strategy ?? "pacore",
  };
  const runDefaults = options.runOptions ?? {};
  const maxConcurrent = options.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT_REQUESTS;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxTrajectories = options.maxTrajectories ?? DEFAULT_MAX_TRAJECTORIES;
  const log =
    options.log === false
      ? undefined
      : (options.log ?? ((line: string) => process.stderr.write(`${line}\n`)));
  const expectedKey =
    options.apiKey === undefined ? undefined : createHash("sha256").update(options.apiKey).digest();

  let backendState: "loading" | "ready" | "failed" = "loading";
  let backendError: unknown;
  const backendPromise = Promise.resolve(options.backend).then(
    (backend) => {
      backendState = "ready";
      return backend;
    },
    (error: unknown) => {
      backendState = "failed";
      backendError = error;
      throw error;
    },
  );
  backendPromise.catch(() => {}); // read by /health and by each request

  const running = new Map<Promise<void>, AbortController>();
  let closing = false;

  const strategies = new Map<string, Promise<Strategy>>();
  function strategyFor(choice: ReturnType<typeof resolveStrategy>): Promise<Strategy> {
    const key = JSON.stringify(choice);
    let strategy = strategies.get(key);
    if (!strategy) {
      strategy = createStrategy(choice);
      strategy.catch(() => strategies.delete(key));
      if (strategies.size >= 256) strategies.delete(strategies.keys().next().value!);
      strategies.set(key, strategy);
    }
    return strategy;
  }

  function authorize(request: IncomingMessage): void {
    if (expectedKey === undefined) return;
    const match = /^Bearer +(.+)$/i.exec(request.headers.authorization ?? "");
    const given = createHash("sha256")
      .update(match?.[1] ?? "")
      .digest();
    if (!timingSafeEqual(given, expectedKey) || match === null) {
      throw new HttpError(
        401,
        "authentication_error",
        match === null
          ? "Missing API key: send `Authorization: Bearer <key>`"
          : "Incorrect API key provided",
        { code: "invalid_api_key" },
      );
    }
  }

  function health(response: ServerResponse): void {
    const body: Json = { status: backendState === "ready" ? "ok" : backendState };
    if (backendState === "failed") {
      body.error = backendError instanceof Error ? backendError.message : String(backendError);
    }
    body.in_flight = running.size;
    if (closing) body.status = "closing";
    sendJson(response, body.status === "ok" ? 200 : 503, body);
  }

  function modelObject(id: string): Json {
    return { id, object: "model", created: 0, owned_by: "pacore" };
  }

  function models(response: ServerResponse, id: string | undefined): void {
    if (id === undefined) {
      sendJson(response, 200, { object: "list", data: listedModels(defaults).map(modelObject) });
      return;
    }
    parseModelName(id); // throws UnknownModelError: 404
    sendJson(response, 200, modelObject(id));
  }

  async function chat(
    request: IncomingMessage,
    response: ServerResponse,
    record: RequestRecord,
    controller: AbortController,
  ): Promise<void> {
    const raw = await readBody(request, maxBody);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch (error) {
      throw new HttpError(
        400,
        "invalid_request_error",
        `The request body is not valid JSON: ${(error as Error).message}`,
        { code: "invalid_json", cause: error },
      );
    }
    const parsed = parseChatRequest(body);
    if (!parsed.success) {
      throw new HttpError(400, "invalid_request_error", parsed.problem.message, {
        param: parsed.problem.param,
        code: "invalid_request",
      });
    }
    const chatRequest = parsed.data;
    record.model = clean(chatRequest.model);
    if (options.logPrompts) record.prompt = promptTextOf(chatRequest);
    const choice = resolveStrategy(
      defaults,
      parseModelName(chatRequest.model),
      strategySettingsOf(chatRequest),
    );
    if (choice.strategy === "best-of-n" && choice.verifier === undefined) {
      throw new HttpError(
        400,
        "invalid_request_error",
        "`best-of-n` needs a verifier, and this server has none: start it with `--verifier PATH`, or ask for `self-consistency:N`",
        { param: "model", code: "model_not_supported" },
      );
    }
    const strategy = await strategyFor(choice);
    const trajectories = sumPlan(strategy);
    if (trajectories > maxTrajectories) {
      throw new HttpError(
        400,
        "invalid_request_error",
        `\`${chatRequest.model}\` would generate ${trajectories} trajectories; this server allows ${maxTrajectories} per request (\`--max-trajectories\`)`,
        { param: "model", code: "too_many_trajectories" },
      );
    }
    let backend: ModelBackend;
    try {
      backend = await backendPromise;
    } catch (error) {
      throw new HttpError(
        503,
        "server_error",
        `The backend failed to start: ${(error as Error).message}`,
        { code: "backend_unavailable", cause: error },
      );
    }
    const run = new Run({
      backend,
      strategy,
      problem: conversationOf(chatRequest),
      options: runOptionsOf(chatRequest, runDefaults),
      signal: controller.signal,
    });
    run.on("round-end", ({ result }) => {
      record.rounds = result.round;
      record.tokens += result.usage.totalTokens;
    });
    const identity: CompletionIdentity = {
      id: `chatcmpl-${randomUUID().replaceAll("-", "")}`,
      created: Math.floor(Date.now() / 1000),
      model: chatRequest.model,
    };
    const withTrajectories = chatRequest.pacore?.trajectories ?? true;
    if (chatRequest.stream) {
      await stream(run, chatRequest, identity, response, withTrajectories);
      return;
    }
    const result = await run.start();
    sendJson(response, 200, chatCompletion(identity, result, { trajectories: withTrajectories }));
  }

  async function stream(
    run: Run,
    chatRequest: ChatCompletionRequest,
    identity: CompletionIdentity,
    response: ServerResponse,
    withTrajectories: boolean,
  ): Promise<void> {
    const progress = chatRequest.pacore?.progress ?? false;
    // Writes of one tick go out together (a round's events, the answer's deltas).
    let corked = false;
    const write = (text: string) => {
      if (response.destroyed || response.writableEnded) return;
      if (!corked) {
        corked = true;
        response.cork();
        process.nextTick(() => {
          corked = false;
          response.uncork();
        });
      }
      response.write(text);
    };
    const send = (data: unknown) => write(`data: ${JSON.stringify(data)}\n\n`);
    /** Progress: an SSE comment every client ignores; a `choices: []` chunk when asked. */
    const event = (comment: string, data: Json) => {
      write(`: ${comment}\n\n`);
      if (progress) send(chunk(identity, [], { pacore: data }));
    };
    const listeners: Partial<RunEvents> = {
      "round-start": ({ round, k }) =>
        event(`round-start ${round} k=${k}`, { event: "round-start", round, k }),
      "trajectory-end": ({ trajectory }) =>
        event(`trajectory-end ${trajectory.round}.${trajectory.index}`, {
          event: "trajectory-end",
          round: trajectory.round,
          index: trajectory.index,
          finish_reason: trajectory.finishReason,
          completion_tokens: trajectory.usage.completionTokens,
          message: trajectory.content,
        }),
      "trajectory-error": ({ round, index, error, willRetry }) =>
        event(`trajectory-error ${round}.${index} ${error.code}`, {
          event: "trajectory-error",
          round,
          index,
          code: error.code,
          will_retry: willRetry,
        }),
      "round-end": ({ result }) =>
        event(`round-end ${result.round}`, {
          event: "round-end",
          round: result.round,
          usage: openaiUsage(result.usage),
          elapsed_ms: Math.round(result.elapsedMs),
        }),
    };
    for (const [name, listener] of Object.entries(listeners)) {
      // biome-ignore lint/suspicious/noExplicitAny: the listener types are checked above.
      run.on(name as keyof RunEvents, listener as any);
    }
    response.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    });
    send(chunk(identity, [deltaChoice({ role: "assistant", content: "" })]));
    const heartbeat = setInterval(() => write(": heartbeat\n\n"), HEARTBEAT_MS);
    heartbeat.unref();
    let result: RunResult;
    try {
      result = await run.start();
    } catch (error) {
      const httpError = toHttpError(error);
      send(httpError.body());
      response.end();
      throw httpError; // for the log line; the status already went out as 200
    } finally {
      clearInterval(heartbeat);
    }
    const final = finalTrajectory(result);
    if (final?.reasoning)
      send(chunk(identity, [deltaChoice({ reasoning_content: final.reasoning })]));
    for (const text of splitDeltas(result.content)) {
      send(chunk(identity, [deltaChoice({ content: text })]));
    }
    send(
      chunk(identity, [deltaChoice({}, openaiFinishReason(final?.finishReason))], {
        pacore: pacoreField(result, { trajectories: withTrajectories }),
      }),
    );
    if (chatRequest.stream_options?.include_usage) {
      send(chunk(identity, [], { usage: openaiUsage(result.usage) }));
    }
    write("data: [DONE]\n\n");
    response.end();
  }

  async function route(
    request: IncomingMessage,
    response: ServerResponse,
    record: RequestRecord,
  ): Promise<void> {
    const path = new URL(request.url ?? "/", "http://localhost").pathname.replace(/\/+$/, "");
    const method = request.method ?? "GET";
    const allow = (methods: string) => {
      if (!methods.split(", ").includes(method)) {
        throw new HttpError(
          405,
          "invalid_request_error",
          `${method} is not allowed on ${path}; use ${methods}`,
          { code: "method_not_allowed", headers: { allow: methods } },
        );
      }
    };
    if (path === "/health") {
      allow("GET, HEAD");
      health(response);
      return;
    }
    if (path === "/v1/models" || path.startsWith("/v1/models/")) {
      allow("GET");
      authorize(request);
      const id = path === "/v1/models" ? undefined : decodeURIComponent(path.slice(11));
      models(response, id);
      return;
    }
    if (path !== "/v1/chat/completions") {
      throw new HttpError(404, "not_found_error", `No route ${method} ${clean(path)}`, {
        code: "unknown_url",
      });
    }
    allow("POST");
    authorize(request);
    if (closing) {
      throw new HttpError(503, "server_error", "The server is shutting down", {
        code: "shutting_down",
        headers: { connection: "close" },
      });
    }
    if (running.size >= maxConcurrent) {
      throw new HttpError(
        429,
        "rate_limit_error",
        `The server is running its limit of ${maxConcurrent} requests (\`--max-concurrent-requests\`); retry shortly`,
        { code: "too_many_requests", headers: { "retry-after": "1" } },
      );
    }
    const controller = new AbortController();
    response.on("close", () => {
      if (!response.writableFinished) {
        controller.abort(new AbortError("The client disconnected"));
      }
    });
    const done = chat(request, response, record, controller);
    const slot = done.then(
      () => {},
      () => {},
    );
    running.set(slot, controller);
    try {
      await done;
    } finally {
      running.delete(slot);
    }
  }

  const handler = ((request: IncomingMessage, response: ServerResponse) => {
    const startedAt = performance.now();
    const record: RequestRecord = { model: "-", rounds: 0, tokens: 0 };
    const method = request.method ?? "-";
    const path = clean(request.url ?? "-");
    // The line goes out once the response has closed and the handling has ended (a run that a
    // disconnect aborted ends after the socket closed).
    const closed = new Promise<number>((resolve) => {
      response.on("close", () => resolve(response.writableFinished ? response.statusCode : 499));
    });
    const handled = route(request, response, record).catch((thrown: unknown) => {
      const error = toHttpError(thrown);
      record.error =
        error.status === 500 && error.cause instanceof Error
          ? `500:${JSON.stringify(clean(error.cause.message, 200))}`
          : (error.code ?? String(error.status));
      if (response.destroyed) return;
      if (response.headersSent) {
        if (!response.writableEnded) response.end();
        return;
      }
      sendError(request, response, error);
    });
    if (!log) return;
    Promise.all([closed, handled]).then(([status]) => {
      const error = record.error === undefined ? "" : ` error=${record.error}`;
      const prompt = record.prompt === undefined ? "" : ` prompt=${JSON.stringify(record.prompt)}`;
      log(
        `${new Date().toISOString()} ${method} ${path} model=${record.model} status=${status} rounds=${record.rounds} tokens=${record.tokens} ms=${(performance.now() - startedAt).toFixed(1)}${error}${prompt}`,
      );
    });
  }) as ServeHandler;

  Object.defineProperty(handler, "inFlight", { get: () => running.size });
  handler.close = async ({ graceMs = 10_000 } = {}) => {
    closing = true;
    if (running.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([Promise.all(running.keys()), grace]);
      clearTimeout(timer);
    }
    for (const controller of running.values()) {
      controller.abort(new AbortError("The server is shutting down"));
    }
    await Promise.all(running.keys());
  };
  return handler;
}
