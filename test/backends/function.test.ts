import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { functionBackend } from "../../src/backends/function/index.js";
import {
  AbortError,
  BackendError,
  ConfigError,
  ContextLengthError,
  PacoreError,
} from "../../src/common/errors.js";
import { estimateTokens } from "../../src/common/estimate-tokens.js";
import type { GenerateRequest } from "../../src/spec/backend.js";

const messages = [{ role: "user", content: "What is 2+2?" }] as const;

function request(overrides: Partial<GenerateRequest> = {}): GenerateRequest {
  return { messages, sampling: { temperature: 1 }, n: 1, ...overrides };
}

function rejectsWith(promise: Promise<unknown>, check: (error: PacoreError) => void) {
  return assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof PacoreError, `expected a PacoreError, got ${String(error)}`);
    check(error);
    return true;
  });
}

describe("functionBackend", () => {
  test("a returned string is split at </think>, usage estimated", async () => {
    const backend = functionBackend(async () => "<think>2+2=4</think>\n\nThe answer is 4.");
    assert.equal(backend.specificationVersion, "v1");
    assert.equal(backend.provider, "function");
    assert.equal(backend.model, "function");
    const { completions } = await backend.generate(request());
    assert.deepEqual(completions, [
      {
        content: "\n\nThe answer is 4.",
        reasoning: "2+2=4",
        finishReason: "stop",
        usage: {
          promptTokens: estimateTokens(messages),
          completionTokens: estimateTokens("2+2=4") + estimateTokens("\n\nThe answer is 4."),
          cachedTokens: 0,
        },
      },
    ]);
  });

  test("a completion-like object keeps what it gives and fills the rest", async () => {
    const backend = functionBackend(async () => ({
      content: "4",
      finishReason: "length" as const,
      usage: { completionTokens: 99 },
      tokenIds: [1, 2],
      logprobs: [-0.1, -0.2],
    }));
    const [completion] = (await backend.generate(request())).completions;
    assert.deepEqual(completion, {
      content: "4",
      finishReason: "length",
      usage: { promptTokens: estimateTokens(messages), completionTokens: 99, cachedTokens: 0 },
      tokenIds: [1, 2],
      logprobs: [-0.1, -0.2],
    });
    const withReasoning = functionBackend(() => ({ content: "a</think>b", reasoning: "given" }));
    const [kept] = (await withReasoning.generate(request())).completions;
    assert.equal(kept.content, "a</think>b");
    assert.equal(kept.reasoning, "given");
  });

  test("n samples: n calls at once, each with its own seed and index", async () => {
    let running = 0;
    let peak = 0;
    const seen: { seed: number; sample: number }[] = [];
    const backend = functionBackend(async ({ seed, sample }) => {
      running++;
      peak = Math.max(peak, running);
      seen.push({ seed, sample });
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      return `sample ${sample}`;
    });
    const { completions } = await backend.generate(request({ n: 3, seeds: [10, 20, 30] }));
    assert.deepEqual(
      completions.map((completion) => completion.content),
      ["sample 0", "sample 1", "sample 2"],
    );
    assert.deepEqual(
      seen.sort((a, b) => a.sample - b.sample),
      [
        { seed: 10, sample: 0 },
        { seed: 20, sample: 1 },
        { seed: 30, sample: 2 },
      ],
    );
    assert.equal(peak, 3);
  });

  test("without seeds, every sample still gets a stable, distinct seed", async () => {
    const backend = functionBackend(({ seed }) => String(seed));
    const first = await backend.generate(request({ n: 4 }));
    const second = await backend.generate(request({ n: 4 }));
    assert.deepEqual(first, second);
    assert.equal(new Set(first.completions.map((completion) => completion.content)).size, 4);
  });

  test("maxConcurrency limits calls of the function across requests", async () => {
    let running = 0;
    let peak = 0;
    const backend = functionBackend(
      async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 2));
        running--;
        return "ok";
      },
      { maxConcurrency: 2 },
    );
    assert.equal(backend.maxConcurrency, 2);
    await Promise.all([backend.generate(request({ n: 4 })), backend.generate(request({ n: 3 }))]);
    assert.equal(peak, 2);
  });

  test("options: model, contextWindow, defaultMaxTokens, countTokens", async () => {
    const backend = functionBackend(async () => "four", {
      model: "my-model",
      contextWindow: 4096,
      defaultMaxTokens: 300,
      maxSamplesPerCall: 4,
      countTokens: (input) => (typeof input === "string" ? input.length : 100),
    });
    assert.equal(backend.model, "my-model");
    assert.equal(backend.maxSamplesPerCall, 4);
    assert.equal(await backend.contextWindow?.(), 4096);
    assert.equal(backend.defaultMaxTokens, 300);
    assert.equal(functionBackend(async () => "").defaultMaxTokens, undefined);
    assert.equal(await backend.countTokens?.("abc"), 3);
    const [completion] = (await backend.generate(request())).completions;
    assert.deepEqual(completion.usage, { promptTokens: 100, completionTokens: 4, cachedTokens: 0 });
  });

  test("onDelta: the function may stream; otherwise the content is sent once", async () => {
    const deltas: { sample: number; text: string }[] = [];
    const onDelta = (delta: { sample: number; text: string }) => deltas.push(delta);
    await functionBackend(() => "<think>r</think>done").generate(request({ onDelta }));
    assert.deepEqual(deltas, [{ sample: 0, text: "done" }]);
    deltas.length = 0;
    await functionBackend(({ onDelta: send }) => {
      send("a");
      send("b");
      return "ab";
    }).generate(request({ onDelta }));
    assert.deepEqual(deltas, [
      { sample: 0, text: "a" },
      { sample: 0, text: "b" },
    ]);
  });

  test("a BackendError or other pacore error passes through unchanged", async () => {
    const original = new BackendError("rate limited", { retryable: true, status: 429 });
    await assert.rejects(
      functionBackend(() => Promise.reject(original)).generate(request()),
      (error) => error === original,
    );
    const tooLong = new ContextLengthError("too long");
    await assert.rejects(
      functionBackend(() => {
        throw tooLong;
      }).generate(request()),
      (error) => error === tooLong,
    );
  });

  test("network errors become retryable BackendErrors, others not", async () => {
    const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    await rejectsWith(functionBackend(() => Promise.reject(reset)).generate(request()), (error) => {
      assert.ok(error instanceof BackendError);
      assert.equal(error.retryable, true);
      assert.equal(error.cause, reset);
      assert.match(error.message, /socket hang up/);
    });
    const wrapped = new TypeError("fetch failed", { cause: reset });
    await rejectsWith(functionBackend(() => Promise.reject(wrapped)).generate(request()), (error) =>
      assert.equal(error.retryable, true),
    );
    const server = Object.assign(new Error("Service Unavailable"), { status: 503 });
    await rejectsWith(
      functionBackend(() => Promise.reject(server)).generate(request()),
      (error) => {
        assert.equal(error.retryable, true);
        assert.equal((error as BackendError).status, 503);
      },
    );
    const flagged = Object.assign(new Error("try later"), { retryable: true });
    await rejectsWith(functionBackend(() => Promise.reject(flagged)).generate(request()), (error) =>
      assert.equal(error.retryable, true),
    );
    await rejectsWith(
      functionBackend(() => {
        throw new Error("bad prompt");
      }).generate(request()),
      (error) => {
        assert.ok(error instanceof BackendError);
        assert.equal(error.retryable, false);
      },
    );
    await rejectsWith(
      functionBackend(() => Promise.reject("a string")).generate(request()),
      (error) => assert.match(error.message, /a string/),
    );
  });

  test("a bad return value says what was expected and what came", async () => {
    await rejectsWith(functionBackend(() => 42 as never).generate(request()), (error) => {
      assert.ok(error instanceof BackendError);
      assert.match(error.message, /string or an object with a string `content`, got number/);
    });
  });

  test("one failing sample aborts the signal of the others", async () => {
    let abortedSiblings = 0;
    const backend = functionBackend(({ sample, signal }) => {
      if (sample === 0) return Promise.reject(new Error("boom"));
      return new Promise<string>((_, reject) => {
        signal.addEventListener("abort", () => {
          abortedSiblings++;
          reject(new Error("aborted"));
        });
      });
    });
    await rejectsWith(backend.generate(request({ n: 3 })), (error) =>
      assert.match(error.message, /boom/),
    );
    assert.equal(abortedSiblings, 2);
  });

  test("abort rejects with AbortError at once, even when the function ignores the signal", async () => {
    const controller = new AbortController();
    let calls = 0;
    const backend = functionBackend(() => {
      calls++;
      return new Promise<string>(() => {});
    });
    const pending = backend.generate(request({ n: 2, signal: controller.signal }));
    setTimeout(() => controller.abort(), 5);
    await rejectsWith(pending, (error) => assert.ok(error instanceof AbortError));
    assert.equal(calls, 2);

    await rejectsWith(backend.generate(request({ signal: AbortSignal.abort() })), (error) =>
      assert.ok(error instanceof AbortError),
    );
    assert.equal(calls, 2, "an already aborted call does not reach the function");
  });

  test("abort also frees callers queued behind maxConcurrency", async () => {
    const backend = functionBackend(() => new Promise<string>(() => {}), { maxConcurrency: 1 });
    const controller = new AbortController();
    const pending = backend.generate(request({ n: 3, signal: controller.signal }));
    controller.abort();
    await rejectsWith(pending, (error) => assert.ok(error instanceof AbortError));
  });

  test("bad arguments are ConfigErrors", async () => {
    assert.throws(() => functionBackend("nope" as never), ConfigError);
    assert.throws(
      () => functionBackend(() => "", { maxConcurrency: 0 }),
      /`maxConcurrency`.*got `0`/,
    );
    assert.throws(() => functionBackend(() => "", { defaultMaxTokens: 1.5 }), /defaultMaxTokens/);
    const backend = functionBackend(() => "");
    await assert.rejects(backend.generate(request({ n: 0 })), /`n`.*got `0`/);
    await assert.rejects(backend.generate(request({ n: 2, seeds: [1] })), /n = 2\), got 1/);
  });
});
