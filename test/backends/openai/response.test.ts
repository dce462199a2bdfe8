import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  MalformedResponseError,
  parseChatCompletion,
  StreamAccumulator,
  shareTotal,
  toCompletions,
} from "../../../src/backends/openai/response.js";

const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({ object: "chat.completion.chunk", choices, ...extra })}\n\n`;

const STREAM = [
  ": ping\n\n",
  chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]),
  chunk([{ index: 0, delta: { reasoning_content: "Two and " }, finish_reason: null }]),
  chunk([{ index: 1, delta: { content: "<think>hm</think>" }, finish_reason: null }]),
  chunk([{ index: 0, delta: { reasoning_content: "two." }, finish_reason: null }]),
  chunk([{ index: 0, delta: { content: "\n\nIt is 4. " }, finish_reason: null }]),
  chunk([{ index: 1, delta: { content: "Five" }, finish_reason: null }]),
  chunk([{ index: 0, delta: {}, finish_reason: "stop" }]),
  chunk([{ index: 1, delta: {}, finish_reason: "length" }]),
  chunk([], {
    usage: { prompt_tokens: 7, completion_tokens: 30, prompt_tokens_details: { cached_tokens: 5 } },
  }),
  "data: [DONE]\n\n",
].join("");

describe("stream accumulator", () => {
  it("reads the same completion however the stream is cut and whatever the line endings (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: STREAM.length - 1 }), { maxLength: 12 }),
        fc.boolean(),
        (cuts, crlf) => {
          const text = crlf ? STREAM.replaceAll("\n", "\r\n") : STREAM;
          const points = [...new Set(cuts.map((cut) => Math.min(cut, text.length)))].sort(
            (a, b) => a - b,
          );
          const deltas: string[] = [];
          const accumulator = new StreamAccumulator((index, piece) =>
            deltas.push(`${index}:${piece}`),
          );
          let from = 0;
          for (const point of [...points, text.length]) {
            accumulator.push(text.slice(from, point));
            from = point;
          }
          const parsed = accumulator.finish();
          assert.deepEqual(parsed.usage, {
            promptTokens: 7,
            completionTokens: 30,
            cachedTokens: 5,
          });
          assert.equal(parsed.choices[0].reasoning, "Two and two.");
          assert.equal(parsed.choices[0].content, "\n\nIt is 4. ");
          assert.equal(parsed.choices[1].content, "<think>hm</think>Five");
          assert.equal(parsed.choices[1].finishReason, "length");
          assert.deepEqual(deltas, [
            "0:Two and ",
            "1:<think>hm</think>",
            "0:two.",
            "0:\n\nIt is 4. ",
            "1:Five",
          ]);
        },
      ),
    );
  });

  it("treats a stream cut before [DONE] with unfinished choices as malformed", () => {
    const accumulator = new StreamAccumulator();
    accumulator.push(STREAM.slice(0, STREAM.indexOf("Five")));
    assert.throws(() => accumulator.finish(), MalformedResponseError);
  });

  it("accepts a stream without [DONE] once every choice has finished", () => {
    const accumulator = new StreamAccumulator();
    accumulator.push(STREAM.slice(0, STREAM.indexOf("data: [DONE]")));
    assert.equal(accumulator.finish().choices.length, 2);
  });

  it("treats a broken event as malformed, with the event in the excerpt", () => {
    const accumulator = new StreamAccumulator();
    assert.throws(
      () => accumulator.push('data: {"choices": [{"index": 0, "delta": {"content": "br\n\n'),
      (error: unknown) => error instanceof MalformedResponseError && error.excerpt.includes("br"),
    );
  });
});

describe("whole responses", () => {
  it("rejects bodies that are not a chat completion instead of returning an empty answer", () => {
    for (const body of ["", '{"id":"x","choi', '{"choices":[]}', '{"choices":[{"index":0}]}']) {
      assert.throws(() => parseChatCompletion(body), MalformedResponseError, body);
    }
  });

  it("keeps content verbatim and splits at the last </think> only when no reasoning field came", () => {
    const inline = parseChatCompletion(
      JSON.stringify({
        choices: [
          {
            index: 0,
            message: { content: "<think>a</think>b</think>\n  c  " },
            finish_reason: "stop",
          },
        ],
        usage: { prompt_tokens: 3, completion_tokens: 9 },
      }),
    );
    const [completion] = toCompletions(inline, () => 0);
    assert.equal(completion.reasoning, "a</think>b");
    assert.equal(completion.content, "\n  c  ");
    const separated = parseChatCompletion(
      JSON.stringify({
        choices: [
          {
            index: 0,
            message: { content: " x </think> y", reasoning: "r" },
            finish_reason: "abort",
          },
        ],
      }),
    );
    const [second] = toCompletions(separated, () => 11);
    assert.equal(second.reasoning, "r");
    assert.equal(second.content, " x </think> y");
    assert.equal(second.finishReason, "abort");
    assert.equal(second.usage.promptTokens, 11, "no usage from the server: the estimate");
  });

  it("shares an aggregate completion count over choices so that the shares add up", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000 }),
        fc.array(fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined }), {
          minLength: 1,
          maxLength: 16,
        }),
        fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 16, maxLength: 16 }),
        (extra, exact, estimates) => {
          const known = exact.reduce<number>((sum, value) => sum + (value ?? 0), 0);
          const total = known + extra;
          const shares = shareTotal(total, exact, estimates);
          exact.forEach((value, i) => {
            if (value !== undefined) assert.equal(shares[i], value);
          });
          if (exact.some((value) => value === undefined)) {
            assert.equal(
              shares.reduce((sum, value) => sum + value, 0),
              total,
            );
          }
        },
      ),
    );
  });
});
