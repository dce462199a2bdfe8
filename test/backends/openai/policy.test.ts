import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { EndpointRouter } from "../../../src/backends/openai/endpoint-router.js";
import {
  normalizeBaseUrl,
  parseOpenAIBackendOptions,
} from "../../../src/backends/openai/options.js";
import { backoffDelayMs, parseRetryAfterMs } from "../../../src/backends/openai/retry-policy.js";
import { ConfigError } from "../../../src/common/errors.js";

describe("retry policy", () => {
  it("reads Retry-After as seconds or as an HTTP date", () => {
    assert.equal(parseRetryAfterMs("1"), 1000);
    assert.equal(parseRetryAfterMs("0.5"), 500);
    assert.equal(parseRetryAfterMs(["3"]), 3000);
    const now = Date.parse("2025-01-01T00:00:00Z");
    assert.equal(parseRetryAfterMs("Wed, 01 Jan 2025 00:00:02 GMT", now), 2000);
    assert.equal(parseRetryAfterMs(undefined), undefined);
    assert.equal(parseRetryAfterMs("soon"), undefined);
  });

  it("grows exponentially, stays in the upper half of its ceiling, never above maxMs", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30 }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (retry, draw) => {
          const backoff = { initialMs: 100, maxMs: 5000, factor: 2 };
          const ceiling = Math.min(5000, 100 * 2 ** retry);
          const delay = backoffDelayMs(retry, backoff, () => draw);
          return delay >= Math.floor(ceiling / 2) && delay <= ceiling;
        },
      ),
    );
    assert.equal(
      backoffDelayMs(3, { initialMs: 100, maxMs: 5000, factor: 2 }, () => 0.999999),
      800,
    );
  });
});

describe("options", () => {
  it("normalizes base URLs with or without /v1 and trailing slashes", () => {
    assert.equal(normalizeBaseUrl("http://gpu-1:8000").baseUrl, "http://gpu-1:8000/v1");
    assert.equal(normalizeBaseUrl("http://gpu-1:8000/v1/").baseUrl, "http://gpu-1:8000/v1");
    const proxied = normalizeBaseUrl("https://host/openai/v1");
    assert.deepEqual(proxied, {
      origin: "https://host",
      apiPath: "/openai/v1",
      rootPath: "/openai",
      baseUrl: "https://host/openai/v1",
    });
  });

  it("rejects bad options with a ConfigError naming the key and the fix", () => {
    assert.throws(
      () => parseOpenAIBackendOptions({ baseUrls: [], model: "m" }),
      (error: unknown) => error instanceof ConfigError && /`baseUrls`/.test(error.message),
    );
    assert.throws(
      () => parseOpenAIBackendOptions({ baseUrls: ["ftp://x"], model: "m" }),
      (error: unknown) => error instanceof ConfigError && /--base-url/.test(error.message),
    );
    assert.throws(
      () => parseOpenAIBackendOptions({ baseUrls: ["http://x"], model: "m", retrys: 3 }),
      ConfigError,
    );
    const parsed = parseOpenAIBackendOptions({ baseUrls: ["http://x"], model: "m" });
    assert.equal(parsed.retries, 5);
    assert.equal(parsed.apiKeyEnv, "OPENAI_API_KEY");
    assert.equal(parsed.nMode, "auto");
  });
});

describe("endpoint router", () => {
  const router = (endpoints: number, cap: number, now = () => 0) =>
    new EndpointRouter({
      endpoints,
      maxConcurrencyPerEndpoint: cap,
      ejectAfterFailures: 2,
      ejectForMs: 1000,
      now,
    });

  it("routes to the endpoint with the fewest requests in flight", async () => {
    const subject = router(3, 10);
    const first = await subject.acquire();
    const second = await subject.acquire();
    const third = await subject.acquire();
    assert.deepEqual(
      new Set([first.endpoint, second.endpoint, third.endpoint]),
      new Set([0, 1, 2]),
    );
    subject.release(second, "success");
    assert.equal((await subject.acquire()).endpoint, second.endpoint);
  });

  it("ejects an endpoint after consecutive failures and takes it back after ejectForMs", async () => {
    let clock = 0;
    const subject = router(2, 10, () => clock);
    for (let i = 0; i < 2; i++) {
      const lease = await subject.acquire({ avoid: new Set([1]) });
      assert.equal(lease.endpoint, 0);
      subject.release(lease, "failure");
    }
    assert.equal(subject.stats()[0].ejected, true);
    assert.equal(subject.stats()[0].ejections, 1);
    const leases = await Promise.all([subject.acquire(), subject.acquire(), subject.acquire()]);
    assert.deepEqual(
      leases.map((lease) => lease.endpoint),
      [1, 1, 1],
    );
    clock = 1001;
    assert.equal((await subject.acquire()).endpoint, 0);
  });

  it("still routes when every endpoint is ejected, probing the one whose ejection ends first", async () => {
    let clock = 0;
    const subject = router(2, 10, () => clock);
    for (const endpoint of [0, 0, 1, 1]) {
      const lease = await subject.acquire({ avoid: new Set([1 - endpoint]) });
      assert.equal(lease.endpoint, endpoint);
      subject.release(lease, "failure");
      clock += 10;
    }
    assert.equal((await subject.acquire()).endpoint, 0);
  });

  it("holds requests back from an endpoint cooling down after Retry-After", async () => {
    const subject = new EndpointRouter({
      endpoints: 1,
      maxConcurrencyPerEndpoint: 4,
      ejectAfterFailures: 3,
      ejectForMs: 1000,
    });
    const lease = await subject.acquire();
    const started = Date.now();
    subject.release(lease, "neutral", 120);
    await subject.acquire();
    assert.ok(Date.now() - started >= 110, `waited ${Date.now() - started} ms`);
  });

  it("rejects a waiting request when its signal aborts", async () => {
    const subject = router(1, 1);
    await subject.acquire();
    const controller = new AbortController();
    const waiting = subject.acquire({ signal: controller.signal });
    controller.abort(new Error("stop"));
    await assert.rejects(waiting, /stop/);
  });

  it("never exceeds the per-endpoint cap and serves every request (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(
          fc.record({
            holdMs: fc.integer({ min: 0, max: 3 }),
            outcome: fc.constantFrom("success", "failure", "neutral" as const),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        async (endpoints, cap, jobs) => {
          const subject = new EndpointRouter({
            endpoints,
            maxConcurrencyPerEndpoint: cap,
            ejectAfterFailures: 2,
            ejectForMs: 5,
          });
          let violations = 0;
          await Promise.all(
            jobs.map(async (job) => {
              const lease = await subject.acquire();
              if (subject.stats().some((stats) => stats.inFlight > cap)) violations++;
              await new Promise((resolve) => setTimeout(resolve, job.holdMs));
              subject.release(lease, job.outcome);
            }),
          );
          const stats = subject.stats();
          assert.equal(violations, 0);
          assert.ok(stats.every((entry) => entry.peakInFlight <= cap && entry.inFlight === 0));
          assert.equal(
            stats.reduce((sum, entry) => sum + entry.requests, 0),
            jobs.length,
          );
        },
      ),
      { numRuns: 40 },
    );
  });
});
