import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  listedModels,
  parseModelName,
  resolveStrategy,
  UnknownModelError,
} from "../../src/serve/models.js";

const defaults = { strategy: "pacore", template: "default", k: [8] } as const;

describe("serve model names", () => {
  it("reads presets, parameterized strategies and bare names", () => {
    assert.deepEqual(parseModelName("pacore"), {});
    assert.deepEqual(parseModelName("pacore-low"), { strategy: "pacore", k: [4] });
    assert.deepEqual(parseModelName("pacore-medium"), { strategy: "pacore", k: [16] });
    assert.deepEqual(parseModelName("pacore-high"), { strategy: "pacore", k: [32, 4] });
    assert.deepEqual(parseModelName("pacore:16,4"), { strategy: "pacore", k: [16, 4] });
    assert.deepEqual(parseModelName("self-consistency:8"), {
      strategy: "self-consistency",
      k: [8],
    });
    assert.deepEqual(parseModelName("sequential:1,1,1"), { strategy: "sequential", k: [1, 1, 1] });
    assert.deepEqual(parseModelName("rsa:16,4,3"), {
      strategy: "rsa",
      population: 16,
      subset: 4,
      steps: 3,
    });
    assert.deepEqual(parseModelName("single"), { strategy: "single" });
  });

  it("refuses unknown names and bad numbers with a 404-kind error that lists the models", () => {
    for (const name of [
      "gpt-4o",
      "pacore:",
      "pacore:4,x",
      "pacore:0",
      "single:2",
      "rsa:4",
      "self-consistency:2,2",
    ]) {
      assert.throws(() => parseModelName(name), UnknownModelError, name);
    }
    assert.throws(() => parseModelName("gpt-4o"), /pacore-high/);
  });

  it("layers the server defaults, the model name and the request field", () => {
    assert.deepEqual(resolveStrategy(defaults, parseModelName("pacore")), defaults);
    assert.deepEqual(resolveStrategy(defaults, parseModelName("pacore-high")), {
      ...defaults,
      k: [32, 4],
    });
    // Another strategy drops the default's numbers but keeps template and verifier.
    assert.deepEqual(
      resolveStrategy({ ...defaults, verifier: "v.mjs" }, parseModelName("single")),
      { strategy: "single", template: "default", verifier: "v.mjs" },
    );
    assert.deepEqual(
      resolveStrategy(defaults, parseModelName("pacore:4"), { k: [2, 2], template: "paper" }),
      { strategy: "pacore", template: "paper", k: [2, 2] },
    );
  });

  it("lists best-of-n only where the server has a verifier", () => {
    assert.ok(!listedModels(defaults).includes("best-of-n"));
    assert.ok(listedModels({ ...defaults, verifier: "v.mjs" }).includes("best-of-n"));
  });
});
