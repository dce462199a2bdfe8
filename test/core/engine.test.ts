import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { AbortError, BackendError, BudgetError, QuorumError } from "../../src/common/errors.js";
import { checkPlanFits } from "../../src/core/budget.js";
import { Run, run } from "../../src/core/engine.js";
import type { RunEventName } from "../../src/spec/run.js";
import { pacore } from "../../strategies/pacore.js";
import { single } from "../../strategies/single.js";
import { lastUserText, scriptedBackend, transientError } from "../helpers/scripted-backend.js";

const problem = "What is 17*23+5?";
const fastRetries = { retries: 6, backoff: { initialMs: 0, maxMs: 0, factor: 1 } };

describe("engine: plan and calls", () => {
  it("[32,4] makes exactly 37 trajectories and 37 calls of one sample", async () => {
    const backend = scriptedBackend();
    const result = await run({ backend, strategy: pacore({ k: [32, 4] }), problem });
    assert.equal(backend.calls, 37);
    assert.equal(result.calls, 37);
    assert.deepEqual(
      result.rounds.map((round) => [round.k, round.trajectories.length]),
      [
        [32, 32],
        [4, 4],
        [1, 1],
      ],
    );
    assert.equal(result.answer, result.content.match(/\d+/)?.[0]);
  });

  it("the number of calls equals the plan for any plan and samples per call", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 8 }),
        async (k, perCall) => {
          const backend = scriptedBackend({ maxSamplesPerCall: perCall });
          const result = await run({ backend, strategy: pacore({ k }), problem });
          const plan = [...k, 1];
          const expectedCalls = plan.reduce((sum, n) => sum + Math.ceil(n / perCall), 0);
          assert.equal(backend.calls, expectedCalls);
          assert.equal(
            result.calls,
            plan.reduce((sum, n) => sum + n, 0),
          );
          for (const request of backend.requests) assert.ok(request.n <= perCall);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("in-flight calls never exceed the run's and the backend's limits", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 16 }), { minLength: 1, maxLength: 2 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 }),
        async (k, concurrency, backendCap, latencies) => {
          const backend = scriptedBackend({
            maxConcurrency: backendCap,
            latencyMs: (call) => latencies[call % latencies.length],
          });
          // Two runs share the backend: its cap holds across runs, each run's cap within it.
          const runs = [1, 2].map((seed) =>
            run({ backend, strategy: pacore({ k }), problem, options: { concurrency, seed } }),
          );
          await Promise.all(runs);
          assert.ok(backend.maxInFlight <= backendCap, `${backend.maxInFlight} > ${backendCap}`);
          const single = scriptedBackend({ latencyMs: 1 });
          await run({
            backend: single,
            strategy: pacore({ k }),
            problem,
            options: { concurrency },
          });
          assert.ok(single.maxInFlight <= concurrency);
          assert.equal(single.maxInFlight, Math.min(concurrency, Math.max(...k)));
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe("engine: determinism", () => {
  it("the same seed gives the same run; another seed another", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }),
        async (seed, k) => {
          const once = async (runSeed: number) => {
            // Random latencies: completion order must not matter.
            const backend = scriptedBackend({ latencyMs: () => Math.floor(Math.random() * 3) });
            const result = await run({
              backend,
              strategy: pacore({ k }),
              problem,
              options: { seed: runSeed },
            });
            return {
              rounds: result.rounds.map((round) => ({
                seeds: round.trajectories.map((t) => t.seed),
                contents: round.trajectories.map((t) => t.content),
                messages: round.messages,
                prompt: round.prompt,
              })),
              content: result.content,
            };
          };
          const first = await once(seed);
          assert.deepEqual(await once(seed), first);
          assert.notDeepEqual((await once(seed + 1)).rounds[0].seeds, first.rounds[0].seeds);
        },
      ),
      { numRuns: 20 },
    );
  });

  it("a trajectory's seed depends on seed, problem, round and index only", async () => {
    const seeds = async (k: number[], text: string) => {
      const result = await run({
        backend: scriptedBackend(),
        strategy: pacore({ k }),
        problem: text,
      });
      return result.rounds[0].trajectories.map((t) => t.seed);
    };
    const four = await seeds([4], problem);
    assert.deepEqual((await seeds([8, 2], problem)).slice(0, 4), four);
    assert.notDeepEqual(await seeds([4], "What is 2+2?"), four);
    assert.equal(new Set(four).size, 4);
  });
});

describe("engine: failures", () => {
  it("with 20% transient failures the run completes, keeps every trajectory, counts attempts", async () => {
    let random = 12345;
    const nextRandom = () => {
      random = (random * 1103515245 + 12345) % 2 ** 31;
      return random / 2 ** 31;
    };
    const backend = scriptedBackend({
      fail: () => (nextRandom() < 0.2 ? transientError() : undefined),
    });
    const errors: number[] = [];
    const result = await run(
      { backend, strategy: pacore({ k: [16, 4] }), problem, options: fastRetries },
      { "trajectory-error": ({ attempt }) => errors.push(attempt) },
    );
    const trajectories = result.rounds.flatMap((round) => round.trajectories);
    assert.equal(trajectories.length, 21);
    assert.ok(trajectories.every((t) => !t.error && t.content !== ""));
    const attempts = trajectories.reduce((sum, t) => sum + t.attempts, 0);
    assert.equal(attempts, backend.calls, "every backend call is counted as an attempt");
    assert.equal(attempts - 21, errors.length);
    assert.ok(errors.length > 0, "the schedule injected failures");
  });

  it("a non-retryable failure is tried once; the quorum decides whether the run goes on", async () => {
    const fail = (call: number) =>
      call === 1 ? new BackendError("bad request", { status: 400 }) : undefined;
    const strict = scriptedBackend({ fail });
    await assert.rejects(
      run({ backend: strict, strategy: pacore({ k: [4] }), problem }),
      (error: unknown) => {
        assert.ok(error instanceof QuorumError);
        assert.match(error.message, /1 of 4 trajectories failed/);
        const round = error.partial!.rounds[0];
        assert.equal(round.trajectories.filter((t) => !t.error).length, 3, "finished ones kept");
        assert.equal(round.trajectories.find((t) => t.error)!.attempts, 1);
        return true;
      },
    );
    const lenient = scriptedBackend({ fail });
    const result = await run({
      backend: lenient,
      strategy: pacore({ k: [4] }),
      problem,
      options: { quorum: 0.75 },
    });
    assert.equal(result.rounds[0].trajectories.filter((t) => t.error).length, 1);
    assert.equal(result.rounds[0].messages.length, 3, "the failed trajectory gives no message");
  });

  it("retries honour a server's Retry-After as the least wait", async () => {
    const backend = scriptedBackend({
      fail: (call) =>
        call === 0 ? new BackendError("429", { retryable: true, retryAfterMs: 60 }) : undefined,
    });
    const started = performance.now();
    const options = { retries: 6, backoff: { initialMs: 0, maxMs: 1_000, factor: 1 } };
    const result = await run({ backend, strategy: single(), problem, options });
    assert.ok(performance.now() - started >= 55);
    assert.equal(result.rounds[0].trajectories[0].attempts, 2);
  });

  it("a Retry-After beyond the backoff ceiling waits only the ceiling", async () => {
    const backend = scriptedBackend({
      fail: (call) =>
        call === 0
          ? new BackendError("429", { retryable: true, retryAfterMs: 3_600_000 })
          : undefined,
    });
    const started = performance.now();
    const options = { retries: 1, backoff: { initialMs: 0, maxMs: 50, factor: 1 } };
    const result = await run({ backend, strategy: single(), problem, options });
    const waited = performance.now() - started;
    assert.ok(waited >= 45 && waited < 5_000, `waited ${waited} ms`);
    assert.equal(result.rounds[0].trajectories[0].attempts, 2);
  });

  it("--retries N makes N + 1 attempts and the final error says how many", async () => {
    for (const retries of [0, 3]) {
      const backend = scriptedBackend({
        fail: () => new BackendError("HTTP 500", { retryable: true, status: 500 }),
      });
      const options = { retries, backoff: { initialMs: 0, maxMs: 0, factor: 1 } };
      await assert.rejects(run({ backend, strategy: single(), problem, options }), (error) => {
        assert.ok(error instanceof QuorumError);
        const attempts = retries + 1;
        assert.match(error.message, new RegExp(`after ${attempts} attempts?\\b`));
        assert.match(error.message, /PACORE_ERR_HTTP_STATUS: HTTP 500/);
        assert.equal(error.partial!.rounds[0].trajectories[0].attempts, attempts);
        return true;
      });
      assert.equal(backend.calls, retries + 1);
    }
  });

  it("aborting stops in-flight calls at once and keeps the finished rounds", async () => {
    const backend = scriptedBackend({ latencyMs: (call) => (call < 4 ? 1 : 10_000) });
    const controller = new AbortController();
    const instance = new Run({
      backend,
      strategy: pacore({ k: [4, 4] }),
      problem,
      signal: controller.signal,
    });
    instance.on("round-start", ({ round }) => {
      if (round === 2) setTimeout(() => controller.abort(), 20);
    });
    const started = performance.now();
    await assert.rejects(instance.start(), (error: unknown) => {
      assert.equal((error as { code?: string }).code, "PACORE_ERR_ABORTED");
      const { rounds, calls } = (error as QuorumError).partial!;
      assert.deepEqual(
        rounds.map((round) => round.trajectories.length),
        [4, 0],
        "round 2 is reported with what it finished: nothing",
      );
      assert.equal(calls, 4);
      return true;
    });
    // The slow calls take 10 s: well under that means they were stopped, even on a loaded machine.
    assert.ok(performance.now() - started < 8_000);
    assert.ok(backend.requests.slice(4).every((request) => request.signal?.aborted));
  });
});

describe("engine: an interrupted round reports what it finished", () => {
  it("abort with 4 of 8 finished: the partial result holds those 4, their usage and calls", async () => {
    const backend = scriptedBackend({ latencyMs: (call) => (call < 4 ? 1 : 10_000) });
    const controller = new AbortController();
    const instance = new Run({
      backend,
      strategy: pacore({ k: [8] }),
      problem,
      signal: controller.signal,
    });
    let ended = 0;
    instance.on("trajectory-end", () => {
      if (++ended === 4) controller.abort();
    });
    await assert.rejects(instance.start(), (error: unknown) => {
      assert.ok(error instanceof AbortError);
      const partial = error.partial!;
      assert.equal(partial.rounds.length, 1);
      const finished = partial.rounds[0].trajectories;
      assert.deepEqual(
        finished.map((trajectory) => trajectory.index),
        [0, 1, 2, 3],
      );
      assert.equal(partial.calls, 4);
      const completion = finished.reduce((sum, t) => sum + t.usage.completionTokens, 0);
      assert.ok(completion > 0);
      assert.equal(partial.usage.completionTokens, completion);
      assert.equal(partial.effectiveTokens, completion);
      return true;
    });
  });
});

describe("engine: prompts, budget and events", () => {
  it("every round carries the problem's images; later rounds read the messages", async () => {
    const backend = scriptedBackend();
    const image = { type: "image" as const, image: "data:image/png;base64,AAAA" };
    await run({
      backend,
      strategy: pacore({ k: [2, 2] }),
      problem: [
        { role: "system", content: "Be brief." },
        { role: "user", content: [image, { type: "text", text: "What is in the picture?" }] },
      ],
    });
    for (const request of backend.requests) {
      assert.equal(request.messages[0].content, "Be brief.");
      const user = request.messages[1].content;
      assert.ok(Array.isArray(user) && user.some((part) => part.type === "image"));
    }
    const synthesis = lastUserText(backend.requests[backend.requests.length - 1]);
    assert.match(synthesis, /What is in the picture\?/);
    assert.match(synthesis, /Reference 2:\nThe answer is/);
  });

  it("a plan that cannot fit fails before any call, with the numbers and the fix", async () => {
    const backend = scriptedBackend({ contextWindow: 2_000 });
    await assert.rejects(
      run({ backend, strategy: pacore({ k: [32, 4] }), problem, options: { maxTokens: 1_500 } }),
      (error: unknown) => {
        assert.ok(error instanceof BudgetError);
        assert.match(error.message, /Round 2 of plan \[32, 4, 1\]/);
        assert.match(error.message, /2,000 tokens/);
        assert.match(error.message, /--max-tokens to at most \d/);
        return true;
      },
    );
    assert.equal(backend.calls, 0);
  });

  it("an unknown window is assumed with a warning; --context overrides the backend", async () => {
    const warnings: string[] = [];
    const result = await run(
      { backend: scriptedBackend(), strategy: pacore({ k: [2] }), problem },
      { "run-warning": ({ message }) => warnings.push(message) },
    );
    assert.match(result.warnings.join(" "), /assuming 32,768 tokens/);
    assert.deepEqual(warnings, result.warnings);
    const backend = scriptedBackend({ contextWindow: 100 });
    const overridden = await run({
      backend,
      strategy: pacore({ k: [2] }),
      problem,
      options: { context: 4096, maxTokens: 100 },
    });
    assert.equal(overridden.warnings.length, 0);
  });

  it("without --max-tokens the output budget is 8,192 or half the window if smaller", async () => {
    const small = scriptedBackend({ contextWindow: 1_000 });
    await run({ backend: small, strategy: pacore({ k: [2] }), problem });
    assert.ok(small.requests.every((request) => request.sampling.maxTokens === 500));
    const large = scriptedBackend({ contextWindow: 131_072 });
    await run({ backend: large, strategy: single(), problem });
    assert.equal(large.requests[0].sampling.maxTokens, 8_192);
  });

  it("without --max-tokens each round gets the most output that fits; too tight a plan fails", async () => {
    const backend = scriptedBackend({ contextWindow: 1_024 });
    await run({ backend, strategy: pacore({ k: [16, 4] }), problem });
    const budgets = backend.requests.map((request) => request.sampling.maxTokens!);
    // Round 1 holds no references: half the window, not what the 16-message round leaves.
    assert.equal(budgets[0], 512);
    const budget = Math.min(...budgets);
    assert.ok(budget < 512 && budget >= 64, `${budget}`);
    await checkPlanFits({
      strategy: pacore({ k: [16, 4] }),
      problem: [{ role: "user", content: problem }],
      window: 1_024,
      maxOutput: budget,
      minMessageTokens: 32,
      count: async (input) => backend.countTokens!(input),
    });
    const tight = scriptedBackend({ contextWindow: 600 });
    await assert.rejects(
      run({ backend: tight, strategy: pacore({ k: [16, 4] }), problem }),
      BudgetError,
    );
    assert.equal(tight.calls, 0);
  });

  it("the backend's defaultMaxTokens caps the default budget, never one the run sets", async () => {
    const backend = scriptedBackend({ contextWindow: 1_024, defaultMaxTokens: 160 });
    await run({ backend, strategy: pacore({ k: [16, 4] }), problem });
    assert.ok(backend.requests.every((request) => request.sampling.maxTokens === 160));
    const explicit = scriptedBackend({ contextWindow: 1_024, defaultMaxTokens: 160 });
    await run({ backend: explicit, strategy: single(), problem, options: { maxTokens: 300 } });
    assert.equal(explicit.requests[0].sampling.maxTokens, 300);
    const roomy = scriptedBackend({ contextWindow: 1_024, defaultMaxTokens: 5_000 });
    await run({ backend: roomy, strategy: pacore({ k: [16, 4] }), problem });
    const roomyBudgets = roomy.requests.map((request) => request.sampling.maxTokens!);
    assert.equal(roomyBudgets[0], 512);
    assert.ok(Math.min(...roomyBudgets) < 512, "the synthesis rounds still have to fit");
  });

  it("messages that do not fit are cut, with a message-trim event each", async () => {
    const long = `<think>…</think>${"step ".repeat(400)}The answer is 7.`;
    const backend = scriptedBackend({ text: () => long, contextWindow: 1_200 });
    const cuts: number[] = [];
    const result = await run(
      { backend, strategy: pacore({ k: [4] }), problem, options: { maxTokens: 200 } },
      { "message-trim": ({ keptTokens }) => cuts.push(keptTokens) },
    );
    assert.equal(cuts.length, 4);
    const synthesis = backend.requests[backend.requests.length - 1];
    const promptTokens = await backend.countTokens!(synthesis.messages);
    assert.ok(promptTokens + 200 <= 1_200, `${promptTokens} + 200 > 1200`);
    assert.match(lastUserText(synthesis), /The answer is 7\./, "keep-tail keeps the conclusion");
    assert.equal(result.rounds[0].messages[0], long.slice(16), "round messages stay whole");
  });

  it("emits events in order, noun-verb names", async () => {
    const names: RunEventName[] = [];
    const instance = new Run({ backend: scriptedBackend(), strategy: pacore({ k: [2] }), problem });
    for (const name of [
      "run-start",
      "round-start",
      "trajectory-start",
      "trajectory-end",
      "round-end",
      "run-end",
    ] as const) {
      instance.on(name, () => names.push(name));
    }
    await instance.start();
    assert.deepEqual(names, [
      "run-start",
      "round-start",
      "trajectory-start",
      "trajectory-start",
      "trajectory-end",
      "trajectory-end",
      "round-end",
      "round-start",
      "trajectory-start",
      "trajectory-end",
      "round-end",
      "run-end",
    ]);
  });

  it("counts usage and effective tokens over all rounds", async () => {
    const result = await run({
      backend: scriptedBackend(),
      strategy: pacore({ k: [3, 2] }),
      problem,
    });
    const trajectories = result.rounds.flatMap((round) => round.trajectories);
    const generated = trajectories.reduce((sum, t) => sum + t.usage.completionTokens, 0);
    assert.equal(result.effectiveTokens, generated);
    assert.equal(result.usage.totalTokens, result.usage.promptTokens + generated);
    assert.ok(generated > 0);
  });

  it("rejects bad plans and problems with messages that name the fix", async () => {
    const backend = scriptedBackend();
    assert.throws(
      () => pacore({ k: [4, 0] }),
      /Expected `k` to be a list of positive integers, got `\[4,0\]`/,
    );
    await assert.rejects(run({ backend, strategy: single(), problem: " " }), /non-empty problem/);
    await assert.rejects(
      run({ backend, strategy: single(), problem, options: { topP: 0 } }),
      /Invalid run option `topP`/,
    );
  });
});
