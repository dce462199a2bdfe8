import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openaiBackend } from "../../../src/backends/openai/index.js";
import { BackendError, ConfigError } from "../../../src/common/errors.js";
import type { GenerateRequest } from "../../../src/spec/backend.js";
import {
  fakeLogprob,
  fakeTokenCount,
  startFakeOpenAIServer,
} from "../../helpers/fake-openai-server.js";
import { openaiTestBed } from "../../helpers/openai-test-bed.js";

const { servers, closers, setup } = openaiTestBed();

const PROBLEM = "What is 2+2?";
const request = (n: number, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
  messages: [{ role: "user", content: PROBLEM }],
  sampling: { temperature: 1 },
  n,
  seeds: Array.from({ length: n }, (_, i) => 100 + i),
  ...extra,
});

describe("openai backend against vLLM, SGLang and llama.cpp look-alikes", () => {
  for (const stream of [false, true]) {
    const mode = stream ? "streaming" : "non-streaming";

    it(`vLLM (${mode}): n in one request, reasoning from the \`reasoning\` field, usage shared per choice`, async () => {
      const { server, backend } = await setup({ flavour: "vllm", cachedTokens: 2 }, { stream });
      const { completions } = await backend.generate(request(4));
      const chats = server.chatRequests();
      assert.equal(chats.length, 1);
      assert.equal(chats[0].body?.n, 4);
      assert.equal(chats[0].body?.seed, 100);
      assert.equal(chats[0].body?.stream, stream ? true : undefined);
      assert.equal(completions.length, 4);
      completions.forEach((completion, i) => {
        assert.equal(completion.content, "The answer is 4.");
        assert.equal(completion.reasoning, `Reasoning of seed 100, sample ${i}.`);
        assert.equal(completion.finishReason, "stop");
        assert.equal(completion.usage.promptTokens, fakeTokenCount(PROBLEM));
        assert.equal(completion.usage.cachedTokens, 2);
      });
      const raw = `<think>Reasoning of seed 100, sample 0.</think>The answer is 4.`;
      assert.equal(
        completions.reduce((sum, completion) => sum + completion.usage.completionTokens, 0),
        4 * fakeTokenCount(raw),
        "the per-choice shares add up to the server's total",
      );
    });

    it(`SGLang (${mode}): reasoning from \`reasoning_content\`, CRLF frames cut in two`, async () => {
      const { backend } = await setup(
        { flavour: "sglang", lineEnding: "\r\n", splitEvents: true },
        { stream },
      );
      const deltas = new Map<number, string>();
      const { completions } = await backend.generate(
        request(2, {
          onDelta: ({ sample, text }) => deltas.set(sample, (deltas.get(sample) ?? "") + text),
        }),
      );
      assert.deepEqual(
        completions.map((completion) => completion.reasoning),
        ["Reasoning of seed 100, sample 0.", "Reasoning of seed 100, sample 1."],
      );
      if (stream) {
        assert.equal(deltas.get(1), "Reasoning of seed 100, sample 1.The answer is 4.");
      } else {
        assert.equal(deltas.size, 0);
      }
    });

    it(`llama.cpp (${mode}): n is ignored, the rest comes from parallel single requests with their own seeds`, async () => {
      const { server, backend } = await setup({ flavour: "llamacpp", cachedTokens: 3 }, { stream });
      const first = await backend.generate(request(3));
      assert.deepEqual(
        first.completions.map((completion) => completion.reasoning),
        [
          "Reasoning of seed 100, sample 0.",
          "Reasoning of seed 101, sample 0.",
          "Reasoning of seed 102, sample 0.",
        ],
      );
      assert.deepEqual(
        first.completions.map((completion) => completion.content),
        ["The answer is 4.", "The answer is 4.", "The answer is 4."],
      );
      assert.equal(first.completions[0].usage.cachedTokens, 3, "timings.cache_n");
      assert.deepEqual(
        server.chatRequests().map((chat) => [chat.body?.n, chat.body?.seed]),
        [
          [3, 100],
          [undefined, 101],
          [undefined, 102],
        ],
      );
      assert.equal(backend.stats().endpoints[0].ignoresN, true);
      await backend.generate(request(2));
      assert.deepEqual(
        server
          .chatRequests()
          .slice(3)
          .map((chat) => [chat.body?.n, chat.body?.seed]),
        [
          [undefined, 100],
          [undefined, 101],
        ],
        "once detected, calls are split at once",
      );
    });
  }

  it("split mode sends one request per sample, each with its own seed", async () => {
    const { server, backend } = await setup({ flavour: "vllm" }, { nMode: "split" });
    await backend.generate(request(3));
    assert.deepEqual(
      server
        .chatRequests()
        .map((chat) => chat.body?.seed)
        .sort(),
      [100, 101, 102],
    );
    assert.ok(server.chatRequests().every((chat) => chat.body?.n === undefined));
  });

  it("native mode keeps asking for n even from a server that ignores it", async () => {
    const { server, backend } = await setup({ flavour: "llamacpp" }, { nMode: "native" });
    await backend.generate(request(2));
    await backend.generate(request(2));
    assert.deepEqual(
      server.chatRequests().map((chat) => chat.body?.n),
      [2, undefined, 2, undefined],
    );
  });

  it("maps sampling, log-probs, token ids and extra body fields onto the request", async () => {
    const { server, backend } = await setup(
      { flavour: "vllm" },
      { extraBody: { min_p: 0.05, top_k: 5, temperature: 0.1 }, returnTokenIds: true },
    );
    const { completions } = await backend.generate(
      request(1, {
        sampling: { temperature: 0.7, topP: 0.9, topK: 20, maxTokens: 8, stop: ["\n\n"] },
        logprobs: true,
      }),
    );
    const body = server.chatRequests()[0].body;
    assert.deepEqual(
      {
        temperature: body?.temperature,
        top_p: body?.top_p,
        top_k: body?.top_k,
        max_tokens: body?.max_tokens,
        stop: body?.stop,
        min_p: body?.min_p,
        logprobs: body?.logprobs,
        return_token_ids: body?.return_token_ids,
        model: body?.model,
      },
      {
        temperature: 0.7,
        top_p: 0.9,
        top_k: 20,
        max_tokens: 8,
        stop: ["\n\n"],
        min_p: 0.05,
        logprobs: true,
        return_token_ids: true,
        model: "fake-model",
      },
    );
    const [completion] = completions;
    assert.equal(completion.finishReason, "length", "max_tokens cut the reply");
    assert.equal(completion.logprobs?.length, 8);
    assert.deepEqual(
      completion.logprobs,
      Array.from({ length: 8 }, (_, j) => fakeLogprob(j)),
    );
    assert.equal(completion.tokenIds?.length, 8);
    assert.equal(completion.usage.completionTokens, 8);
  });

  it("takes completion counts per choice from the log-probs when n > 1", async () => {
    const { backend } = await setup(
      {
        flavour: "vllm",
        reply: ({ sample }) => "x".repeat(4 * (sample + 1)),
      },
      { logprobs: true },
    );
    const { completions } = await backend.generate(request(3));
    assert.deepEqual(
      completions.map((completion) => completion.usage.completionTokens),
      [1, 2, 3],
    );
  });

  it("sends image parts as image_url, local files as data URLs", async () => {
    const directory = await mkdtemp(join(tmpdir(), "pacore-openai-"));
    const file = join(directory, "figure.png");
    await writeFile(file, Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    const { server, backend } = await setup({ flavour: "vllm" });
    await backend.generate(
      request(1, {
        messages: [
          { role: "system", content: "Be brief." },
          {
            role: "user",
            content: [
              { type: "text", text: "Describe " },
              { type: "image", image: "https://example.com/a.jpg" },
              { type: "image", image: file },
            ],
          },
        ],
      }),
    );
    assert.deepEqual(server.chatRequests()[0].body?.messages, [
      { role: "system", content: "Be brief." },
      {
        role: "user",
        content: [
          { type: "text", text: "Describe " },
          { type: "image_url", image_url: { url: "https://example.com/a.jpg" } },
          { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw==" } },
        ],
      },
    ]);
  });

  it("sends the API key from the named environment variable and never puts it in errors", async () => {
    process.env.PACORE_TEST_KEY = "sk-secret-value-1234";
    try {
      const { server, backend } = await setup(
        {
          flavour: "vllm",
          faults: [{ kind: "status", status: 401 }],
          reply: () => "unused",
        },
        { apiKeyEnv: "PACORE_TEST_KEY" },
      );
      const error = await backend.generate(request(1)).then(
        () => assert.fail("expected a 401 error"),
        (caught: unknown) => caught,
      );
      assert.equal(server.chatRequests()[0].headers.authorization, "Bearer sk-secret-value-1234");
      assert.ok(error instanceof BackendError);
      assert.equal(error.retryable, false);
      assert.equal(error.status, 401);
      assert.match(error.message, /apiKeyEnv/);
      assert.ok(
        !JSON.stringify({ message: error.message, stack: error.stack }).includes("sk-secret"),
      );
      assert.equal(server.chatRequests().length, 1, "a 401 is not retried");
    } finally {
      delete process.env.PACORE_TEST_KEY;
    }
  });

  it("fails at creation when --api-key-env names a variable that is unset or empty", async () => {
    const server = await startFakeOpenAIServer();
    servers.push(server);
    for (const value of [undefined, ""]) {
      if (value === undefined) delete process.env.PACORE_TEST_MISSING_KEY;
      else process.env.PACORE_TEST_MISSING_KEY = value;
      assert.throws(
        () =>
          openaiBackend({
            baseUrls: [server.baseUrl],
            model: server.model,
            apiKeyEnv: "PACORE_TEST_MISSING_KEY",
          }),
        (error: unknown) =>
          error instanceof ConfigError &&
          /PACORE_TEST_MISSING_KEY/.test(error.message) &&
          new RegExp(value === undefined ? "not set" : "empty").test(error.message),
      );
    }
    delete process.env.PACORE_TEST_MISSING_KEY;
    assert.equal(server.requests.length, 0);
  });

  it("streams by default: deltas, finish reasons and usage per choice index for n > 1", async () => {
    const { server, backend } = await setup({
      flavour: "vllm",
      // Sample 1 is longer than max_tokens and is cut ("length"); the others stop.
      reply: ({ sample }) => `<think>r${sample}</think>${"x".repeat(sample === 1 ? 80 : 8)}`,
    });
    const deltas = new Map<number, string>();
    const { completions } = await backend.generate(
      request(3, {
        sampling: { temperature: 1, maxTokens: 10 },
        onDelta: ({ sample, text }) => deltas.set(sample, (deltas.get(sample) ?? "") + text),
      }),
    );
    const body = server.chatRequests()[0].body;
    assert.equal(body?.stream, true);
    assert.deepEqual(body?.stream_options, { include_usage: true });
    assert.deepEqual(
      completions.map((completion) => completion.finishReason),
      ["stop", "length", "stop"],
    );
    completions.forEach((completion, sample) => {
      assert.equal(deltas.get(sample), (completion.reasoning ?? "") + completion.content);
      // From the usage chunk: the server's own prompt count, not an estimate.
      assert.equal(completion.usage.promptTokens, fakeTokenCount(PROBLEM));
    });
    assert.equal(completions[1].content, "x".repeat(40 - "<think>r1</think>".length));
    assert.equal(
      completions.reduce((sum, completion) => sum + completion.usage.completionTokens, 0),
      fakeTokenCount("<think>r0</think>xxxxxxxx") * 2 + 10,
    );
  });

  it("reports maxConcurrency as the sum of the per-endpoint caps", async () => {
    const first = await startFakeOpenAIServer();
    const second = await startFakeOpenAIServer();
    servers.push(first, second);
    const backend = openaiBackend({
      baseUrls: [first.baseUrl, `${second.baseUrl}/`],
      model: "fake-model",
      maxConcurrencyPerEndpoint: 7,
      maxSamplesPerCall: 8,
    });
    closers.push(() => backend.close());
    assert.equal(backend.maxConcurrency, 14);
    assert.equal(backend.maxSamplesPerCall, 8);
    assert.equal(backend.specificationVersion, "v1");
    assert.equal(backend.provider, "openai");
  });
});
