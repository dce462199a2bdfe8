/**
 * Many calls in flight on one signal (a run passes one to every call) must not put a listener
 * per call on it: past ten, Node prints `MaxListenersExceededWarning`.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { run } from "../../../src/core/engine.js";
import type { GenerateRequest } from "../../../src/spec/backend.js";
import { pacore } from "../../../strategies/pacore.js";
import { openaiTestBed } from "../../helpers/openai-test-bed.js";

const { setup } = openaiTestBed();

const request = (seed: number, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
  messages: [{ role: "user", content: "What is 2+2?" }],
  sampling: { temperature: 1 },
  n: 1,
  seeds: [seed],
  ...extra,
});

describe("64 calls in flight", () => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  before(() => process.on("warning", onWarning));
  after(() => process.off("warning", onWarning));

  /** Warnings are emitted on a later tick. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
  const listenerWarnings = () =>
    warnings.filter((warning) => warning.name === "MaxListenersExceededWarning");

  for (const stream of [true, false]) {
    it(`share one caller signal without MaxListenersExceededWarning (${stream ? "streaming" : "non-streaming"})`, async () => {
      const { server, backend } = await setup({ latencyMs: 100 }, { stream });
      const controller = new AbortController();
      const calls = Array.from({ length: 64 }, (_, i) =>
        backend.generate(request(i, { signal: controller.signal })),
      );
      // Split samples: 16 requests of one call listen on that call's signal.
      const split = await setup({ latencyMs: 100, flavour: "llamacpp" }, { stream });
      const splitCalls = Array.from({ length: 4 }, (_, i) =>
        split.backend.generate({
          ...request(i, { signal: controller.signal }),
          n: 16,
          seeds: Array.from({ length: 16 }, (_, j) => i * 16 + j),
        }),
      );
      await Promise.all([...calls, ...splitCalls]);
      await settle();
      assert.ok(server.peakInFlight > 10, `only ${server.peakInFlight} in flight at once`);
      assert.deepEqual(listenerWarnings(), []);
    });
  }

  it("an aborted shared signal still aborts every call in flight", async () => {
    const { backend } = await setup({ latencyMs: 2000 });
    const controller = new AbortController();
    const calls = Array.from({ length: 64 }, (_, i) =>
      backend.generate(request(i, { signal: controller.signal })).then(
        () => "done",
        (error: Error) => error.name,
      ),
    );
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const outcomes = await Promise.all(calls);
    assert.ok(Date.now() - started < 1000);
    assert.deepEqual(new Set(outcomes), new Set(["AbortError"]));
  });

  it("a run of 64 trajectories in parallel, one call each, prints no such warning", async () => {
    const { server, backend } = await setup({ latencyMs: 100 }, { maxSamplesPerCall: 1 });
    const result = await run({
      backend,
      strategy: pacore({ k: [64] }),
      problem: "What is 2+2?",
      options: { seed: 1, maxTokens: 64, concurrency: 64 },
    });
    await settle();
    assert.equal(result.answer, "4");
    assert.ok(server.peakInFlight > 10, `only ${server.peakInFlight} in flight at once`);
    assert.deepEqual(listenerWarnings(), []);
  });
});
