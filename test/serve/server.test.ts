/**
 * `createServer` driven by the official `openai` client over the simulated and function
 * backends, on a real `node:http` server on port 0.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import OpenAI from "openai";
import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import { functionBackend } from "../../src/backends/function/index.js";
import { simulatedBackend } from "../../src/backends/simulated/index.js";
import { BackendError } from "../../src/common/errors.js";
import { createServer, type PacoreServer, type ServeOptions } from "../../src/serve/index.js";
import type { ChatMessage, ModelBackend, SamplingOptions } from "../../src/spec/backend.js";

interface Started {
  readonly server: PacoreServer;
  readonly url: string;
  readonly logs: string[];
  readonly client: OpenAI;
  withKey(apiKey: string): OpenAI;
}

const open: PacoreServer[] = [];
after(async () => {
  await Promise.all(open.map((server) => server.close({ graceMs: 0 })));
});

async function start(options: Partial<ServeOptions> = {}): Promise<Started> {
  const logs: string[] = [];
  const server = createServer({
    backend: simulatedBackend(),
    log: (line) => logs.push(line),
    ...options,
  });
  open.push(server);
  const { port } = await server.listen(0);
  const url = `http://127.0.0.1:${port}`;
  const withKey = (apiKey: string) =>
    new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, timeout: 30_000 });
  return { server, url, logs, client: withKey("none"), withKey };
}

/** Resolves once `condition()` holds; fails after `ms` (generous: the machine is loaded). */
async function until(condition: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A function backend whose calls wait until released or aborted, counting each outcome. */
function gatedBackend() {
  const counts = { started: 0, finished: 0, aborted: 0 };
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const backend = functionBackend(
    ({ signal }) =>
      new Promise<string>((resolve, reject) => {
        counts.started++;
        const onAbort = () => {
          counts.aborted++;
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        gate.then(() => {
          signal.removeEventListener("abort", onAbort);
          counts.finished++;
          resolve("<think>thinking</think>The answer is 4.");
        });
      }),
  );
  return { backend, counts, release };
}

/** Request params with pacore's own request field, which the client's types do not know. */
function withPacore<Params>(params: Params, pacore: Record<string, unknown>): Params {
  return { ...params, pacore };
}

const problem: OpenAI.Chat.ChatCompletionMessageParam[] = [
  { role: "user", content: "What is 17*23+5?" },
];

describe("pacore serve: chat completions", () => {
  it("answers a plain request: content, reasoning, usage summed over rounds, trajectories", async () => {
    const { client, logs } = await start();
    const completion = await client.chat.completions.create({
      model: "pacore:4",
      messages: problem,
      seed: 3,
    });
    const choice = completion.choices[0];
    assert.equal(completion.object, "chat.completion");
    assert.equal(completion.model, "pacore:4");
    assert.equal(choice.finish_reason, "stop");
    assert.match(choice.message.content ?? "", /\S/);
    const message = choice.message as typeof choice.message & { reasoning_content?: string };
    assert.match(message.reasoning_content ?? "", /simulated/);
    const extra = (completion as unknown as { pacore: PacoreField }).pacore;
    assert.deepEqual(extra.plan, [4, 1]);
    assert.equal(extra.rounds.length, 2);
    assert.equal(extra.rounds[0].trajectories?.length, 4);
    const sum = (key: "prompt_tokens" | "completion_tokens") =>
      extra.rounds.reduce((total, round) => total + round.usage[key], 0);
    assert.equal(completion.usage?.prompt_tokens, sum("prompt_tokens"));
    assert.equal(completion.usage?.completion_tokens, sum("completion_tokens"));
    assert.equal(completion.usage?.total_tokens, sum("prompt_tokens") + sum("completion_tokens"));
    assert.equal(
      completion.usage?.prompt_tokens_details?.cached_tokens,
      extra.rounds.reduce(
        (total, round) => total + round.usage.prompt_tokens_details.cached_tokens,
        0,
      ),
    );
    assert.equal(extra.effective_tokens, sum("completion_tokens"));
    await until(() => logs.length === 1, "the log line");
    assert.match(
      logs[0],
      /POST \/v1\/chat\/completions model=pacore:4 status=200 rounds=2 tokens=\d+ ms=[\d.]+$/,
    );
    assert.doesNotMatch(logs[0], /17\*23/);
  });

  it("maps model names onto strategies: presets, parameters, and the pacore field", async () => {
    const { client } = await start();
    const plans: Record<string, number[]> = {
      "pacore-low": [4, 1],
      "pacore-medium": [16, 1],
      "pacore-high": [32, 4, 1],
      "pacore:2,2": [2, 2, 1],
      "self-consistency:3": [3],
      single: [1],
      "sequential:1,1": [1, 1, 1],
      "rsa:4,2,2": [4, 4],
    };
    for (const [model, plan] of Object.entries(plans)) {
      const completion = await client.chat.completions.create({ model, messages: problem });
      assert.deepEqual((completion as unknown as { pacore: PacoreField }).pacore.plan, plan, model);
    }
    const overridden = await client.chat.completions.create(
      withPacore({ model: "pacore", messages: problem }, { k: [3], trajectories: false }),
    );
    const extra = (overridden as unknown as { pacore: PacoreField }).pacore;
    assert.deepEqual(extra.plan, [3, 1]);
    assert.equal(extra.rounds[0].trajectories, undefined);
  });

  it("streams: progress chunks the client passes over, then the answer as deltas, finish and usage", async () => {
    const { client } = await start();
    const plain = await client.chat.completions.create({
      model: "pacore:4",
      messages: problem,
      seed: 5,
    });
    const stream = await client.chat.completions.create(
      withPacore(
        {
          model: "pacore:4",
          messages: problem,
          seed: 5,
          stream: true,
          stream_options: { include_usage: true },
        },
        { progress: true },
      ),
    );
    let content = "";
    let reasoning = "";
    const events: string[] = [];
    const finishes: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta as
        | (ChatCompletionChunk.Choice.Delta & { reasoning_content?: string })
        | undefined;
      content += delta?.content ?? "";
      reasoning += delta?.reasoning_content ?? "";
      if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
      const progress = (chunk as unknown as { pacore?: { event?: string } }).pacore;
      if (progress?.event) events.push(progress.event);
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(content, plain.choices[0].message.content);
    assert.equal(
      reasoning,
      (plain.choices[0].message as unknown as { reasoning_content: string }).reasoning_content,
    );
    assert.deepEqual(finishes, ["stop"]);
    assert.deepEqual(usage, plain.usage);
    assert.equal(events.filter((event) => event === "round-start").length, 2);
    assert.equal(events.filter((event) => event === "trajectory-end").length, 5);
    assert.equal(events.at(-1), "round-end");
  });

  it("streams through the client's `stream()` helper to the same final completion", async () => {
    const { client } = await start();
    const plain = await client.chat.completions.create({
      model: "pacore:3",
      messages: problem,
      seed: 9,
    });
    const runner = client.chat.completions.stream(
      withPacore({ model: "pacore:3", messages: problem, seed: 9 }, { progress: true }),
    );
    const final = await runner.finalChatCompletion();
    assert.equal(final.choices[0].message.content, plain.choices[0].message.content);
    assert.equal(final.choices[0].finish_reason, "stop");
  });

  it("honours temperature 0 and the other sampling fields; server defaults fill the rest", async () => {
    const seen: SamplingOptions[] = [];
    const backend = functionBackend(({ sampling }) => {
      seen.push(sampling);
      return "The answer is 4.";
    });
    const { client } = await start({ backend, runOptions: { temperature: 0.7, topP: 0.9 } });
    await client.chat.completions.create({
      model: "pacore:2",
      messages: problem,
      temperature: 0,
      max_completion_tokens: 100,
      stop: "STOP",
    });
    assert.equal(seen.length, 3);
    for (const sampling of seen) {
      assert.equal(sampling.temperature, 0);
      assert.equal(sampling.topP, 0.9);
      assert.equal(sampling.maxTokens, 100);
      assert.deepEqual(sampling.stop, ["STOP"]);
    }
    seen.length = 0;
    await client.chat.completions.create({ model: "single", messages: problem, top_p: 0.5 });
    assert.equal(seen[0].temperature, 0.7);
    assert.equal(seen[0].topP, 0.5);
  });

  it("maps system, developer and image parts onto pacore's conversation", async () => {
    const seen: (readonly ChatMessage[])[] = [];
    const backend = functionBackend(({ messages }) => {
      seen.push(messages);
      return "The answer is 4.";
    });
    const { client } = await start({ backend });
    await client.chat.completions.create({
      model: "single",
      messages: [
        { role: "developer", content: "Be brief." },
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello." },
        {
          role: "user",
          content: [
            { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
            { type: "text", text: "What is 2+2?" },
          ],
        },
      ],
    });
    assert.deepEqual(seen[0], [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello." },
      {
        role: "user",
        content: [
          { type: "image", image: "data:image/png;base64,AAAA" },
          { type: "text", text: "What is 2+2?" },
        ],
      },
    ]);
  });

  it("lists models and answers /health at once", async () => {
    const { client, url } = await start();
    const models = (await client.models.list()).data.map((model) => model.id);
    assert.ok(models.includes("pacore-high") && models.includes("self-consistency"));
    assert.ok(!models.includes("best-of-n"), "best-of-n needs a verifier");
    const health = await fetch(`${url}/health`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, "ok");
  });

  it("answers /health while the backend still loads, and serves once it has", async () => {
    let resolve!: (backend: ModelBackend) => void;
    const loading = new Promise<ModelBackend>((done) => {
      resolve = done;
    });
    const { client, url } = await start({ backend: loading });
    const before = await fetch(`${url}/health`);
    assert.equal(before.status, 503);
    assert.equal(((await before.json()) as { status: string }).status, "loading");
    const pending = client.chat.completions.create({ model: "single", messages: problem });
    resolve(simulatedBackend());
    assert.match((await pending).choices[0].message.content ?? "", /\S/);
    assert.equal((await fetch(`${url}/health`)).status, 200);
  });
});

describe("pacore serve: errors", () => {
  it("400 names the bad field in an OpenAI-shaped error", async () => {
    const { client, url } = await start();
    await assert.rejects(
      client.chat.completions.create({
        model: "pacore:4",
        messages: problem,
        // @ts-expect-error: a bad value on purpose
        temperature: "hot",
      }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError);
        assert.equal(error.status, 400);
        assert.equal(error.param, "temperature");
        assert.equal(error.type, "invalid_request_error");
        assert.match(error.message, /`temperature`/);
        return true;
      },
    );
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "single", messages: [{ role: "user", content: 4 }] }),
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
    assert.equal(body.error.param, "messages[0].content");
    const broken = await fetch(`${url}/v1/chat/completions`, { method: "POST", body: "{" });
    assert.equal(broken.status, 400);
    assert.equal(((await broken.json()) as { error: { code: string } }).error.code, "invalid_json");
  });

  it("refuses local image paths, tools, n > 1 and a last turn that is not the user's", async () => {
    const { client } = await start();
    const cases: Record<string, unknown>[] = [
      {
        messages: [
          {
            role: "user",
            content: [{ type: "image_url", image_url: { url: "/etc/passwd" } }],
          },
        ],
      },
      { messages: problem, n: 2 },
      { messages: [...problem, { role: "assistant", content: "4" }] },
      { messages: [{ role: "tool", content: "x", tool_call_id: "1" }] },
    ];
    for (const extra of cases) {
      await assert.rejects(
        // biome-ignore lint/suspicious/noExplicitAny: invalid requests on purpose.
        client.chat.completions.create({ model: "single", ...extra } as any),
        OpenAI.BadRequestError,
        JSON.stringify(extra),
      );
    }
  });

  it("404 for an unknown model or route, 405 for a wrong method", async () => {
    const { client, url } = await start();
    await assert.rejects(
      client.chat.completions.create({ model: "gpt-4o", messages: problem }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.NotFoundError);
        assert.equal(error.code, "model_not_found");
        return true;
      },
    );
    await assert.rejects(
      client.chat.completions.create({ model: "pacore:0", messages: problem }),
      OpenAI.NotFoundError,
    );
    assert.equal((await fetch(`${url}/v1/completions`, { method: "POST" })).status, 404);
    const wrong = await fetch(`${url}/v1/chat/completions`);
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "POST");
  });

  it("refuses best-of-n without a verifier, and plans over the trajectory limit", async () => {
    const { client } = await start({ maxTrajectories: 10 });
    await assert.rejects(
      client.chat.completions.create({ model: "best-of-n:4", messages: problem }),
      /needs a verifier/,
    );
    await assert.rejects(
      client.chat.completions.create({ model: "pacore-medium", messages: problem }),
      /17 trajectories; this server allows 10/,
    );
  });

  it("401 for a wrong or missing key, compared against the configured one", async () => {
    const { withKey, url, logs } = await start({ apiKey: "s3cret-key" });
    await assert.rejects(
      withKey("wrong").chat.completions.create({ model: "single", messages: problem }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.AuthenticationError);
        assert.equal(error.code, "invalid_api_key");
        return true;
      },
    );
    assert.equal((await fetch(`${url}/v1/models`)).status, 401);
    const ok = await withKey("s3cret-key").chat.completions.create({
      model: "single",
      messages: problem,
    });
    assert.match(ok.choices[0].message.content ?? "", /\S/);
    assert.equal((await fetch(`${url}/health`)).status, 200, "health needs no key");
    await until(() => logs.length === 4, "four log lines");
    assert.ok(logs.every((line) => !line.includes("s3cret") && !line.includes("wrong")));
  });

  it("413 for a body over the limit", async () => {
    const { client } = await start({ maxBodyBytes: 2048 });
    await assert.rejects(
      client.chat.completions.create({
        model: "single",
        messages: [{ role: "user", content: "x".repeat(10_000) }],
      }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.APIError);
        assert.equal(error.status, 413);
        assert.equal(error.code, "request_too_large");
        return true;
      },
    );
    // The limit is on bytes, not on the request: a small one still goes through.
    await client.chat.completions.create({ model: "single", messages: problem });
  });

  it("429 when the server runs its limit of requests, and serves again after", async () => {
    const { backend, release } = gatedBackend();
    const { client, server } = await start({ backend, maxConcurrentRequests: 1 });
    const first = client.chat.completions.create({ model: "single", messages: problem });
    await until(() => server.handler.inFlight === 1, "the first request");
    await assert.rejects(
      client.chat.completions.create({ model: "single", messages: problem }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.RateLimitError);
        assert.equal(error.headers?.get("retry-after"), "1");
        return true;
      },
    );
    release();
    assert.equal((await first).choices[0].message.content, "The answer is 4.");
    await until(() => server.handler.inFlight === 0, "the slot to free");
    await client.chat.completions.create({ model: "single", messages: problem });
  });

  it("maps a failed run onto 502, and a failed stream onto an error event the client throws", async () => {
    const backend = functionBackend(() => {
      throw new BackendError("model exploded", { retryable: false });
    });
    const { client } = await start({ backend, runOptions: { retries: 0 } });
    await assert.rejects(
      client.chat.completions.create({ model: "pacore:2", messages: problem }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.APIError);
        assert.equal(error.status, 502);
        assert.match(String(error.code), /^PACORE_ERR_(QUORUM|BACKEND)$/);
        assert.match(error.message, /model exploded/);
        return true;
      },
    );
    const stream = await client.chat.completions.create({
      model: "pacore:2",
      messages: problem,
      stream: true,
    });
    await assert.rejects(async () => {
      for await (const _ of stream) {
      }
    }, /model exploded/);
  });
});

describe("pacore serve: cancellation and shutdown", () => {
  it("a client that disconnects aborts its run: every started backend call is aborted", async () => {
    const { backend, counts } = gatedBackend();
    const { client, logs, server } = await start({ backend });
    const controller = new AbortController();
    const request = client.chat.completions.create(
      { model: "pacore:4", messages: problem },
      { signal: controller.signal },
    );
    request.catch(() => {});
    await until(() => counts.started === 4, "four backend calls");
    controller.abort();
    await assert.rejects(request, OpenAI.APIUserAbortError);
    await until(() => counts.aborted === 4, "four aborted calls");
    await until(() => server.handler.inFlight === 0, "the run to end");
    assert.deepEqual(counts, { started: 4, finished: 0, aborted: 4 });
    await until(() => logs.length === 1, "the log line");
    assert.match(logs[0], /status=499 .*error=PACORE_ERR_ABORTED/);
  });

  it("a streaming client that disconnects aborts its run too", async () => {
    const { backend, counts } = gatedBackend();
    const { client } = await start({ backend });
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: "pacore:3", messages: problem, stream: true },
      { signal: controller.signal },
    );
    const reading = (async () => {
      for await (const _ of stream) {
      }
    })();
    reading.catch(() => {});
    await until(() => counts.started === 3, "three backend calls");
    controller.abort();
    await until(() => counts.aborted === 3, "three aborted calls");
    assert.equal(counts.finished, 0);
  });

  it("close: requests in flight finish within the grace period; new ones are refused", async () => {
    const { backend, counts, release } = gatedBackend();
    const { client, server, url } = await start({ backend });
    const request = client.chat.completions.create({ model: "pacore:2", messages: problem });
    await until(() => counts.started === 2, "two backend calls");
    const closing = server.close({ graceMs: 60_000 });
    await until(() => !server.server.listening, "the listener to close");
    await assert.rejects(fetch(`${url}/health`));
    release();
    assert.equal((await request).choices[0].message.content, "The answer is 4.");
    await closing;
    assert.equal(counts.aborted, 0);
  });

  it("close: requests still running after the grace period are aborted with 503", async () => {
    const { backend, counts } = gatedBackend();
    const { client, server } = await start({ backend });
    const request = client.chat.completions.create({ model: "pacore:2", messages: problem });
    await until(() => counts.started === 2, "two backend calls");
    await server.close({ graceMs: 50 });
    await assert.rejects(request, (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError);
      assert.equal(error.status, 503);
      return true;
    });
    assert.equal(counts.aborted, 2);
  });
});

interface PacoreField {
  plan: number[];
  effective_tokens: number;
  rounds: {
    usage: {
      prompt_tokens: number;
      completion_tokens: number;
      prompt_tokens_details: { cached_tokens: number };
    };
    trajectories?: unknown[];
  }[];
}
