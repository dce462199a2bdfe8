/** Token sampling: greedy, top-k, top-p, seeds, log-probs, fp16 logits; stop strings. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { CompletionText } from "../../../src/backends/onnx/completion-text.js";
import {
  argmax,
  halfToFloat,
  TokenSampler,
  topKIndices,
} from "../../../src/backends/onnx/sampling.js";

const logitsArbitrary = fc
  .array(fc.float({ min: -20, max: 20, noNaN: true }), { minLength: 2, maxLength: 60 })
  .map((values) => Float32Array.from(values));

describe("TokenSampler", () => {
  test("temperature 0 is argmax (first index on ties) with the model's log-prob", () => {
    const sampler = new TokenSampler({ temperature: 0, topP: 1, topK: 0 }, 1);
    const { tokenId, logprob } = sampler.sample(Float32Array.of(1, 3, 3, 0));
    assert.equal(tokenId, 1);
    const expected = 3 - Math.log(Math.exp(1) + 2 * Math.exp(3) + 1);
    assert.ok(Math.abs(logprob - expected) < 1e-9);
  });

  test("the same seed gives the same tokens; rows do not share a stream", () => {
    const logits = Float32Array.from({ length: 50 }, (_, i) => Math.sin(i));
    const draw = (seed: number) => {
      const sampler = new TokenSampler({ temperature: 1, topP: 1, topK: 0 }, seed);
      return Array.from({ length: 30 }, () => sampler.sample(logits).tokenId);
    };
    assert.deepEqual(draw(7), draw(7));
    assert.notDeepEqual(draw(7), draw(8));
  });

  test("top-k only ever picks among the k largest logits", () => {
    fc.assert(
      fc.property(
        logitsArbitrary,
        fc.integer({ min: 1, max: 5 }),
        fc.integer(),
        (logits, k, seed) => {
          const sampler = new TokenSampler({ temperature: 2, topP: 1, topK: k }, seed);
          const allowed = new Set(topKIndices(logits, Math.min(k, logits.length)));
          for (let i = 0; i < 5; i++) assert.ok(allowed.has(sampler.sample(logits).tokenId));
        },
      ),
    );
  });

  test("top-p only picks from the smallest set of top tokens holding p of the mass", () => {
    fc.assert(
      fc.property(
        logitsArbitrary,
        fc.double({ min: 0.05, max: 0.99, noNaN: true }),
        fc.integer(),
        (logits, p, seed) => {
          const probabilities = Array.from(logits, (x) => Math.exp(x));
          const total = probabilities.reduce((a, b) => a + b, 0);
          const order = probabilities
            .map((weight, index) => ({ weight: weight / total, index }))
            .sort((a, b) => b.weight - a.weight || a.index - b.index);
          const nucleus = new Set<number>();
          let mass = 0;
          for (const item of order) {
            nucleus.add(item.index);
            mass += item.weight;
            if (mass >= p - 1e-12) break;
          }
          const sampler = new TokenSampler({ temperature: 1, topP: p, topK: 0 }, seed);
          for (let i = 0; i < 5; i++) {
            const { tokenId } = sampler.sample(logits);
            // Ties at the boundary may swap equal-weight tokens.
            const weight = probabilities[tokenId] / total;
            const last = order[nucleus.size - 1].weight;
            assert.ok(nucleus.has(tokenId) || Math.abs(weight - last) < 1e-9, `token ${tokenId}`);
          }
        },
      ),
    );
  });

  test("sampling frequencies follow the softmax at temperature 1", () => {
    const logits = Float32Array.of(0, Math.log(3));
    const sampler = new TokenSampler({ temperature: 1, topP: 1, topK: 0 }, 42);
    let ones = 0;
    for (let i = 0; i < 4000; i++) ones += sampler.sample(logits).tokenId;
    assert.ok(Math.abs(ones / 4000 - 0.75) < 0.03, `${ones / 4000}`);
  });

  test("float16 logits are read as their values", () => {
    assert.equal(halfToFloat(0x3c00), 1);
    assert.equal(halfToFloat(0xc000), -2);
    assert.equal(halfToFloat(0x7bff), 65504);
    assert.equal(halfToFloat(0x0001), 2 ** -24);
    const sampler = new TokenSampler({ temperature: 0, topP: 1, topK: 0 }, 0);
    assert.equal(sampler.sample(Uint16Array.of(0x3c00, 0x4000, 0xc000)).tokenId, 1);
    assert.equal(argmax(Float32Array.of(-1, -0.5, -3)), 1);
  });

  test("NaN logits are an error, not a silent token", () => {
    const sampler = new TokenSampler({ temperature: 1, topP: 1, topK: 0 }, 0);
    assert.throws(() => sampler.sample(Float32Array.of(0, Number.NaN)), /not finite/);
  });
});

describe("CompletionText", () => {
  // A toy detokenizer: token i is the i-th string.
  const pieces = ["He", "llo", " wo", "rld", "!", "\uD83D", "\uDE00"];
  const decode = (ids: readonly number[]) =>
    ids
      .map((id) => pieces[id])
      .join("")
      .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/g, "\uFFFD");

  test("a stop string spanning tokens stops the row and is cut from the text", () => {
    const text = new CompletionText(decode, ["o w"]);
    assert.equal(text.push(0), false);
    assert.equal(text.push(1), false);
    assert.equal(text.push(2), true);
    assert.equal(text.text, "Hell");
    assert.equal(text.finalText([0, 1, 2]), "Hell");
  });

  test("streaming holds back a possible stop-string prefix and releases it later", () => {
    const text = new CompletionText(decode, ["llo!"]);
    const deltas: string[] = [];
    for (const id of [0, 1, 2, 3]) {
      text.push(id);
      deltas.push(text.takeDelta(false));
    }
    deltas.push(text.takeDelta(true));
    // "llo!" is 4 characters: the last 3 are held back until the next token or the end.
    assert.deepEqual(deltas, ["", "He", "llo", " wo", "rld"]);
    assert.equal(deltas.join(""), "Hello world");
  });

  test("incomplete UTF-8 is not released until complete", () => {
    const text = new CompletionText(decode);
    text.push(0);
    assert.equal(text.takeDelta(false), "He");
    text.push(5);
    assert.equal(text.takeDelta(false), "");
    text.push(6);
    assert.equal(text.takeDelta(false), "\uD83D\uDE00");
  });
});
