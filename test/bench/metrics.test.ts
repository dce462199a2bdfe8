import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  distribution,
  passAtK,
  quantile,
  reportedKs,
  standardError,
} from "../../src/bench/metrics.js";

const close = (actual: number | null, expected: number, message?: string) =>
  assert.ok(
    actual !== null && Math.abs(actual - expected) < 1e-12,
    `${message ?? ""} expected ${expected}, got ${actual}`,
  );

describe("benchmark metrics", () => {
  it("pass@k is 1 − C(n−c,k)/C(n,k) (Chen et al. 2021), on hand-computed values", () => {
    close(passAtK(4, 1, 2), 1 - 3 / 6); // C(3,2)/C(4,2)
    close(passAtK(5, 2, 2), 1 - 3 / 10); // C(3,2)/C(5,2)
    close(passAtK(10, 3, 4), 1 - 35 / 210); // C(7,4)/C(10,4)
    close(passAtK(16, 1, 8), 0.5);
    assert.equal(passAtK(10, 0, 5), 0);
    assert.equal(passAtK(4, 3, 2), 1, "fewer wrong runs than k: always passes");
    for (let c = 0; c <= 8; c++) close(passAtK(8, c, 1), c / 8, `pass@1 with c=${c}`);
    assert.throws(() => passAtK(4, 1, 5), /1 ≤ k ≤ n/);
    assert.throws(() => passAtK(4, 5, 1), /0 ≤ correct ≤ n/);
    assert.throws(() => passAtK(4, 1.5, 1), /integers/);
  });

  it("the standard error is the sample standard deviation over √n", () => {
    close(standardError([0, 1, 1, 1]), 0.25); // sd √(0.75/3) = 0.5, over √4
    close(standardError([0.5, 0, 1]), 0.5 / Math.sqrt(3));
    close(standardError([2, 2, 2]), 0);
    assert.equal(standardError([1]), null);
    assert.equal(standardError([]), null);
  });

  it("quartiles interpolate linearly between order statistics (numpy's default)", () => {
    assert.deepEqual(distribution([4, 1, 3, 2]), {
      mean: 2.5,
      q1: 1.75,
      median: 2.5,
      q3: 3.25,
      min: 1,
      max: 4,
    });
    assert.deepEqual(distribution([7, 1, 3]), {
      mean: 11 / 3,
      q1: 2,
      median: 3,
      q3: 5,
      min: 1,
      max: 7,
    });
    assert.equal(quantile([10], 0.75), 10);
    assert.deepEqual(distribution([]), {
      mean: null,
      q1: null,
      median: null,
      q3: null,
      min: null,
      max: null,
    });
  });

  it("reports k at the powers of two up to the repeats, and the repeats", () => {
    assert.deepEqual(reportedKs(1), [1]);
    assert.deepEqual(reportedKs(6), [1, 2, 4, 6]);
    assert.deepEqual(reportedKs(8), [1, 2, 4, 8]);
  });
});
