/**
 * End to end: PaCoRe runs through the engine into fake vLLM / SGLang / llama.cpp servers that
 * inject faults. The backend makes one HTTP request per attempt and classifies what failed; the
 * engine's one retry loop tries again, and the router sends the next attempt to a healthy
 * replica.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { openaiBackend } from "../../../src/backends/openai/index.js";
import { run } from "../../../src/core/engine.js";
import { pacore } from "../../../strategies/pacore.js";
import {
  deadBaseUrl,
  type Fault,
  startFakeOpenAIServer,
} from "../../helpers/fake-openai-server.js";
import { openaiTestBed } from "../../helpers/openai-test-bed.js";

const { servers, closers } = openaiTestBed();

const PROBLEM = "What is 2+2?";

describe("pacore runs through the OpenAI backend", () => {
  it("[16,4] over vLLM, SGLang, llama.cpp and a dead endpoint, with faults, accounts for every trajectory", async () => {
    const faults: Record<string, readonly (Fault | undefined)[]> = {
      vllm: [
        { kind: "status", status: 429, retryAfter: "1" },
        undefined,
        { kind: "status", status: 500 },
      ],
      sglang: [{ kind: "reset-mid-stream", afterEvents: 3 }, { kind: "malformed" }],
      llamacpp: [
        undefined,
        { kind: "status", status: 503 },
        { kind: "slow-headers", delayMs: 3000 },
      ],
    };
    const cluster = await Promise.all(
      (["vllm", "sglang", "llamacpp"] as const).map((flavour) =>
        startFakeOpenAIServer({ flavour, faults: faults[flavour], latencyMs: 5 }),
      ),
    );
    servers.push(...cluster);
    const dead = await deadBaseUrl();
    const backend = openaiBackend({
      baseUrls: [...cluster.map((server) => server.baseUrl), dead],
      model: "fake-model",
      maxConcurrencyPerEndpoint: 4,
      maxSamplesPerCall: 4,
      connectTimeoutMs: 1000,
      ejectAfterFailures: 2,
    });
    closers.push(() => backend.close());

    const result = await run({
      backend,
      strategy: pacore({ k: [16, 4] }),
      problem: PROBLEM,
      options: {
        seed: 7,
        maxTokens: 256,
        context: 32_768,
        // The slow-headers fault (3 s) times out; Retry-After: 1 is the longest wait.
        timeoutMs: 500,
        retries: 6,
        backoff: { initialMs: 10, maxMs: 100, factor: 2 },
      },
    });

    assert.deepEqual(
      result.rounds.map((round) => [round.k, round.trajectories.length]),
      [
        [16, 16],
        [4, 4],
        [1, 1],
      ],
    );
    const trajectories = result.rounds.flatMap((round) => round.trajectories);
    assert.ok(trajectories.every((trajectory) => trajectory.error === undefined));
    assert.ok(trajectories.every((trajectory) => trajectory.content === "The answer is 4."));
    assert.equal(result.answer, "4");

    // Every fault that fired cost its call one engine attempt, and one request only: the
    // backend retries nothing itself. Calls of a round share a prompt, so a trajectory's
    // `attempts` is its call's.
    const injected = cluster.flatMap((server) =>
      server.chatRequests().filter((request) => request.fault !== undefined),
    );
    assert.ok(injected.length >= 3, `only ${injected.length} faults fired`);
    assert.ok(trajectories.some((trajectory) => trajectory.attempts > 1));
    const stats = backend.stats().endpoints;
    const [vllm, sglang, llamacpp, deadEndpoint] = stats;
    assert.equal(deadEndpoint.ejected, true);
    assert.equal(deadEndpoint.requests, 2, "ejected after its second refused connection");
    const served = cluster.reduce((sum, server) => sum + server.chatRequests().length, 0);
    assert.equal(
      served + deadEndpoint.requests,
      stats.reduce((sum, endpoint) => sum + endpoint.requests, 0),
      "every request the router handed out reached a server or failed to connect, once",
    );
    assert.ok(vllm.requests > 0 && sglang.requests > 0 && llamacpp.requests > 0);
    assert.equal(llamacpp.ignoresN, true);
    assert.equal(vllm.ignoresN, false);
  });

  it("[8,4] over a 5 ms server failing a quarter of requests finishes in under 10 s", async () => {
    const faultKinds: readonly Fault[] = [
      { kind: "status", status: 429, retryAfter: "1" },
      { kind: "status", status: 500 },
      { kind: "reset" },
      { kind: "malformed" },
    ];
    const server = await startFakeOpenAIServer({
      flavour: "vllm",
      latencyMs: 5,
      // Every fourth request fails, cycling through the four kinds: 429, 500, reset, malformed.
      faults: (request) =>
        (request.chatIndex ?? 0) % 4 === 1
          ? faultKinds[Math.floor((request.chatIndex ?? 0) / 4) % 4]
          : undefined,
    });
    servers.push(server);
    const backend = openaiBackend(
      // One request per trajectory, as the reference client sends them.
      { baseUrls: [server.baseUrl], model: server.model, nMode: "split" },
    );
    assert.equal(backend.maxSamplesPerCall, 1, "a split sample's failure is its own");
    closers.push(() => backend.close());
    const started = performance.now();
    const result = await run({
      backend,
      strategy: pacore({ k: [8, 4] }),
      problem: PROBLEM,
      options: { seed: 1, maxTokens: 256, backoff: { initialMs: 10, maxMs: 100, factor: 2 } },
    });
    const elapsedMs = performance.now() - started;
    const trajectories = result.rounds.flatMap((round) => round.trajectories);
    assert.equal(trajectories.length, 13);
    assert.ok(trajectories.every((trajectory) => trajectory.error === undefined));
    const faulted = server.chatRequests().filter((request) => request.fault !== undefined);
    assert.equal(
      server.chatRequests().length,
      trajectories.reduce((sum, trajectory) => sum + trajectory.attempts, 0),
      "one request per engine attempt",
    );
    assert.ok(faulted.length >= 4, `the schedule injected ${faulted.length} faults`);
    assert.ok(
      faulted.some((request) => request.fault?.kind === "status" && request.fault.status === 429),
    );
    assert.ok(elapsedMs < 10_000, `took ${Math.round(elapsedMs)} ms`);
    console.log(
      `[8,4] under faults: ${Math.round(elapsedMs)} ms, ${server.chatRequests().length} requests, ${faulted.length} faults (${faulted.map((request) => (request.fault?.kind === "status" ? request.fault.status : request.fault?.kind)).join(", ")})`,
    );
  });

  it("a server without /tokenize: the engine warns once, into the result's warnings", async () => {
    const server = await startFakeOpenAIServer({ flavour: "llamacpp" });
    servers.push(server);
    const backend = openaiBackend({ baseUrls: [server.baseUrl], model: server.model });
    closers.push(() => backend.close());
    const result = await run({
      backend,
      strategy: pacore({ k: [2] }),
      problem: PROBLEM,
      options: { maxTokens: 64, context: 8_192 },
    });
    const estimated = result.warnings.filter((warning) => /estimated/.test(warning));
    assert.equal(estimated.length, 1, result.warnings.join("\n"));
    assert.match(estimated[0], /backend openai: the server has no .*\/tokenize.*--context/);
    assert.doesNotMatch(estimated[0], /--tokenizer\b/, "no such flag");
  });
  it("a Retry-After holds its own replica, not the run: the retry goes to another at once", async () => {
    // The first replica answers its first request with 429 and Retry-After: 30.
    const limited = await startFakeOpenAIServer({
      flavour: "vllm",
      faults: [{ kind: "status", status: 429, retryAfter: "30" }],
    });
    const healthy = await startFakeOpenAIServer({ flavour: "vllm" });
    servers.push(limited, healthy);
    const run1 = async (baseUrls: string[]) => {
      const backend = openaiBackend({ baseUrls, model: "fake-model" });
      closers.push(() => backend.close());
      const started = performance.now();
      // A backoff ceiling of 60 s would honour the 30 s if the engine were told to wait it.
      const result = await run({
        backend,
        strategy: pacore({ k: [1] }),
        problem: PROBLEM,
        options: { seed: 1, maxTokens: 64, backoff: { initialMs: 10, maxMs: 60_000, factor: 2 } },
      });
      return { result, elapsedMs: performance.now() - started };
    };
    const { result, elapsedMs } = await run1([limited.baseUrl, healthy.baseUrl]);
    assert.equal(result.answer, "4");
    assert.equal(limited.chatRequests().length, 1, "the limited replica is asked once");
    assert.ok(elapsedMs < 5_000, `the run waited ${Math.round(elapsedMs)} ms`);
    // Alone, the replica's Retry-After reaches the engine, which waits it (capped by maxMs).
    const lonely = await startFakeOpenAIServer({
      flavour: "vllm",
      faults: [{ kind: "status", status: 429, retryAfter: "1" }],
    });
    servers.push(lonely);
    const single = await run1([lonely.baseUrl]);
    assert.equal(single.result.answer, "4");
    assert.ok(single.elapsedMs >= 950, `alone, it waited only ${Math.round(single.elapsedMs)} ms`);
  });
});
