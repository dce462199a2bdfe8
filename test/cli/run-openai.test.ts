import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { paperTemplate } from "../../strategies/synthesis-template.js";
import { runCli } from "../helpers/cli.js";
import {
  type FakeOpenAIServer,
  openaiFlags,
  startFakeOpenAIServer,
} from "../helpers/fake-openai-server.js";

const problem = "What is 2+2?";

describe("pacore run --backend openai", () => {
  let server: FakeOpenAIServer;
  before(async () => {
    server = await startFakeOpenAIServer({
      flavour: "vllm",
      reply: ({ seed, sample }) =>
        `<think>Adding, attempt ${sample}.</think>The answer is ${3 + ((seed ?? sample) % 3)}.`,
    });
  });
  after(() => server.close());

  it("--template paper sends the paper's synthesis prompt byte for byte", async () => {
    const { code, stdout, stderr } = await runCli([
      "run",
      ...openaiFlags(server),
      "--k",
      "8,4",
      "--template",
      "paper",
      "--json",
      problem,
    ]);
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout);
    assert.equal(result.backend, "openai");
    assert.deepEqual(
      result.rounds.map((round: { k: number }) => round.k),
      [8, 4, 1],
    );
    assert.equal(result.calls, 13);

    const userTurns = server.chatRequests().map((request) => {
      const messages = request.body!.messages as { role: string; content: unknown }[];
      assert.equal(messages.length, 1, "one user turn, no system prompt");
      assert.equal(messages[0].role, "user");
      return messages[0].content;
    });
    const round1 = userTurns.filter((content) => content === problem);
    const synthesis = userTurns.filter((content) => content !== problem);
    assert.ok(round1.length >= 1);
    const expected2 = paperTemplate(problem, result.rounds[0].messages);
    const expected3 = paperTemplate(problem, result.rounds[1].messages);
    assert.equal(result.rounds[0].messages.length, 8);
    assert.ok(synthesis.includes(expected2), "round 2 received the paper template");
    assert.ok(synthesis.includes(expected3), "round 3 received the paper template");
    assert.ok(synthesis.every((content) => content === expected2 || content === expected3));
    // Messages went in verbatim: the conclusion after </think>, nothing trimmed.
    assert.match(expected2, /\nReference 8:\nThe answer is \d\.\n\n\nNow, based on/);
  });

  it("sends the API key from the variable --api-key-env names, and never prints it", async () => {
    const before = server.chatRequests().length;
    const { code, stdout, stderr } = await runCli(
      [
        "run",
        ...openaiFlags(server),
        "--strategy",
        "single",
        "--api-key-env",
        "PACORE_TEST_KEY",
        "--json",
        problem,
      ],
      { env: { PACORE_TEST_KEY: "sk-test-secret-123" } },
    );
    assert.equal(code, 0, stderr);
    const request = server.chatRequests()[before];
    assert.equal(request.headers.authorization, "Bearer sk-test-secret-123");
    assert.doesNotMatch(stdout + stderr, /sk-test-secret/);
  });

  it("--api-key-env naming an unset variable exits 2 naming it, before any request", async () => {
    const before = server.requests.length;
    const { code, stderr } = await runCli(
      [
        "run",
        ...openaiFlags(server),
        "--strategy",
        "single",
        "--api-key-env",
        "PACORE_TEST_UNSET_KEY",
        problem,
      ],
      { env: { PACORE_TEST_UNSET_KEY: undefined } },
    );
    assert.equal(code, 2, stderr);
    assert.match(stderr, /--api-key-env PACORE_TEST_UNSET_KEY.*not set/);
    assert.equal(server.requests.length, before);
  });
});
