import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/common/errors.js";
import { DEFAULT_GRID, parseGrid } from "../../src/curve/grid.js";

describe("parseGrid", () => {
  it("reads the default grid into one point per number of samples and one per plan", () => {
    assert.deepEqual(
      parseGrid(DEFAULT_GRID).map((point) => point.label),
      [
        "single",
        "self-consistency:4",
        "self-consistency:16",
        "self-consistency:64",
        "pacore:4",
        "pacore:16",
        "pacore:16,4",
        "sequential:4",
      ],
    );
    const [pacore] = parseGrid("pacore:16,4");
    assert.deepEqual(pacore.k, [16, 4]);
    assert.equal(pacore.family, "pacore");
  });

  it("reads sequential:N as N refinement rounds, the same point as N ones", () => {
    assert.deepEqual(parseGrid("sequential:4")[0].k, [1, 1, 1, 1]);
    assert.deepEqual(parseGrid("sequential:1,1,1,1")[0], parseGrid("sequential:4")[0]);
    assert.deepEqual(parseGrid("sequential:1")[0].k, [1]);
  });

  it("reads rsa as population, subset, steps", () => {
    assert.deepEqual(parseGrid(" rsa:16,4,3 ")[0], {
      label: "rsa:16,4,3",
      family: "rsa",
      strategy: "rsa",
      population: 16,
      subset: 4,
      steps: 3,
    });
  });

  const bad: [string, RegExp][] = [
    ["", /empty grid/],
    ["single;;pacore:4", /entry 2 is empty/],
    ["single;", /entry 2 is empty/],
    ["majority:4", /entry `majority:4`: no strategy `majority`/],
    ["single:2", /entry `single:2`: `single` takes no numbers/],
    ["pacore", /entry `pacore`: `pacore` needs its rounds/],
    ["self-consistency", /needs its numbers of samples/],
    ["pacore:16,x", /entry `pacore:16,x`: expected positive integers/],
    ["pacore:0", /entry `pacore:0`: expected positive integers/],
    ["pacore:4.5", /entry `pacore:4.5`/],
    ["pacore:", /entry `pacore:`/],
    ["sequential:1,2", /entry `sequential:1,2`: `sequential` takes a number of rounds/],
    ["rsa:16,4", /`rsa` takes population, subset and steps/],
    ["self-consistency:4,16;self-consistency:16", /lists `self-consistency:16` twice/],
  ];
  for (const [grid, message] of bad) {
    it(`refuses ${JSON.stringify(grid)} with a ConfigError naming it`, () => {
      assert.throws(
        () => parseGrid(grid),
        (error) => error instanceof ConfigError && message.test(error.message),
      );
    });
  }
});
