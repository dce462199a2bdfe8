import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type AttemptFailureReport,
  type OpenAIBackendOptionsInput,
  openaiBackend,
} from "../../../src/backends/openai/index.js";
import { AbortError, BackendError, ContextLengthError } from "../../../src/common/errors.js";
import type { GenerateRequest } from "../../../src/spec/backend.js";
import {
  deadBaseUrl,
  type FakeOpenAIServerOptions,
  type Fault,
  startFakeOpenAIServer,
} from "../../helpers/fake-openai-server.js";
import { openaiTestBed } from "../../helpers/openai-test-bed.js";

const { servers, closers, setup: startBed } = openaiTestBed();

/** Quick backoff so that the tests stay fast; the policy's shape is the same. */
const FAST_BACKOFF = { initialMs: 20, maxMs: 2000, factor: 2 };

async function setup(
  serverOptions: FakeOpenAIServerOptions,
  backendOptions: Partial<OpenAIBackendOptionsInput> = {},
) {
  const reports: AttemptFailureReport[] = [];
  const { server, backend } = await startBed(
    serverOptions,
    { backoff: FAST_BACKOFF, ...backendOptions },
    { onAttemptError: (report) => reports.push(report), onWarning: () => {} },
  );
  return { server, backend, reports };
}

const request = (n = 1, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
  messages: [{ role: "user", content: "What is 2+2?" }],
  sampling: { temperature: 1 },
  n,
  seeds: Array.from({ length: n }, (_, i) => i + 1),
  ...extra,
});

describe("faults on one endpoint", () => {
  it("honours Retry-After on a 429 before trying again", async () => {
    const { server, backend, reports } = await setup({
      faults: [{ kind: "status", status: 429, retryAfter: "1" }],
    });
    const { completions } = await backend.generate(request());
    assert.equal(completions[0].content, "The answer is 4.");
    const [first, second] = server.chatRequests();
    const waited = second.receivedAtMs - first.receivedAtMs;
    assert.ok(waited >= 990, `waited only ${waited} ms after Retry-After: 1`);
    assert.ok(waited < 1500, `waited ${waited} ms, far past Retry-After: 1`);
    assert.equal(reports.length, 1);
    assert.equal(reports[0].status, 429);
    assert.equal(reports[0].willRetry, true);
  });

  it("backs off exponentially over 500, 502, 503, 504 and 408, then succeeds", async () => {
    const statuses = [500, 502, 503, 504, 408];
    const { server, backend, reports } = await setup({
      faults: statuses.map((status): Fault => ({ kind: "status", status })),
    });
    await backend.generate(request());
    assert.equal(server.chatRequests().length, 6);
    assert.deepEqual(
      reports.map((report) => report.status),
      statuses,
    );
    reports.forEach((report, retry) => {
      const ceiling = Math.min(FAST_BACKOFF.maxMs, FAST_BACKOFF.initialMs * 2 ** retry);
      assert.ok(
        report.delayMs >= ceiling / 2 && report.delayMs <= ceiling,
        `retry ${retry}: ${report.delayMs} ms`,
      );
    });
    assert.equal(backend.stats().retries, 5);
  });

  it("gives up after `retries` and says why, retryable, with the status", async () => {
    const { server, backend } = await setup(
      { faults: () => ({ kind: "status", status: 503 }) },
      { retries: 2 },
    );
    const error = await backend.generate(request()).catch((caught: unknown) => caught);
    assert.ok(error instanceof BackendError);
    assert.equal(error.retryable, true);
    assert.equal(error.status, 503);
    assert.match(error.message, /after 3 attempt/);
    assert.match(error.message, /HTTP 503/);
    assert.equal(server.chatRequests().length, 3);
  });

  it("does not retry other 4xx", async () => {
    const { server, backend } = await setup({ faults: [{ kind: "status", status: 422 }] });
    const error = await backend.generate(request()).catch((caught: unknown) => caught);
    assert.ok(error instanceof BackendError);
    assert.equal(error.retryable, false);
    assert.equal(error.status, 422);
    assert.equal(server.chatRequests().length, 1);
  });

  it("retries a malformed 200 body and reports the excerpt if it persists", async () => {
    for (const stream of [false, true]) {
      const once = await setup({ faults: [{ kind: "malformed" }] }, { stream });
      const { completions } = await once.backend.generate(request());
      assert.equal(completions[0].content, "The answer is 4.");
      assert.equal(once.server.chatRequests().length, 2);

      const always = await setup({ faults: () => ({ kind: "malformed" }) }, { stream, retries: 1 });
      const error = await always.backend.generate(request()).catch((caught: unknown) => caught);
      assert.ok(error instanceof BackendError, String(error));
      assert.equal(error.retryable, true);
      assert.match(error.message, /Malformed 200 response/);
      assert.match(error.message, /body starts: .*(chatcmpl|brok)/);
    }
  });

  it("retries a stream cut before [DONE], and a connection reset mid-stream", async () => {
    for (const fault of [{ kind: "truncated" }, { kind: "reset-mid-stream" }] as const) {
      const { server, backend, reports } = await setup({ faults: [fault] }, { stream: true });
      const { completions } = await backend.generate(request(2));
      assert.deepEqual(
        completions.map((completion) => completion.content),
        ["The answer is 4.", "The answer is 4."],
      );
      assert.equal(server.chatRequests().length, 2, fault.kind);
      assert.equal(reports.length, 1);
    }
  });

  it("retries a reset before any response and a reset in the middle of a whole body", async () => {
    const { server, backend } = await setup({
      faults: [{ kind: "reset" }, { kind: "reset-mid-stream" }],
    });
    await backend.generate(request());
    assert.equal(server.chatRequests().length, 3);
  });

  it("times out slow headers and tries again", async () => {
    // undici checks header and body timeouts on a tick of about half a second.
    const { server, backend, reports } = await setup(
      { faults: [{ kind: "slow-headers", delayMs: 2000 }] },
      { timeouts: { connectMs: 1000, headersMs: 100, bodyIdleMs: 1000 } },
    );
    const started = Date.now();
    await backend.generate(request());
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 1500, `the slow response was waited for: ${elapsed} ms`);
    assert.equal(server.chatRequests().length, 2);
    assert.match(reports[0].message, /headers timeout/);
  });

  it("applies the total timeout to one attempt", async () => {
    const { backend, reports } = await setup(
      { faults: [{ kind: "slow-headers", delayMs: 400 }] },
      { timeouts: { connectMs: 1000, headersMs: 10_000, bodyIdleMs: 1000, totalMs: 100 } },
    );
    await backend.generate(request());
    assert.match(reports[0].message, /total timeout of 100 ms/);
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

  it("rejects with an AbortError when the caller aborts, and does not retry", async () => {
    const { server, backend } = await setup({ latencyMs: 500 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    await assert.rejects(backend.generate(request(1, { signal: controller.signal })), AbortError);
    assert.ok(Date.now() - started < 400);
    assert.equal(server.chatRequests().length, 1);
  });
});

describe("many endpoints", () => {
  it("spreads load, ejects a dead endpoint among three and fails its calls over", async () => {
    const live = await Promise.all([startFakeOpenAIServer(), startFakeOpenAIServer()]);
    servers.push(...live);
    const dead = await deadBaseUrl();
    const reports: AttemptFailureReport[] = [];
    const backend = openaiBackend(
      {
        baseUrls: [dead, live[0].baseUrl, live[1].baseUrl],
        model: "fake-model",
        backoff: FAST_BACKOFF,
        ejectAfterFailures: 2,
        ejectForMs: 60_000,
      },
      { onAttemptError: (report) => reports.push(report) },
    );
    closers.push(() => backend.close());
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => backend.generate(request(1, { seeds: [i] }))),
    );
    assert.equal(results.length, 30);
    const stats = backend.stats();
    assert.equal(stats.endpoints[0].ejected, true);
    assert.equal(stats.endpoints[0].ejections, 1);
    assert.ok(stats.endpoints[0].failures >= 2);
    assert.ok(reports.every((report) => report.endpoint === stats.endpoints[0].baseUrl));
    assert.ok(
      reports.every((report) => report.delayMs === 0),
      "a call that failed on the dead endpoint went at once to a live one",
    );
    assert.equal(stats.failovers, reports.length);
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
      backoff: FAST_BACKOFF,
      ejectAfterFailures: 2,
      ejectForMs: 150,
    });
    closers.push(() => backend.close());
    for (let i = 0; i < 6; i++) await backend.generate(request());
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

  it("fails over at once a 429 to another endpoint instead of waiting for its Retry-After", async () => {
    const limited = await startFakeOpenAIServer({
      faults: [{ kind: "status", status: 429, retryAfter: "5" }],
    });
    const other = await startFakeOpenAIServer();
    servers.push(limited, other);
    const backend = openaiBackend({
      baseUrls: [limited.baseUrl, other.baseUrl],
      model: "fake-model",
      maxConcurrencyPerEndpoint: 1,
    });
    closers.push(() => backend.close());
    const started = Date.now();
    await Promise.all([backend.generate(request()), backend.generate(request())]);
    assert.ok(Date.now() - started < 1000);
    assert.equal(limited.chatRequests().length, 1);
    assert.equal(other.chatRequests().length, 2);
  });
});
