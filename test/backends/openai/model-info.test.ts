import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  type OpenAIBackendOptionsInput,
  openaiBackend,
} from "../../../src/backends/openai/index.js";
import { estimateTokens } from "../../../src/common/estimate-tokens.js";
import type { ChatMessage } from "../../../src/spec/backend.js";
import {
  deadBaseUrl,
  type FakeOpenAIServerOptions,
  fakeTokenCount,
  startFakeOpenAIServer,
} from "../../helpers/fake-openai-server.js";
import { openaiTestBed } from "../../helpers/openai-test-bed.js";

const { servers, closers, setup: startBed } = openaiTestBed();

async function setup(
  serverOptions: FakeOpenAIServerOptions,
  backendOptions: Partial<OpenAIBackendOptionsInput> = {},
) {
  const { server, backend } = await startBed(serverOptions, backendOptions);
  return { server, backend };
}

const MESSAGES: ChatMessage[] = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "What is 2+2?" },
];

describe("context window", () => {
  it("prefers the contextWindow option and asks no server", async () => {
    const { server, backend } = await setup({}, { contextWindow: 4096 });
    assert.equal(await backend.contextWindow?.(), 4096);
    assert.equal(server.requests.length, 0);
  });

  it("reads vLLM's and SGLang's max_model_len from /v1/models, once", async () => {
    for (const flavour of ["vllm", "sglang"] as const) {
      const { server, backend } = await setup({ flavour, maxModelLen: 40_960 });
      assert.equal(await backend.contextWindow?.(), 40_960);
      assert.equal(await backend.contextWindow?.(), 40_960);
      assert.deepEqual(
        server.requests.map((request) => request.path),
        ["/v1/models"],
      );
      assert.equal(backend.estimatedTokenCounts(), undefined);
    }
  });

  it("reads llama.cpp's n_ctx from /props (not the training length in /v1/models)", async () => {
    const { backend } = await setup({ flavour: "llamacpp", maxModelLen: 8192 });
    assert.equal(await backend.contextWindow?.(), 8192);
  });

  it("skips a dead endpoint and asks the next one", async () => {
    const server = await startFakeOpenAIServer({ maxModelLen: 12_345 });
    servers.push(server);
    const backend = openaiBackend({
      baseUrls: [await deadBaseUrl(), server.baseUrl],
      model: server.model,
    });
    closers.push(() => backend.close());
    assert.equal(await backend.contextWindow?.(), 12_345);
  });

  it("reports an unknown window as undefined, without inventing one or warning", async () => {
    const { backend } = await setup({ flavour: "vllm", modelsRoute: false });
    assert.equal(await backend.contextWindow(), undefined);
  });
});

describe("token counts", () => {
  it("uses vLLM's /tokenize for text and for message lists", async () => {
    const { server, backend } = await setup({ flavour: "vllm" });
    assert.equal(await backend.countTokens?.("x".repeat(41)), 11);
    assert.equal(await backend.countTokens?.(MESSAGES), fakeTokenCount("Be brief.\nWhat is 2+2?"));
    const bodies = server.requests.filter((request) => request.path === "/tokenize");
    assert.equal(bodies.length, 2);
    assert.equal(bodies[0].body?.prompt, "x".repeat(41));
    assert.deepEqual(bodies[1].body?.messages, MESSAGES);
    assert.equal(bodies[1].body?.add_generation_prompt, true);
    assert.equal(backend.tokenCountSource(), "server");
    assert.equal(backend.estimatedTokenCounts(), undefined);
  });

  it("counts message lists turn by turn on a server whose /tokenize takes text only (SGLang)", async () => {
    const { server, backend } = await setup({ flavour: "sglang" });
    const expected = fakeTokenCount("Be brief.") + fakeTokenCount("What is 2+2?") + 4 * 2 + 2;
    assert.equal(await backend.countTokens?.(MESSAGES), expected);
    assert.equal(await backend.countTokens?.(MESSAGES), expected);
    const paths = server.requests.map((request) =>
      request.body?.messages === undefined ? "prompt" : "messages",
    );
    assert.deepEqual(paths, ["messages", "prompt", "prompt", "prompt", "prompt"]);
  });

  it("estimates, with one warning that says so and names real flags, when the server has no /tokenize (llama.cpp)", async () => {
    const { server, backend } = await setup({ flavour: "llamacpp" });
    assert.equal(await backend.countTokens?.(MESSAGES), estimateTokens(MESSAGES));
    assert.equal(backend.tokenCountSource(), "estimate");
    assert.equal(await backend.countTokens?.("What is 2+2?"), estimateTokens("What is 2+2?"));
    assert.match(
      backend.estimatedTokenCounts() ?? "",
      /has no http:\/\/127\.0\.0\.1:\d+\/tokenize .*no tokenizerPath/,
    );
    assert.equal(
      server.requests.filter((request) => request.path === "/tokenize").length,
      1,
      "a missing route is not asked again",
    );
  });

  it("counts with a local tokenizer.json when the server has no /tokenize", async () => {
    const directory = await mkdtemp(join(tmpdir(), "pacore-tokenizer-"));
    const path = join(directory, "tokenizer.json");
    await writeFile(
      path,
      JSON.stringify({
        version: "1.0",
        added_tokens: [],
        normalizer: null,
        pre_tokenizer: { type: "Whitespace" },
        post_processor: null,
        decoder: null,
        model: {
          type: "WordLevel",
          vocab: { "[UNK]": 0, what: 1, is: 2, "2": 3, "+": 4, "?": 5 },
          unk_token: "[UNK]",
        },
      }),
    );
    const { backend } = await setup({ flavour: "llamacpp" }, { tokenizerPath: path });
    assert.equal(await backend.countTokens?.("what is 2+2?"), 6);
    assert.equal(
      await backend.countTokens?.([{ role: "user", content: "what is 2+2?" }]),
      6 + 4 + 2,
    );
    assert.equal(backend.estimatedTokenCounts(), undefined);
  });

  it("does not fail a count when the server is unreachable, and says why it estimates", async () => {
    const backend = openaiBackend({ baseUrls: [await deadBaseUrl()], model: "m" });
    closers.push(() => backend.close());
    assert.equal(await backend.countTokens?.("What is 2+2?"), estimateTokens("What is 2+2?"));
    assert.equal(backend.tokenCountSource(), "estimate");
    assert.match(
      backend.estimatedTokenCounts() ?? "",
      /\/tokenize did not answer \(.*ECONNREFUSED/,
    );
  });
});
