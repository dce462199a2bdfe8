import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { EndpointRouter } from "../../../src/backends/openai/endpoint-router.js";
import { parseRetryAfterMs } from "../../../src/backends/openai/http-attempt.js";
import {
  normalizeBaseUrl,
  parseOpenAIBackendOptions,
} from "../../../src/backends/openai/options.js";
import { ConfigError } from "../../../src/common/errors.js";

describe("Retry-After", () => {
  it("reads Retry-After as seconds or as an HTTP date", () => {
    assert.equal(parseRetryAfterMs("1"), 1000);
    assert.equal(parseRetryAfterMs("0.5"), 500);
    assert.equal(parseRetryAfterMs(["3"]), 3000);
    const now = Date.parse("2025-01-01T00:00:00Z");
    assert.equal(parseRetryAfterMs("Wed, 01 Jan 2025 00:00:02 GMT", now), 2000);
    assert.equal(parseRetryAfterMs("Wed, 01 Jan 2025 00:00:00 GMT", now + 5000), 0);
    assert.equal(parseRetryAfterMs(undefined), undefined);
    assert.equal(parseRetryAfterMs("soon"), undefined);
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
    // Retrying is the engine's: the backend has no such options.
    for (const removed of [{ retries: 3 }, { backoff: { initialMs: 1 } }]) {
      assert.throws(
        () => parseOpenAIBackendOptions({ baseUrls: ["http://x"], model: "m", ...removed }),
        ConfigError,
      );
    }
    const parsed = parseOpenAIBackendOptions({ baseUrls: ["http://x"], model: "m" });
    assert.equal(parsed.stream, true);
    assert.equal(parsed.timeoutMs, 300_000);
    assert.equal(parsed.apiKeyEnv, undefined);
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
      // Two requests at once take one endpoint each; the one on endpoint 0 fails.
      const pair = [await subject.acquire(), await subject.acquire()];
      assert.deepEqual(pair.map((lease) => lease.endpoint).sort(), [0, 1], `pair ${i + 1}`);
      for (const lease of pair)
        subject.release(lease, lease.endpoint === 0 ? "failure" : "success");
    }
    assert.equal(subject.stats()[0].ejected, true);
    assert.equal(subject.stats()[0].ejections, 1);
    const leases = await Promise.all([subject.acquire(), subject.acquire(), subject.acquire()]);
    assert.deepEqual(
      leases.map((lease) => lease.endpoint),
      [1, 1, 1],
    );
    clock = 1001;
    // Back in the rotation, its last failure counting as one request in flight.
    assert.equal((await subject.acquire()).endpoint, 0);
  });

  it("sends the next request past an endpoint that just failed, when loads are equal", async () => {
    const subject = router(3, 10);
    for (const failing of [0, 1, 2, 0]) {
      // Whatever the rotation, the endpoint with a failure in a row comes last.
      const lease = await subject.acquire();
      subject.release(lease, lease.endpoint === failing ? "failure" : "success");
    }
    const stats = subject.stats();
    const failedLast = stats.findIndex((entry) => entry.failures > 0);
    const next = await subject.acquire();
    assert.notEqual(next.endpoint, failedLast);
  });

  it("gives an endpoint that just failed one request at a time, so it fails no more than the ejection threshold", async () => {
    const subject = router(2, 10);
    // Both take a request; endpoint 0's fails.
    const pair = [await subject.acquire(), await subject.acquire()];
    const failed = pair.find((lease) => lease.endpoint === 0);
    assert.ok(failed);
    subject.release(failed, "failure");
    // Endpoint 0 takes one probe, however many requests arrive while it is out.
    const leases = await Promise.all(Array.from({ length: 6 }, () => subject.acquire()));
    assert.equal(leases.filter((lease) => lease.endpoint === 0).length, 1);
    const probe = leases.find((lease) => lease.endpoint === 0);
    assert.ok(probe);
    subject.release(probe, "failure");
    assert.equal(subject.stats()[0].ejected, true);
    assert.equal(subject.stats()[0].requests, 2);
    // While endpoint 1's own probe is out, a request waits for it rather than go to the ejected 0.
    const other = leases.filter((lease) => lease.endpoint === 1);
    // Endpoint 1's requests succeed but the last, which fails: it is not ejected, it is probing.
    for (const [i, lease] of other.entries()) {
      subject.release(lease, i === other.length - 1 ? "failure" : "success");
    }
    const stillOut = pair.find((lease) => lease.endpoint === 1);
    assert.ok(stillOut);
    const waiting = subject.acquire();
    let settled = false;
    void waiting.then(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(settled, false);
    subject.release(stillOut, "success");
    assert.equal((await waiting).endpoint, 1);
    // Alone, an endpoint keeps its full cap after a failure.
    const alone = router(1, 4);
    alone.release(await alone.acquire(), "failure");
    const all = await Promise.all(Array.from({ length: 4 }, () => alone.acquire()));
    assert.equal(all.length, 4);
  });

  it("still routes when every endpoint is ejected, probing the one whose ejection ends first", async () => {
    let clock = 0;
    const subject = router(2, 10, () => clock);
    for (let i = 0; i < 2; i++) {
      const pair = [await subject.acquire(), await subject.acquire()];
      // Endpoint 0's failures come first, so its ejection ends first.
      pair.sort((a, b) => a.endpoint - b.endpoint);
      for (const lease of pair) {
        subject.release(lease, "failure");
        clock += 10;
      }
    }
    assert.deepEqual(
      subject.stats().map((entry) => entry.ejected),
      [true, true],
    );
    assert.equal((await subject.acquire()).endpoint, 0);
  });

  it("keeps requests off an endpoint cooling down after Retry-After, unless it is the only one", async () => {
    const subject = router(2, 4);
    const lease = await subject.acquire();
    subject.release(lease, "neutral", 60_000);
    for (let i = 0; i < 3; i++) {
      assert.notEqual((await subject.acquire()).endpoint, lease.endpoint);
    }
    const alone = router(1, 4);
    alone.release(await alone.acquire(), "neutral", 60_000);
    const started = Date.now();
    await alone.acquire();
    assert.ok(Date.now() - started < 50, "the engine decides how long to wait, not the router");
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
