/**
 * Provider selection through an injected session factory (CUDA cannot run here), and device
 * parsing. The real `auto` fallback on this machine is in generation.test.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { InferenceSession } from "onnxruntime-node";
import { openSession, sessionOptionsFor } from "../../../src/backends/onnx/devices.js";
import { OnnxBackendOptionsSchema, parseDevice } from "../../../src/backends/onnx/options.js";
import { ConfigError } from "../../../src/common/errors.js";

type Call = InferenceSession.SessionOptions;

/** A factory whose providers in `broken` fail the way onnxruntime-node does without CUDA. */
function fakeFactory(broken: readonly string[]) {
  const calls: Call[] = [];
  const factory = async (path: string, options: Call) => {
    calls.push(options);
    const provider = options.executionProviders?.[0];
    const name = typeof provider === "string" ? provider : provider?.name;
    if (name !== undefined && broken.includes(name)) {
      throw new Error(
        `OrtSessionOptionsAppendExecutionProvider_${name}: Failed to load shared library`,
      );
    }
    return { path, name };
  };
  return { factory, calls };
}

describe("openSession", () => {
  test("auto takes CUDA device 0 when it loads, without a warning", async () => {
    const { factory, calls } = fakeFactory([]);
    const warnings: string[] = [];
    const opened = await openSession(factory, "m.onnx", { kind: "auto" }, {}, (w) =>
      warnings.push(w),
    );
    assert.equal(opened.provider, "cuda");
    assert.equal(opened.deviceId, 0);
    assert.deepEqual(calls[0].executionProviders, [{ name: "cuda", deviceId: 0 }]);
    assert.deepEqual(warnings, []);
  });

  test("auto falls back to the CPU with one warning naming the fix", async () => {
    const { factory, calls } = fakeFactory(["cuda"]);
    const warnings: string[] = [];
    const opened = await openSession(
      factory,
      "m.onnx",
      { kind: "auto" },
      { intraOp: 2, interOp: 1 },
      (w) => warnings.push(w),
    );
    assert.equal(opened.provider, "cpu");
    assert.deepEqual(
      calls.map((call) => call.executionProviders),
      [[{ name: "cuda", deviceId: 0 }], ["cpu"]],
    );
    assert.equal(calls[1].intraOpNumThreads, 2);
    assert.equal(calls[1].interOpNumThreads, 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /--onnxruntime-node-install=cuda12/);
    assert.match(warnings[0], /cuDNN 9/);
  });

  test("cuda:N fails with the install instructions instead of falling back", async () => {
    const { factory, calls } = fakeFactory(["cuda"]);
    await assert.rejects(
      openSession(factory, "m.onnx", { kind: "cuda", deviceId: 1 }, {}, () =>
        assert.fail("no warning"),
      ),
      (error: unknown) =>
        error instanceof ConfigError &&
        /cuda:1/.test(error.message) &&
        /--onnxruntime-node-install=cuda12/.test(error.message) &&
        /CUDA 12 and cuDNN 9/.test(error.message),
    );
    assert.equal(calls.length, 1, "no CPU session behind the user's back");
    assert.deepEqual(calls[0].executionProviders, [{ name: "cuda", deviceId: 1 }]);
  });

  test("one session per listed CUDA device", async () => {
    const { factory, calls } = fakeFactory([]);
    for (const target of parseDevice("cuda:0,1")) {
      await openSession(factory, "m.onnx", target, {}, () => undefined);
    }
    assert.deepEqual(
      calls.map((call) => call.executionProviders),
      [[{ name: "cuda", deviceId: 0 }], [{ name: "cuda", deviceId: 1 }]],
    );
  });

  test("webgpu keeps outputs on the device; a missing adapter says what is needed", async () => {
    const options = sessionOptionsFor("webgpu", undefined, {});
    assert.deepEqual(options.executionProviders, ["webgpu"]);
    assert.equal(options.preferredOutputLocation, "gpu-buffer");
    const { factory } = fakeFactory(["webgpu"]);
    await assert.rejects(
      openSession(factory, "m.onnx", { kind: "webgpu" }, {}, () => undefined),
      /Vulkan/,
    );
    const ok = fakeFactory([]);
    const opened = await openSession(ok.factory, "m.onnx", { kind: "webgpu" }, {}, () => undefined);
    assert.equal(opened.outputsOnDevice, true);
  });
});

describe("device option", () => {
  test("parses auto, cpu, cuda, cuda:N, cuda:0,1 and webgpu", () => {
    assert.deepEqual(parseDevice("auto"), [{ kind: "auto" }]);
    assert.deepEqual(parseDevice("cpu"), [{ kind: "cpu" }]);
    assert.deepEqual(parseDevice("cuda"), [{ kind: "cuda", deviceId: 0 }]);
    assert.deepEqual(parseDevice("cuda:3"), [{ kind: "cuda", deviceId: 3 }]);
    assert.deepEqual(parseDevice("webgpu"), [{ kind: "webgpu" }]);
    assert.throws(() => parseDevice("gpu"), /got `gpu`/);
    assert.throws(() => parseDevice("cuda:0,0"), /distinct/);
  });

  test("the schema fills defaults and refuses unknown keys", () => {
    const parsed = OnnxBackendOptionsSchema.parse({ modelDir: "m" });
    assert.equal(parsed.device, "auto");
    assert.equal(parsed.variant, "auto");
    assert.equal(parsed.maxBatchSize, 8);
    assert.deepEqual(parsed.threads, {});
    assert.equal(
      OnnxBackendOptionsSchema.safeParse({ modelDir: "m", device: "tpu" }).success,
      false,
    );
    assert.equal(
      OnnxBackendOptionsSchema.safeParse({ modelDir: "m", devices: "cpu" }).success,
      false,
    );
  });
});
