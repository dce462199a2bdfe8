import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { answersEqual, extractAnswer, formatRational } from "../../src/answers/index.js";
import {
  evaluateArithmetic,
  findArithmeticExpression,
  readSimulatedPrompt,
  SimulatedOptionsSchema,
  simulatedBackend,
} from "../../src/backends/simulated/index.js";
import {
  AbortError,
  BackendError,
  ConfigError,
  ContextLengthError,
} from "../../src/common/errors.js";
import { estimateTokens } from "../../src/common/estimate-tokens.js";
import type { ChatMessage, GenerateRequest } from "../../src/spec/backend.js";

const PROBLEM = "What is 17*23+5?";

function ask(content: string, overrides: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    messages: [{ role: "user", content }],
    sampling: { temperature: 1 },
    n: 1,
    ...overrides,
  };
}

/** The paper's synthesis prompt, byte for byte (see DESIGN.md). */
function synthesisPrompt(problem: string, messages: readonly string[]): string {
  const references = messages.map((message, i) => `Reference ${i + 1}:\n${message}`).join("\n\n");
  return `You are given a problem and a list of reference responses. Your job is to analyze these references and provide your own response.\n\nOriginal Problem:\n${problem}\n\nReference Responses:\n\n${references}\n\n\nNow, based on the original problem and reference responses above, please provide your own comprehensive solution.`;
}

/** Accuracy over `count` seeded single-sample calls. */
async function accuracyOf(
  backend: ReturnType<typeof simulatedBackend>,
  content: string,
  truth: string,
  count: number,
): Promise<number> {
  let right = 0;
  for (let seed = 0; seed < count; seed++) {
    const { completions } = await backend.generate(ask(content, { seeds: [seed] }));
    if (answersEqual(extractAnswer(completions[0].content) ?? "", truth)) right++;
  }
  return right / count;
}

describe("arithmetic evaluator", () => {
  const cases: [string, string][] = [
    ["17*23+5", "396"],
    ["2+3*4", "14"],
    ["(2+3)*4", "20"],
    ["10-4-3", "3"],
    ["8/4/2", "1"],
    ["2*-3", "-6"],
    ["-3--4", "1"],
    ["-(2+3)*2", "-10"],
    ["--5", "5"],
    ["+5-+2", "3"],
    ["7/2", "7/2"],
    ["1/3+1/6", "1/2"],
    ["((((1))))+2", "3"],
    ["2 × 3 ÷ 4 − 1", "1/2"],
    ["99999999999*99999999999", "9999999999800000000001"],
    ["1.5*4", "6"],
  ];
  for (const [expression, value] of cases) {
    test(`${expression} = ${value}`, () => {
      assert.equal(formatRational(evaluateArithmetic(expression)), value);
    });
  }
  test("syntax errors name the position and what came", () => {
    assert.throws(() => evaluateArithmetic("1 + * 2"), /position 4 of `1 \+ \* 2`, got `\*`/);
    assert.throws(() => evaluateArithmetic("(1+2"), /Expected `\)`.*got the end/);
    assert.throws(() => evaluateArithmetic("2 3"), /Expected an operator.*got `3`/);
    assert.throws(() => evaluateArithmetic("2^3"), /got `\^`/);
    assert.throws(
      () => evaluateArithmetic("1/(2-2)"),
      (error: unknown) => {
        return (
          error instanceof ConfigError && /division by zero in `1\/\(2-2\)`/.test(error.message)
        );
      },
    );
  });
  test("finds the first expression in a text", () => {
    assert.equal(findArithmeticExpression("What is 17*23+5?")?.expression, "17*23+5");
    assert.equal(findArithmeticExpression("Problem 3. Compute (3+4)*5.")?.expression, "(3+4)*5");
    assert.equal(findArithmeticExpression("Pages 12 and 14, chapter -3"), null);
    assert.equal(findArithmeticExpression("no numbers"), null);
  });
});

describe("readSimulatedPrompt", () => {
  test("the paper's synthesis prompt", () => {
    const prompt = readSimulatedPrompt(
      synthesisPrompt("What is 2+2?", ["The answer is 4.", "It is 5."]),
    );
    assert.equal(prompt.problem.trim(), "What is 2+2?");
    assert.deepEqual(
      prompt.references?.map((reference) => reference.trim()),
      ["The answer is 4.", "It is 5."],
    );
  });
  test("general Reference N: markers and <reference> tags", () => {
    const marked = readSimulatedPrompt("Solve 1+1.\n**Reference 1:** 2\n### Reference 2:\n3");
    assert.deepEqual(
      marked.references?.map((reference) => reference.trim()),
      ["2", "3"],
    );
    assert.equal(marked.problem.trim(), "Solve 1+1.");
    const tagged = readSimulatedPrompt(
      'Solve 3*3.\n<reference id="1">\\boxed{9}</reference><reference>8</reference>',
    );
    assert.deepEqual(tagged.references, ["\\boxed{9}", "8"]);
  });
  test("a plain problem has no references", () => {
    assert.deepEqual(readSimulatedPrompt(PROBLEM), { problem: PROBLEM });
  });
});

describe("simulatedBackend", () => {
  test("output looks like a reasoning model's, with estimated usage", async () => {
    const backend = simulatedBackend();
    const request = ask(PROBLEM, { n: 3, seeds: [1, 2, 3] });
    const { completions } = await backend.generate(request);
    assert.equal(completions.length, 3);
    completions.forEach((completion, i) => {
      assert.match(
        completion.content,
        /^\[simulated\] .*The answer is \\boxed\{-?[\d\\{}a-z]+\}\.$/,
      );
      assert.match(completion.reasoning ?? "", /\(simulated\)/);
      assert.equal(completion.finishReason, "stop");
      assert.equal(completion.tokenIds, undefined);
      const promptTokens = estimateTokens(request.messages);
      assert.deepEqual(completion.usage, {
        promptTokens,
        completionTokens:
          estimateTokens(completion.reasoning ?? "") + estimateTokens(completion.content),
        cachedTokens: i === 0 ? 0 : promptTokens,
      });
    });
    assert.equal(backend.provider, "simulated");
    assert.equal(backend.model, "simulated-reasoner");
    assert.equal(backend.maxSamplesPerCall, 16);
    assert.equal(await backend.contextWindow?.(), 32768);
    assert.equal(await backend.countTokens?.(request.messages), estimateTokens(request.messages));
  });

  test("accuracy is close to the configured one over 2,000 seeded samples", async () => {
    for (const accuracy of [0.55, 0.2]) {
      const measured = await accuracyOf(simulatedBackend({ accuracy }), PROBLEM, "396", 2000);
      // 4 standard deviations of a binomial proportion at n = 2000 is about 0.045.
      assert.ok(
        Math.abs(measured - accuracy) < 0.045,
        `accuracy ${accuracy}, measured ${measured}`,
      );
    }
  });

  test("wrong answers are plausible and often coincide, so voting can be fooled", async () => {
    const backend = simulatedBackend({ accuracy: 0.15 });
    const counts = new Map<string, number>();
    for (let seed = 0; seed < 1000; seed++) {
      const { completions } = await backend.generate(ask(PROBLEM, { seeds: [seed] }));
      const answer = extractAnswer(completions[0].content) ?? "none";
      counts.set(answer, (counts.get(answer) ?? 0) + 1);
    }
    const wrong = [...counts].filter(([answer]) => answer !== "396");
    for (const [answer] of wrong) assert.ok(Math.abs(Number(answer) - 396) <= 400, answer);
    const topWrong = Math.max(...wrong.map(([, count]) => count));
    assert.ok(topWrong > (counts.get("396") ?? 0), "the most common mistake outvotes the truth");
  });

  test("non-integer answers are exact fractions", async () => {
    const backend = simulatedBackend({ accuracy: 1 });
    const { completions } = await backend.generate(ask("Compute 7/2 - 1."));
    assert.equal(extractAnswer(completions[0].content), "\\frac{5}{2}");
  });

  test("a problem it cannot parse gets a generic reply and the answer unknown", async () => {
    const { completions } = await simulatedBackend().generate(ask("Prove Fermat's last theorem."));
    assert.equal(extractAnswer(completions[0].content), "unknown");
    assert.match(completions[0].content, /^\[simulated\]/);
  });

  test("deterministic by seed, alone or together with other samples", async () => {
    const backend = simulatedBackend({ accuracy: 0.5 });
    const together = await backend.generate(ask(PROBLEM, { n: 4, seeds: [7, 8, 9, 10] }));
    const alone = await simulatedBackend({ accuracy: 0.5 }).generate(ask(PROBLEM, { seeds: [9] }));
    assert.equal(alone.completions[0].content, together.completions[2].content);
    assert.equal(alone.completions[0].reasoning, together.completions[2].reasoning);
    const again = await backend.generate(ask(PROBLEM, { n: 4, seeds: [7, 8, 9, 10] }));
    assert.deepEqual(again, together);
    const distinct = new Set(together.completions.map((completion) => completion.reasoning));
    assert.ok(distinct.size > 1, "different seeds give different trajectories");
    const unseeded = await backend.generate(ask(PROBLEM, { n: 2 }));
    assert.deepEqual(await backend.generate(ask(PROBLEM, { n: 2 })), unseeded);
  });

  test("temperature 0 gives the same sample whatever the seed", async () => {
    const backend = simulatedBackend();
    const { completions } = await backend.generate({
      ...ask(PROBLEM, { n: 3, seeds: [1, 2, 3] }),
      sampling: { temperature: 0 },
    });
    assert.equal(new Set(completions.map((completion) => completion.reasoning)).size, 1);
  });

  test("reasoning length follows reasoningTokens", async () => {
    const backend = simulatedBackend({ reasoningTokens: 400 });
    const { completions } = await backend.generate(
      ask(PROBLEM, { n: 16, seeds: Array.from({ length: 16 }, (_, i) => i) }),
    );
    const mean =
      completions.reduce((sum, completion) => sum + estimateTokens(completion.reasoning ?? ""), 0) /
      completions.length;
    assert.ok(mean > 320 && mean < 480, `mean reasoning tokens ${mean}`);
  });

  test("maxTokens cuts a trajectory off while thinking", async () => {
    const { completions } = await simulatedBackend({ reasoningTokens: 500 }).generate(
      ask(PROBLEM, { sampling: { maxTokens: 50 }, seeds: [1] }),
    );
    const [completion] = completions;
    assert.equal(completion.finishReason, "length");
    assert.equal(completion.reasoning, undefined);
    assert.ok(completion.content.startsWith("<think>"));
    assert.ok(!completion.content.includes("\\boxed"));
    assert.ok(completion.usage.completionTokens <= 50);
    assert.equal(completion.usage.completionTokens, estimateTokens(completion.content));
  });

  test("a prompt longer than the context window is a ContextLengthError", async () => {
    const backend = simulatedBackend({ contextWindow: 20 });
    await assert.rejects(
      backend.generate(ask(`${PROBLEM} ${"padding ".repeat(50)}`)),
      (error: unknown) =>
        error instanceof ContextLengthError && /context window of 20/.test(error.message),
    );
  });

  test("synthesis with mostly-correct references beats a fresh trajectory", async () => {
    const backend = simulatedBackend({ accuracy: 0.3 });
    const reference = (answer: string) => `[simulated] Working. The answer is \\boxed{${answer}}.`;
    const mostlyRight = synthesisPrompt(PROBLEM, ["396", "391", "396", "396"].map(reference));
    const oneRight = synthesisPrompt(PROBLEM, ["391", "395", "391", "396"].map(reference));
    const noneRight = synthesisPrompt(PROBLEM, ["391", "391", "391", "391"].map(reference));
    const fresh = await accuracyOf(backend, PROBLEM, "396", 500);
    const synthesis = await accuracyOf(backend, mostlyRight, "396", 500);
    const minority = await accuracyOf(backend, oneRight, "396", 500);
    const misled = await accuracyOf(backend, noneRight, "396", 500);
    assert.ok(synthesis > 0.95, `synthesis ${synthesis}`);
    assert.ok(minority > fresh + 0.3, `a right minority answer is found: ${minority} vs ${fresh}`);
    assert.ok(misled < fresh, `wrong references mislead: ${misled} vs ${fresh}`);
  });

  test("synthesisSkill 0 does no better than picking a random reference", async () => {
    const backend = simulatedBackend({ accuracy: 0, synthesisSkill: 0 });
    const prompt = synthesisPrompt(PROBLEM, [
      "\\boxed{396}",
      "\\boxed{1}",
      "\\boxed{2}",
      "\\boxed{3}",
    ]);
    const measured = await accuracyOf(backend, prompt, "396", 1000);
    assert.ok(Math.abs(measured - 0.25) < 0.06, `measured ${measured}`);
  });

  test("failure rate is roughly honoured, errors are retryable, retries can succeed", async () => {
    const backend = simulatedBackend({ failureRate: 0.2 });
    let failures = 0;
    for (let i = 0; i < 2000; i++) {
      try {
        await backend.generate(ask(PROBLEM, { seeds: [1] }));
      } catch (error) {
        assert.ok(error instanceof BackendError);
        assert.equal(error.retryable, true);
        assert.equal(error.message, "simulated transient failure");
        failures++;
      }
    }
    assert.ok(Math.abs(failures / 2000 - 0.2) < 0.04, `failure rate ${failures / 2000}`);
  });

  test("latency: a timer only when asked, abort rejects promptly", async () => {
    const slow = simulatedBackend({ latencyMs: 10_000 });
    const controller = new AbortController();
    const started = Date.now();
    const pending = slow.generate(ask(PROBLEM, { signal: controller.signal }));
    setTimeout(() => controller.abort(), 10);
    await assert.rejects(pending, AbortError);
    assert.ok(Date.now() - started < 1000);
    await assert.rejects(slow.generate(ask(PROBLEM, { signal: AbortSignal.abort() })), AbortError);

    const timed = simulatedBackend({ latencyMs: 30, latencyJitter: 0.1 });
    const before = Date.now();
    await timed.generate(ask(PROBLEM));
    assert.ok(Date.now() - before >= 15);
  });

  test("onDelta gets each sample's content once", async () => {
    const deltas: { sample: number; text: string }[] = [];
    const { completions } = await simulatedBackend().generate(
      ask(PROBLEM, { n: 2, onDelta: (delta) => deltas.push(delta) }),
    );
    assert.deepEqual(
      deltas,
      completions.map((completion, sample) => ({ sample, text: completion.content })),
    );
  });

  test("the problem comes from the last user turn; image parts are ignored", async () => {
    const messages: ChatMessage[] = [
      { role: "user", content: "What is 1+1?" },
      { role: "assistant", content: "2" },
      {
        role: "user",
        content: [
          { type: "image", image: "https://example.com/a.png" },
          { type: "text", text: "Now what is 6*7?" },
        ],
      },
    ];
    const { completions } = await simulatedBackend({ accuracy: 1 }).generate({
      messages,
      sampling: {},
      n: 1,
    });
    assert.equal(extractAnswer(completions[0].content), "42");
  });

  test("options are validated by the schema, with defaults", () => {
    const defaults = SimulatedOptionsSchema.parse({});
    assert.equal(defaults.accuracy, 0.55);
    assert.equal(defaults.contextWindow, 32768);
    assert.equal(defaults.model, "simulated-reasoner");
    assert.throws(
      () => simulatedBackend({ accuracy: 1.5 }),
      (error: unknown) =>
        error instanceof ConfigError && /`accuracy`.*got `1.5`/.test(error.message),
    );
    assert.throws(() => simulatedBackend({ acuracy: 0.5 } as never), /acuracy/);
  });

  test("bad requests are ConfigErrors", async () => {
    const backend = simulatedBackend({ maxSamplesPerCall: 4 });
    await assert.rejects(
      backend.generate(ask(PROBLEM, { n: 5 })),
      /from 1 to maxSamplesPerCall \(4\), got `5`/,
    );
    await assert.rejects(backend.generate(ask(PROBLEM, { n: 2, seeds: [1] })), ConfigError);
  });
});
