/**
 * End to end: PaCoRe runs through the engine into fake vLLM / SGLang / llama.cpp servers that
 * inject faults. The backend's HTTP retries and failover are the first line: the engine should
 * see every trajectory succeed at its first attempt.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type AttemptFailureReport, openaiBackend } from "../../../src/backends/openai/index.js";
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
    const reports: AttemptFailureReport[] = [];
    const backend = openaiBackend(
      {
        baseUrls: [...cluster.map((server) => server.baseUrl), dead],
        model: "fake-model",
        stream: true,
        maxConcurrencyPerEndpoint: 4,
        maxSamplesPerCall: 4,
        backoff: { initialMs: 50, maxMs: 2000, factor: 2 },
        timeouts: { connectMs: 1000, headersMs: 500, bodyIdleMs: 1000 },
        ejectAfterFailures: 2,
      },
      { onAttemptError: (report) => reports.push(report), onWarning: () => {} },
    );
    closers.push(() => backend.close());

    const result = await run({
      backend,
      strategy: pacore({ k: [16, 4] }),
      problem: PROBLEM,
      options: { seed: 7, maxTokens: 256, context: 32_768 },
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
    assert.ok(
      trajectories.every((trajectory) => trajectory.attempts === 1),
      "the backend's own retries absorbed every fault",
    );
    assert.equal(result.answer, "4");

    // Every injected fault was seen once and retried; the dead endpoint was ejected.
    const injected = cluster.flatMap((server) =>
      server.chatRequests().filter((request) => request.fault !== undefined),
    );
    const [vllm, sglang, llamacpp] = backend.stats().endpoints;
    assert.equal(backend.stats().endpoints[3].ejected, true);
    const faultReports = reports.filter(
      (report) => report.endpoint !== backend.stats().endpoints[3].baseUrl,
    );
    assert.equal(faultReports.length, injected.length);
    assert.ok(reports.every((report) => report.willRetry));
    // Which faults fire depends on routing (timing); each one that fired is reported with its
    // status (a malformed 200 body as 200; resets and slow headers carry none).
    const statusOf = (fault: Fault | undefined) =>
      fault?.kind === "status" ? fault.status : fault?.kind === "malformed" ? 200 : undefined;
    const sortedStatuses = (statuses: (number | undefined)[]) =>
      statuses.filter((status) => status !== undefined).sort();
    assert.deepEqual(
      sortedStatuses(faultReports.map((report) => report.status)),
      sortedStatuses(injected.map((request) => statusOf(request.fault))),
    );
    assert.ok(injected.length >= 3, `only ${injected.length} faults fired`);
    assert.ok(vllm.requests > 0 && sglang.requests > 0 && llamacpp.requests > 0);
    // Failures with a healthy endpoint left went over at once.
    assert.ok(reports.some((report) => report.delayMs === 0));
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
      { onWarning: () => {} },
    );
    closers.push(() => backend.close());
    const started = performance.now();
    const result = await run({
      backend,
      strategy: pacore({ k: [8, 4] }),
      problem: PROBLEM,
      options: { seed: 1, maxTokens: 256 },
    });
    const elapsedMs = performance.now() - started;
    const trajectories = result.rounds.flatMap((round) => round.trajectories);
    assert.equal(trajectories.length, 13);
    assert.ok(trajectories.every((trajectory) => trajectory.error === undefined));
    const faulted = server.chatRequests().filter((request) => request.fault !== undefined);
    assert.ok(faulted.length >= 4, `the schedule injected ${faulted.length} faults`);
    assert.ok(
      faulted.some((request) => request.fault?.kind === "status" && request.fault.status === 429),
    );
    assert.ok(elapsedMs < 10_000, `took ${Math.round(elapsedMs)} ms`);
    console.log(
      `[8,4] under faults: ${Math.round(elapsedMs)} ms, ${server.chatRequests().length} requests, ${faulted.length} faults (${faulted.map((request) => (request.fault?.kind === "status" ? request.fault.status : request.fault?.kind)).join(", ")})`,
    );
  });
});
