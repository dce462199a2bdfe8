import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import { functionBackend } from "../../src/backends/function/index.js";
import {
  boxIoU,
  boxIoUReward,
  choiceReward,
  codeReward,
  combineRewards,
  completenessPenalty,
  fabricationPenalty,
  genrmReward,
  judgeReward,
  languagePenalty,
  mathReward,
  namedReward,
  networkIsolation,
  numericReward,
  overconfidencePenalty,
  pointReward,
  routeReward,
  toUnit,
  withPenalties,
} from "../../src/rl/index.js";

const score = async (reward: ReturnType<typeof mathReward>, input: Parameters<typeof reward>[0]) =>
  (await reward(input)).score;

describe("math reward (gradeAnswer)", () => {
  const reward = mathReward();
  test("equivalent fractions and \\boxed{} variants score 1", async () => {
    assert.equal(
      await score(reward, { response: "so $\\boxed{\\frac{2}{4}}$", groundTruth: "1/2" }),
      1,
    );
    assert.equal(
      await score(reward, {
        response: "<think>hmm 3?</think> \\boxed{\\dfrac{6}{12}}",
        groundTruth: "\\frac12",
      }),
      1,
    );
    assert.equal(
      await score(reward, { response: "The answer is \\boxed {0.5}.", groundTruth: "1/2" }),
      1,
    );
    assert.equal(
      await score(reward, { response: "\\fbox{1/2}", groundTruth: "\\boxed{\\tfrac{1}{2}}" }),
      1,
    );
  });
  test("a wrong answer, a boxed answer only inside the reasoning, and an empty response score 0", async () => {
    assert.equal(await score(reward, { response: "\\boxed{2/3}", groundTruth: "1/2" }), 0);
    assert.equal(
      await score(reward, {
        response: "<think>\\boxed{1/2}</think>I give up.",
        groundTruth: "1/2",
      }),
      0,
    );
    assert.equal(await score(reward, { response: "", groundTruth: "1/2" }), 0);
  });
  test("no ground truth is a ConfigError that names the fix", async () => {
    await assert.rejects(reward({ response: "\\boxed{1}" }), /needs a ground truth/);
  });
});

describe("numeric and choice rewards", () => {
  test("numeric tolerance: relative and absolute", async () => {
    assert.equal(
      await score(numericReward({ relative: 0.01 }), {
        response: "about 3.1400",
        groundTruth: "3.1416",
      }),
      1,
    );
    assert.equal(
      await score(numericReward({ relative: 1e-6 }), {
        response: "about 3.14",
        groundTruth: "3.1416",
      }),
      0,
    );
    assert.equal(
      await score(numericReward({ absolute: 0.5 }), {
        response: "The answer is 10.4",
        groundTruth: "10",
      }),
      1,
    );
    assert.equal(
      await score(numericReward(), { response: "The answer is \\frac{1}{4}", groundTruth: "0.25" }),
      1,
    );
  });
  test("multiple choice: letter forms against (B)", async () => {
    const reward = choiceReward();
    assert.equal(
      await score(reward, { response: "Final answer: \\boxed{B}", groundTruth: "(B)" }),
      1,
    );
    assert.equal(await score(reward, { response: "I choose (c).", groundTruth: "B" }), 0);
    await assert.rejects(reward({ response: "B", groundTruth: "42" }), /letter A–J/);
  });
});

describe("code reward (subprocess, limits, network cut)", () => {
  const tests = JSON.stringify({
    tests: [
      { input: "1 2\n", output: "3\n" },
      { input: "10 -4\n", output: "6" },
      { input: "0 0\n", output: "0" },
    ],
  });
  const reward = codeReward({ timeoutMs: 3000, memoryMb: 256 });
  const sandbox = networkIsolation();

  test("a right program passes every test; a partly wrong one gets the fraction", {
    skip: !sandbox.available && "unshare -n is not available here",
  }, async () => {
    const right = "```python\na, b = map(int, input().split())\nprint(a + b)\n```";
    assert.deepEqual((await reward({ response: right, groundTruth: tests })).parts, {
      code: 1,
      timeouts: 0,
      networkCut: 1,
    });
    const wrongOnNegatives =
      "```python\na, b = map(int, input().split())\nprint(abs(a) + abs(b))\n```";
    assert.equal(await score(reward, { response: wrongOnNegatives, groundTruth: tests }), 2 / 3);
    assert.equal(await score(reward, { response: "no code here", groundTruth: tests }), 0);
  });

  test("a program that never ends is killed at the time limit", {
    skip: !sandbox.available && "unshare -n is not available here",
  }, async () => {
    const started = performance.now();
    const result = await codeReward({ timeoutMs: 500 })({
      response: "```python\nwhile True:\n    pass\n```",
      groundTruth: JSON.stringify([{ input: "", output: "x" }]),
    });
    assert.equal(result.score, 0);
    assert.equal(result.parts.timeouts, 1);
    assert.ok(performance.now() - started < 4000, "killed near its 500 ms limit");
  });

  test("a program that allocates past the memory limit fails its test", {
    skip: !sandbox.available && "unshare -n is not available here",
  }, async () => {
    const result = await codeReward({ memoryMb: 64 })({
      response: "```python\nx = bytearray(512 * 1024 * 1024)\nprint('ok')\n```",
      groundTruth: JSON.stringify([{ input: "", output: "ok" }]),
    });
    assert.equal(result.score, 0);
  });

  test("a program that tries the network cannot reach a server listening on this machine", {
    skip: !sandbox.available && "unshare -n is not available here",
  }, async () => {
    const server = createServer((socket) => socket.end("hello\n"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    const program = `\`\`\`python
import socket
try:
    s = socket.create_connection(("127.0.0.1", ${port}), timeout=2)
    print(s.recv(100).decode().strip())
except OSError:
    print("offline")
\`\`\``;
    const expectOnline = JSON.stringify([{ input: "", output: "hello" }]);
    const expectOffline = JSON.stringify([{ input: "", output: "offline" }]);
    try {
      assert.equal(await score(reward, { response: program, groundTruth: expectOffline }), 1);
      assert.equal(await score(reward, { response: program, groundTruth: expectOnline }), 0);
      // The same program with the network allowed does reach the server: the cut is what stops it.
      const open = codeReward({ network: "allow" });
      assert.equal(await score(open, { response: program, groundTruth: expectOnline }), 1);
    } finally {
      server.close();
    }
  });

  test("bad test cases are a ConfigError naming the expected shape", async () => {
    await assert.rejects(
      reward({ response: "```python\nprint(1)\n```", groundTruth: "[1, 2]" }),
      /test cases as JSON/,
    );
  });
});

describe("perception rewards", () => {
  test("IoU: identical 1, disjoint 0, nested = area ratio, corner order free", () => {
    assert.equal(boxIoU([0, 0, 10, 10], [0, 0, 10, 10]), 1);
    assert.equal(boxIoU([0, 0, 10, 10], [20, 20, 30, 30]), 0);
    assert.equal(boxIoU([0, 0, 10, 10], [10, 0, 20, 10]), 0); // touching edges
    assert.equal(boxIoU([0, 0, 10, 10], [2, 2, 7, 7]), 25 / 100);
    assert.equal(boxIoU([10, 10, 0, 0], [2, 7, 7, 2]), 25 / 100);
  });
  test("the three coordinate conventions agree on the same box", async () => {
    const reward = boxIoUReward();
    const truth = JSON.stringify({
      box: [100, 50, 300, 150],
      image: [400, 200],
      convention: "pixels",
    });
    for (const response of [
      "The object is at [100, 50, 300, 150].", // pixels
      "<box>(0.25, 0.25, 0.75, 0.75)</box>", // 0–1
      "[250, 250, 750, 750]", // 0–1000: beyond the 400×200 image, so read as thousandths
    ]) {
      assert.ok(
        Math.abs((await score(reward, { response, groundTruth: truth })) - 1) < 1e-9,
        response,
      );
    }
    assert.equal(await score(reward, { response: "[0, 0, 0.1, 0.1]", groundTruth: truth }), 0);
    assert.deepEqual(toUnit([500, 500], "thousand"), [0.5, 0.5]);
    assert.throws(() => toUnit([5, 5], "pixels"), /image size/);
  });
  test("points: 1 at the target, smooth decay, near 0 far away", async () => {
    const reward = pointReward({ scale: 0.05 });
    const truth = JSON.stringify({ point: [0.5, 0.5] });
    const at = await score(reward, { response: "(0.5, 0.5)", groundTruth: truth });
    const near = await score(reward, { response: "(0.52, 0.5)", groundTruth: truth });
    const nearer = await score(reward, { response: "(0.51, 0.5)", groundTruth: truth });
    const far = await score(reward, { response: "(0.95, 0.05)", groundTruth: truth });
    assert.equal(at, 1);
    assert.ok(nearer > near && near > 0.5 && near < 1, `${nearer} > ${near}`);
    assert.ok(far < 1e-6, `far ${far}`);
    const pixels = JSON.stringify({ point: [200, 100], image: [400, 200] });
    assert.equal(await score(reward, { response: "click at [500, 500]", groundTruth: pixels }), 1);
  });
});

/** A judge backend that answers from a script of the prompt it gets. */
function judgeBackend(answer: (prompt: string) => string) {
  return functionBackend(({ messages }) => answer(String(messages.at(-1)?.content)), {
    model: "judge",
  });
}

describe("model-based verification (judge)", () => {
  const verdict = (equivalent: string, reasoning: string) =>
    `EQUIVALENT: ${equivalent}\nREASONING_SUPPORTS_ANSWER: ${reasoning}`;
  test("right answer with supported reasoning scores 1; right answer by wrong reasoning scores 0", async () => {
    const reward = judgeReward({
      backend: judgeBackend((prompt) =>
        prompt.includes("2+2=5")
          ? verdict("yes", "no")
          : prompt.includes("4")
            ? verdict("yes", "yes")
            : verdict("no", "yes"),
      ),
    });
    const good = await reward({
      problem: "What is 2*2?",
      groundTruth: "4",
      response: "2*2 = 4. Answer: 4",
    });
    assert.deepEqual(good.parts, { judge: 1, equivalent: 1, reasoning: 1 });
    const lucky = await reward({
      problem: "What is 2*2?",
      groundTruth: "4",
      response: "2+2=5, minus 1 is 4",
    });
    assert.equal(lucky.score, 0);
    assert.deepEqual(lucky.parts, { judge: 0, equivalent: 1, reasoning: 0 });
  });
  test("the template is Jinja and receives problem, reference and response", async () => {
    let seen = "";
    const reward = judgeReward({
      backend: judgeBackend((prompt) => {
        seen = prompt;
        return verdict("yes", "yes");
      }),
      template: "P={{ problem }} R={{ reference }} A={{ response }}",
    });
    await reward({ problem: "q", groundTruth: "r", response: "a" });
    assert.equal(seen, "P=q R=r A=a");
    assert.throws(
      () => judgeReward({ backend: judgeBackend(() => ""), template: "{{ unclosed" }),
      /does not parse/,
    );
  });
  test("a judge that errors: throws by default, scores 0 with judgeError when asked", async () => {
    const broken = functionBackend(() => {
      throw new Error("judge exploded");
    });
    const options = { backend: broken, options: { retries: 0 } };
    await assert.rejects(
      judgeReward(options)({ groundTruth: "4", response: "4" }),
      /judge exploded/,
    );
    const zero = await judgeReward({ ...options, onError: "zero" })({
      groundTruth: "4",
      response: "4",
    });
    assert.equal(zero.score, 0);
    assert.equal(zero.parts.judgeError, 1);
  });
  test("an unreadable verdict scores 0 and says why", async () => {
    const result = await judgeReward({ backend: judgeBackend(() => "Looks fine to me!") })({
      groundTruth: "4",
      response: "4",
    });
    assert.equal(result.score, 0);
    assert.match(result.reason ?? "", /did not say/);
  });
});

describe("GenRM (pairwise against a teacher, both orders)", () => {
  test("a judge biased to position A gives 0.5 whatever it reads", async () => {
    const reward = genrmReward({ backend: judgeBackend(() => "PREFERRED: A") });
    const result = await reward({ problem: "p", response: "mine", teacherResponse: "teacher's" });
    assert.deepEqual(result.parts, { genrm: 0.5, forward: 1, backward: 0 });
  });
  test("a consistent judge: 1 when the response wins in both orders, 0 when it loses", async () => {
    const prefers = (winner: string) =>
      judgeBackend((prompt) => {
        const a = prompt.split("Response A:\n")[1].split("\n\nResponse B:")[0];
        return a === winner ? "PREFERRED: A" : "PREFERRED: B";
      });
    assert.equal(
      await score(genrmReward({ backend: prefers("mine") }), {
        response: "mine",
        teacherResponse: "t",
      }),
      1,
    );
    assert.equal(
      await score(genrmReward({ backend: prefers("t") }), {
        response: "mine",
        teacherResponse: "t",
      }),
      0,
    );
    assert.equal(
      await score(genrmReward({ backend: judgeBackend(() => "PREFERRED: TIE") }), {
        response: "m",
        groundTruth: "t",
      }),
      0.5,
    );
  });
});

describe("behavioural penalties", () => {
  test("language: a mixed-language answer, a mixed-script word and garbled text fire; clean text passes", async () => {
    const penalty = languagePenalty();
    const english = "What is the capital of France?";
    assert.equal(
      await score(penalty, { problem: english, response: "The capital of France is Paris." }),
      1,
    );
    const mixed = await penalty({
      problem: english,
      response: "The capital is Paris, 因为巴黎是法国最大的城市和政治中心。",
    });
    assert.equal(mixed.score, 0);
    assert.match(mixed.reason ?? "", /code-switching/);
    assert.equal(await score(penalty, { problem: english, response: "Pay at pаypal today." }), 0); // Cyrillic а
    assert.equal(
      await score(penalty, { problem: english, response: "Paris \uFFFD\uFFFD is the answer" }),
      0,
    );
    assert.equal(
      await score(penalty, {
        problem: english,
        response: "Paris the the the the the the the the the",
      }),
      0,
    );
    // Math, code and a Chinese problem answered in Chinese pass.
    assert.equal(
      await score(penalty, {
        problem: english,
        response: "Let $\\alpha = 2$; then `x = α` so Paris.",
      }),
      1,
    );
    assert.equal(
      await score(penalty, { problem: "法国的首都是哪里？", response: "法国的首都是巴黎。" }),
      1,
    );
  });
  test("fabrication: a link not in the problem or the allow-list zeroes the reward", async () => {
    const penalty = fabricationPenalty({
      allow: ["wikipedia.org", "https://arxiv.org/abs/2601.05593"],
    });
    const problem = "Read https://example.com/spec.pdf and answer.";
    assert.equal(
      await score(penalty, { problem, response: "Per https://example.com/spec.pdf, it is 4." }),
      1,
    );
    assert.equal(
      await score(penalty, { problem, response: "See https://en.wikipedia.org/wiki/Paris." }),
      1,
    );
    assert.equal(
      await score(penalty, { problem, response: "As shown in https://arxiv.org/abs/2601.05593." }),
      1,
    );
    const fake = await penalty({
      problem,
      response: "According to https://www.nature.com/articles/fake-2024 it is 4.",
    });
    assert.equal(fake.score, 0);
    assert.match(fake.reason ?? "", /nature\.com/);
    assert.equal(await score(penalty, { problem, response: "Proven in arXiv:2401.99999." }), 0);
    assert.equal(
      await score(penalty, { problem, response: "See doi:10.1000/xyz123 for details." }),
      0,
    );
    const reward = withPenalties(mathReward(), [penalty]);
    const zeroed = await reward({
      problem,
      groundTruth: "4",
      response: "By www.madeup.org the answer is \\boxed{4}",
    });
    assert.equal(zeroed.score, 0);
    assert.equal(zeroed.parts.base, 1);
  });
  test("overconfidence: only on questions marked ambiguous, only without a hedge", async () => {
    const penalty = overconfidencePenalty();
    const metadata = { ambiguous: true };
    assert.equal(await score(penalty, { response: "It is 4.", metadata }), 0);
    assert.equal(
      await score(penalty, {
        response: "The question is ambiguous; reading it as a sum, 4.",
        metadata,
      }),
      1,
    );
    assert.equal(await score(penalty, { response: "Assuming base 10, it is 4.", metadata }), 1);
    assert.equal(await score(penalty, { response: "It is 4." }), 1);
  });
  test("completeness: empty, cut off by length, or an unclosed <think> score 0", async () => {
    const penalty = completenessPenalty();
    assert.equal(await score(penalty, { response: "<think>done</think>4" }), 1);
    assert.equal(await score(penalty, { response: "<think>done</think>   " }), 0);
    assert.equal(await score(penalty, { response: "4", finishReason: "length" }), 0);
    assert.equal(await score(penalty, { response: "<think>still going" }), 0);
  });
});

describe("composition", () => {
  test("weighted combination, routing, and names", async () => {
    const combined = combineRewards([
      [mathReward(), 3],
      [completenessPenalty(), 1],
    ]);
    assert.equal(await score(combined, { response: "\\boxed{5}", groundTruth: "4" }), 0.25);
    const routed = routeReward({ math: mathReward(), choice: choiceReward() }, (input) =>
      /^[A-J]$/.test(input.groundTruth ?? "") ? "choice" : "math",
    );
    assert.equal(await score(routed, { response: "I pick (C)", groundTruth: "C" }), 1);
    assert.equal(await score(routed, { response: "\\boxed{3}", groundTruth: "3" }), 1);
    const named = namedReward("math", ["completeness", "fabrication"]);
    const result = await named({ response: "<think>x</think>\\boxed{3}", groundTruth: "3" });
    assert.deepEqual(result.parts, {
      math: 1,
      base: 1,
      complete: 1,
      fabrication: 1,
      fabricated: 0,
    });
    assert.throws(() => namedReward("judge"), /needs a judge model/);
  });
});
