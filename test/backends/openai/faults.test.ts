/**
 * Faults against a real `node:http` server: every failure is one HTTP request, classified with
 * a code, `retryable`, `status` and `retryAfterMs`, and never retried by the backend itself.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type OpenAIBackendOptionsInput,
  openaiBackend,
} from "../../../src/backends/openai/index.js";
import {
  AbortError,
  BackendError,
  ContextLengthError,
  type ErrorCode,
} from "../../../src/common/errors.js";
import type { GenerateRequest } from "../../../src/spec/backend.js";
import {
  deadBaseUrl,
  type FakeOpenAIServerOptions,
  type Fault,
  startFakeOpenAIServer,
} from "../../helpers/fake-openai-server.js";
import { openaiTestBed } from "../../helpers/openai-test-bed.js";

const { servers, closers, setup: startBed } = openaiTestBed();

function setup(
  serverOptions: FakeOpenAIServerOptions,
  backendOptions: Partial<OpenAIBackendOptionsInput> = {},
) {
  return startBed(serverOptions, backendOptions);
}

const request = (n = 1, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
  messages: [{ role: "user", content: "What is 2+2?" }],
  sampling: { temperature: 1 },
  n,
  seeds: Array.from({ length: n }, (_, i) => i + 1),
  ...extra,
});

/** The error a call rejects with (fails the test when it resolves). */
async function failure(promise: Promise<unknown>): Promise<BackendError> {
  const error = await promise.then(
    () => assert.fail("expected the call to fail"),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof BackendError, `expected a BackendError, got ${error}`);
  return error;
}

function assertError(
  error: BackendError,
  expected: { code: ErrorCode; retryable: boolean; status?: number; retryAfterMs?: number },
) {
  assert.deepEqual(
    {
      code: error.code,
      retryable: error.retryable,
      status: error.status,
      retryAfterMs: error.retryAfterMs,
    },
    {
      code: expected.code,
      retryable: expected.retryable,
      status: expected.status,
      retryAfterMs: expected.retryAfterMs,
    },
    error.message,
  );
}

describe("classification: one request per call, never retried here", () => {
  it("HTTP statuses: retryable exactly for the shared RETRYABLE_STATUSES", async () => {
    const cases: [number, boolean][] = [
      [408, true],
      [425, true],
      [429, true],
      [500, true],
      [502, true],
      [503, true],
      [504, true],
      [400, false],
      [401, false],
      [404, false],
      [422, false],
      [501, false],
    ];
    const { server, backend } = await setup({
      faults: cases.map(([status]): Fault => ({ kind: "status", status })),
    });
    for (const [status, retryable] of cases) {
      const error = await failure(backend.generate(request()));
      assertError(error, { code: "PACORE_ERR_HTTP_STATUS", retryable, status });
      assert.match(error.message, new RegExp(`HTTP ${status} from`));
    }
    assert.equal(server.chatRequests().length, cases.length, "one request per call");
  });

  it("reads Retry-After in seconds and as an HTTP date into retryAfterMs", async () => {
    const inTwoSeconds = new Date(Date.now() + 2000).toUTCString();
    const { server, backend } = await setup({
      faults: [
        { kind: "status", status: 429, retryAfter: "30" },
        { kind: "status", status: 503, retryAfter: "0.25" },
        { kind: "status", status: 503, retryAfter: inTwoSeconds },
        { kind: "status", status: 503, retryAfter: "soon" },
      ],
    });
    const started = Date.now();
    const seconds = await failure(backend.generate(request()));
    assertError(seconds, {
      code: "PACORE_ERR_HTTP_STATUS",
      retryable: true,
      status: 429,
      retryAfterMs: 30_000,
    });
    assert.equal((await failure(backend.generate(request()))).retryAfterMs, 250);
    const date = (await failure(backend.generate(request()))).retryAfterMs;
    assert.ok(date !== undefined && date > 0 && date <= 2000, `HTTP date gave ${date} ms`);
    assert.equal((await failure(backend.generate(request()))).retryAfterMs, undefined);
    // The backend reports Retry-After and waits for nothing (30 s): the engine decides.
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    assert.equal(server.chatRequests().length, 4);
  });

  it("a malformed 200 body or event is PACORE_ERR_MALFORMED_RESPONSE, retryable, with an excerpt", async () => {
    for (const stream of [false, true]) {
      const { server, backend } = await setup({ faults: [{ kind: "malformed" }] }, { stream });
      const error = await failure(backend.generate(request()));
      assertError(error, { code: "PACORE_ERR_MALFORMED_RESPONSE", retryable: true, status: 200 });
      assert.match(error.message, /Malformed 200 response/);
      assert.match(error.message, /body starts: .*(chatcmpl|brok)/);
      assert.equal(server.chatRequests().length, 1);
      const { completions } = await backend.generate(request());
      assert.equal(completions[0].content, "The answer is 4.", "the next call is whole");
    }
  });

  it("a stream cut before [DONE] is malformed; a reset mid-stream is unreachable; both retryable", async () => {
    const cut = await setup({ faults: [{ kind: "truncated" }] });
    assertError(await failure(cut.backend.generate(request(2))), {
      code: "PACORE_ERR_MALFORMED_RESPONSE",
      retryable: true,
      status: 200,
    });
    const reset = await setup({ faults: [{ kind: "reset-mid-stream" }] });
    const error = await failure(reset.backend.generate(request(2)));
    assertError(error, { code: "PACORE_ERR_UNREACHABLE", retryable: true });
    assert.equal(cut.server.chatRequests().length + reset.server.chatRequests().length, 2);
  });

  it("a reset before any response, a refused connection: PACORE_ERR_UNREACHABLE, retryable", async () => {
    const { server, backend } = await setup({ faults: [{ kind: "reset" }] });
    assertError(await failure(backend.generate(request())), {
      code: "PACORE_ERR_UNREACHABLE",
      retryable: true,
    });
    assert.equal(server.chatRequests().length, 1);

    const dead = openaiBackend({ baseUrls: [await deadBaseUrl()], model: "m" });
    closers.push(() => dead.close());
    const refused = await failure(dead.generate(request()));
    assertError(refused, { code: "PACORE_ERR_UNREACHABLE", retryable: true });
    assert.match(refused.message, /connection refused \(ECONNREFUSED\)/);
  });

  it("turns a prompt that does not fit into a ContextLengthError, for every flavour", async () => {
    for (const flavour of ["vllm", "sglang", "llamacpp"] as const) {
      const { server, backend } = await setup({ flavour, maxModelLen: 10 });
      const error = await backend
        .generate(request(1, { sampling: { maxTokens: 100 } }))
        .catch((caught: unknown) => caught);
      assert.ok(error instanceof ContextLengthError, `${flavour}: ${error}`);
      assert.equal(error.retryable, false);
      assert.equal(error.status, 400);
      assert.match(error.message, /--context/);
      assert.equal(server.chatRequests().length, 1);
    }
  });

  it("rejects with an AbortError when the caller aborts", async () => {
    const { server, backend } = await setup({ latencyMs: 500 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    await assert.rejects(backend.generate(request(1, { signal: controller.signal })), AbortError);
    assert.ok(Date.now() - started < 400);
    assert.equal(server.chatRequests().length, 1);
  });
});

describe("timeouts: silence, not length, ends a streamed call", () => {
  // undici checks header and body timeouts on a tick of about half a second.
  it("a server that sends headers and then nothing fails with PACORE_ERR_TIMEOUT naming --timeout", async () => {
    const { server, backend } = await setup({ faults: () => ({ kind: "stall" }) });
    const started = Date.now();
    const error = await failure(backend.generate(request(1, { timeoutMs: 300 })));
    const elapsed = Date.now() - started;
    assertError(error, { code: "PACORE_ERR_TIMEOUT", retryable: true });
    assert.match(error.message, /No byte from .* for 0\.3 s/);
    assert.match(error.message, /--timeout/);
    assert.ok(elapsed >= 290 && elapsed < 5_000, `timed out after ${elapsed} ms`);
    assert.equal(server.chatRequests().length, 1);
  });

  it("the backend's timeoutMs applies when the request sets none", async () => {
    const { backend } = await setup({ faults: () => ({ kind: "stall" }) }, { timeoutMs: 300 });
    const started = Date.now();
    assertError(await failure(backend.generate(request())), {
      code: "PACORE_ERR_TIMEOUT",
      retryable: true,
    });
    assert.ok(Date.now() - started < 1500);
  });

  it("a stream that keeps coming completes however long it takes", async () => {
    const { backend } = await setup({
      faults: [{ kind: "trickle", intervalMs: 150, events: 8 }],
    });
    const deltas: string[] = [];
    const started = Date.now();
    const { completions } = await backend.generate(
      request(1, { timeoutMs: 500, onDelta: ({ text }) => deltas.push(text) }),
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1100, `the stream took only ${elapsed} ms, not longer than the timeout`);
    assert.equal(completions[0].content, "The answer is 4.");
    assert.equal(deltas.length, 8);
  });

  it("without streaming the timeout bounds the whole call", async () => {
    const { backend } = await setup(
      { faults: [{ kind: "trickle", intervalMs: 150, events: 8 }, { kind: "stall" }] },
      { stream: false },
    );
    const slow = await failure(backend.generate(request(1, { timeoutMs: 500 })));
    assertError(slow, { code: "PACORE_ERR_TIMEOUT", retryable: true });
    assert.match(
      slow.message,
      /within 0\.5 s \(without streaming, the timeout bounds the whole call\)/,
    );
    const stalled = await failure(backend.generate(request(1, { timeoutMs: 300 })));
    assertError(stalled, { code: "PACORE_ERR_TIMEOUT", retryable: true });
  });
});

describe("many endpoints", () => {
  it("sends the next attempt of a failed call to a replica that did not just fail", async () => {
    const live = await startFakeOpenAIServer();
    servers.push(live);
    const dead = await deadBaseUrl();
    const backend = openaiBackend({ baseUrls: [dead, live.baseUrl], model: "fake-model" });
    closers.push(() => backend.close());
    const first = await failure(backend.generate(request()));
    assert.equal(first.code, "PACORE_ERR_UNREACHABLE");
    for (let i = 0; i < 5; i++) await backend.generate(request());
    assert.equal(live.chatRequests().length, 5);
    assert.equal(backend.stats().endpoints[0].requests, 1);
  });

  it("spreads load over healthy replicas and ejects a dead one", async () => {
    const live = await Promise.all([startFakeOpenAIServer(), startFakeOpenAIServer()]);
    servers.push(...live);
    const dead = await deadBaseUrl();
    const backend = openaiBackend({
      baseUrls: [dead, live[0].baseUrl, live[1].baseUrl],
      model: "fake-model",
      ejectAfterFailures: 2,
      ejectForMs: 60_000,
    });
    closers.push(() => backend.close());
    // What the engine does: try a failed call again (here at once) until it succeeds.
    const attempt = async (seed: number): Promise<number> => {
      for (let tries = 1; ; tries++) {
        try {
          await backend.generate(request(1, { seeds: [seed] }));
          return tries;
        } catch (error) {
          assert.ok(error instanceof BackendError && error.retryable, String(error));
          assert.ok(tries < 3, "a call failed twice with two live replicas");
        }
      }
    };
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => attempt(round * 10 + i)));
    }
    const stats = backend.stats();
    assert.equal(stats.endpoints[0].ejected, true);
    assert.equal(stats.endpoints[0].ejections, 1);
    const served = live.map((server) => server.chatRequests().length);
    assert.equal(served[0] + served[1], 30);
    assert.ok(Math.abs(served[0] - served[1]) <= 4, `unbalanced: ${served}`);
    // Once ejected, the dead endpoint gets no more traffic.
    const before = stats.endpoints[0].requests;
    await Promise.all(Array.from({ length: 10 }, () => backend.generate(request())));
    assert.equal(backend.stats().endpoints[0].requests, before);
  });

  it("takes an ejected endpoint back once it recovers", async () => {
    let broken = true;
    const flaky = await startFakeOpenAIServer({
      faults: () => (broken ? { kind: "status", status: 500 } : undefined),
    });
    const healthy = await startFakeOpenAIServer();
    servers.push(flaky, healthy);
    const backend = openaiBackend({
      baseUrls: [flaky.baseUrl, healthy.baseUrl],
      model: "fake-model",
      ejectAfterFailures: 2,
      ejectForMs: 150,
    });
    closers.push(() => backend.close());
    // Two calls at once, twice: the flaky endpoint takes one of each pair and fails it.
    for (let i = 0; i < 2; i++) {
      await Promise.allSettled([backend.generate(request()), backend.generate(request())]);
    }
    assert.equal(backend.stats().endpoints[0].ejected, true);
    broken = false;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const servedBefore = flaky.chatRequests().length;
    await Promise.all(Array.from({ length: 6 }, () => backend.generate(request())));
    assert.ok(flaky.chatRequests().length > servedBefore, "the recovered endpoint serves again");
    assert.equal(backend.stats().endpoints[0].ejected, false);
  });

  it("never has more requests in flight on an endpoint than its cap", async () => {
    const server = await startFakeOpenAIServer({ latencyMs: 20, flavour: "llamacpp" });
    servers.push(server);
    const backend = openaiBackend({
      baseUrls: [server.baseUrl],
      model: "fake-model",
      maxConcurrencyPerEndpoint: 3,
    });
    closers.push(() => backend.close());
    // Split n=4 calls: 4 requests per call, 12 in all, through 3 slots.
    await Promise.all(Array.from({ length: 3 }, () => backend.generate(request(4))));
    assert.equal(server.peakInFlight, 3);
    assert.equal(backend.stats().endpoints[0].peakInFlight, 3);
  });

  it("keeps calls off an endpoint cooling down after Retry-After while another can take them", async () => {
    const limited = await startFakeOpenAIServer({
      faults: [{ kind: "status", status: 429, retryAfter: "30" }],
    });
    const other = await startFakeOpenAIServer();
    servers.push(limited, other);
    const backend = openaiBackend({
      baseUrls: [limited.baseUrl, other.baseUrl],
      model: "fake-model",
    });
    closers.push(() => backend.close());
    const error = await failure(backend.generate(request()));
    assert.equal(error.status, 429);
    assert.equal(error.retryable, true);
    // The 30 s are the limited endpoint's: the other can take the next attempt now, so the error
    // does not ask the engine to wait.
    assert.equal(error.retryAfterMs, undefined);
    const started = Date.now();
    await Promise.all([backend.generate(request()), backend.generate(request())]);
    assert.ok(Date.now() - started < 10_000);
    assert.equal(limited.chatRequests().length, 1);
    assert.equal(other.chatRequests().length, 2);
  });

  it("with one endpoint, a call after a Retry-After goes at once: waiting is the engine's choice", async () => {
    const { server, backend } = await setup({
      faults: [{ kind: "status", status: 429, retryAfter: "30" }],
    });
    await failure(backend.generate(request()));
    const started = Date.now();
    await backend.generate(request());
    assert.ok(Date.now() - started < 10_000, `waited ${Date.now() - started} ms`);
    assert.equal(server.chatRequests().length, 2);
  });
});
