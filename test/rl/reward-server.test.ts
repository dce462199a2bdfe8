import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createRewardServer, mathReward, namedReward, responseOf } from "../../src/rl/index.js";

/** What OpenRLHF's remote_rm_fn_ray posts: query = prompt + response as one text, prompts, labels. */
function openrlhfBody(items: readonly { prompt: string; response: string; label: string }[]) {
  return {
    query: items.map((item) => item.prompt + item.response),
    prompts: items.map((item) => item.prompt),
    labels: items.map((item) => item.label),
  };
}

/** The reward server's answer, or its error. */
interface RewardBody {
  readonly rewards: number[];
  readonly scores: number[];
  readonly extra_logs: Record<string, number[]>;
  readonly error: string;
}
const read = async (response: Response): Promise<RewardBody> =>
  (await response.json()) as RewardBody;

const chat = (question: string) =>
  `<|im_start|>user\n${question}<|im_end|>\n<|im_start|>assistant\n`;

describe("reward server (OpenRLHF remote reward protocol)", () => {
  const server = createRewardServer({
    reward: namedReward("math", ["completeness"]),
    maxConcurrency: 2,
  });
  let url = "";
  before(async () => {
    const { port } = await server.listen(0);
    url = `http://127.0.0.1:${port}`;
  });
  after(() => server.close());
  const post = (body: unknown) =>
    fetch(`${url}/get_reward`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });

  test("one request with many items, right and wrong: rewards, scores and extra_logs in order", async () => {
    const items = [
      {
        prompt: chat("What is 1/2 + 1/4?"),
        response: "<think>…</think>\\boxed{\\frac{3}{4}}",
        label: "0.75",
      },
      {
        prompt: chat("What is 6*7?"),
        response: "<think>6*7</think>It is \\boxed{41}.",
        label: "42",
      },
      {
        prompt: chat("What is 6*7?"),
        response: "<think>6*7</think>The answer is 42.",
        label: "42",
      },
      { prompt: chat("What is 2+2?"), response: "<think>2+2 is", label: "4" }, // truncated
      ...Array.from({ length: 40 }, (_, i) => ({
        prompt: chat(`What is ${i}+1?`),
        response: `\\boxed{${i % 2 === 0 ? i + 1 : i}}`,
        label: String(i + 1),
      })),
    ];
    const response = await post(openrlhfBody(items));
    assert.equal(response.status, 200);
    const body = await read(response);
    const expected = [1, 0, 1, 0, ...Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 1 : 0))];
    assert.deepEqual(body.rewards, expected);
    assert.deepEqual(body.scores, expected);
    assert.deepEqual(body.extra_logs.math.slice(0, 4), [1, 0, 1, 0]);
    assert.deepEqual(body.extra_logs.complete.slice(0, 4), [1, 1, 1, 0]);
  });

  test("bad requests are 400 with the field named; other routes 404; GET 405", async () => {
    const mismatched = await post({ query: ["a", "b"], prompts: ["a"], labels: ["1", "2"] });
    assert.equal(mismatched.status, 400);
    assert.match((await read(mismatched)).error, /prompts/);
    assert.equal((await post({ queries: ["x"] })).status, 400);
    assert.equal((await post("not json")).status, 400);
    assert.equal((await fetch(`${url}/nope`)).status, 404);
    assert.equal((await fetch(`${url}/get_reward`)).status, 405);
  });

  test("a query missing its label is a 400 naming the fix (math needs a ground truth)", async () => {
    const response = await post({ query: ["x \\boxed{1}"] });
    assert.equal(response.status, 400);
    assert.match((await read(response)).error, /ground truth/);
  });

  test("the response is the query with its prompt cut off", () => {
    assert.equal(responseOf("PROMPTanswer", "PROMPT"), "answer");
    assert.equal(responseOf("other", "PROMPT"), "other");
  });
});

test("the reward server bounds concurrency across requests", async () => {
  let inFlight = 0;
  let most = 0;
  const base = mathReward();
  const server = createRewardServer({
    maxConcurrency: 3,
    reward: async (input) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 20));
      inFlight--;
      return base(input);
    },
  });
  const { port } = await server.listen(0);
  try {
    const body = JSON.stringify({
      query: Array(10).fill("\\boxed{1}"),
      prompts: Array(10).fill(""),
      labels: Array(10).fill("1"),
    });
    const responses = await Promise.all(
      [1, 2, 3].map(() => fetch(`http://127.0.0.1:${port}/get_reward`, { method: "POST", body })),
    );
    for (const response of responses)
      assert.deepEqual((await read(response)).rewards, Array(10).fill(1));
    assert.equal(most, 3);
  } finally {
    await server.close();
  }
});
